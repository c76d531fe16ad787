"""What every `zhike` sub-command shares: consoles, the --project option, error printing."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bot.errors import ProjectErrors

# soft_wrap: never break long lines (file:line paths) when output goes to a pipe or a log
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

ProjectOpt = typer.Option(Path("."), "--project", "-p", help="Project directory.")


def _fail(exc: Exception) -> None:
    if isinstance(exc, ProjectErrors):
        n = len(exc.errors)
        head = getattr(exc, "headline", None) or f"项目有 {n} 处问题 / {n} problem(s) found:"
        console.print(f"[red]{escape(head)}[/red]")
        for err in exc.errors:
            console.print(f"  • {err}", markup=False, highlight=False)
    else:
        console.print(f"[red]错误 / error:[/red] {escape(str(exc))}", highlight=False)
    raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
