"""The `zhike` command line. Every verb takes `--project DIR` (default: the current folder)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path

import typer
from rich.markup import escape

from bot.cli_common import ProjectOpt, _fail, _progress, console, out
from bot.cli_kb import kb_app
from bot.cli_voice import voice_app
from bot.errors import ProjectErrors, ZhikeError

app = typer.Typer(
    help="知客 Zhike — Chinese-first conversational AI (Rasa 3.x compatible).",
    no_args_is_help=True,
    add_completion=False,
)
test_app = typer.Typer(help="Evaluate NLU and test stories.", no_args_is_help=True)
data_app = typer.Typer(help="Convert training data.", no_args_is_help=True)
app.add_typer(test_app, name="test")
app.add_typer(data_app, name="data")
app.add_typer(kb_app, name="kb")
app.add_typer(voice_app, name="voice")


@app.command()
def init(directory: Path = typer.Argument(..., help="Folder for the new project.")) -> None:
    """Create a new Chinese project from the template (训练即可对话)."""
    from bot.scaffold import create_project

    try:
        create_project(directory)
    except ZhikeError as exc:
        _fail(exc)
    out.print(
        f"已创建项目 / created project: {directory}\n下一步 / next: zhike shell --project {directory}",
        markup=False,
    )


@app.command()
def validate(project: Path = ProjectOpt) -> None:
    """Check the project files and report every problem (file, line, reason)."""
    from bot.project.loader import load_project

    try:
        loaded = load_project(project)
    except ProjectErrors as exc:
        _fail(exc)
        return
    for notice in loaded.config.notices:
        console.print(f"[dim]config: {escape(str(notice))}[/dim]", highlight=False)
    for warning in loaded.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(str(warning))}", highlight=False)
    out.print(
        f"项目有效 / project is valid: {len(loaded.domain.intents)} intents, "
        f"{len(loaded.nlu.examples)} examples, {len(loaded.stories)} stories, "
        f"{len(loaded.rules)} rules",
        markup=False,
    )


@app.command()
def train(
    project: Path = ProjectOpt,
    force: bool = typer.Option(False, "--force", help="Retrain even if nothing changed."),
    out_dir: Path | None = typer.Option(None, "--out", help="Where to save the model."),
) -> None:
    """Train the NLU and dialogue policies; save a versioned model in models/."""
    from bot.runtime import train_project

    started = time.perf_counter()
    try:
        with _progress() as progress:
            task = progress.add_task("loading project…", total=None)
            outcome = train_project(
                project.resolve(),
                force,
                lambda s: progress.update(task, description=f"training {s}…"),
                out_dir,
            )
    except ZhikeError as exc:
        _fail(exc)
        return
    for notice in outcome.model.config.notices:
        console.print(f"[dim]config: {escape(str(notice))}[/dim]", highlight=False)
    verb = "模型已是最新 / model is up to date" if outcome.reused else "训练完成 / trained"
    out.print(f"{verb}: {outcome.path} ({time.perf_counter() - started:.1f}s)", markup=False)
    _voice_prompts(project.resolve())


def _voice_prompts(project: Path) -> None:
    """With a phone channel configured, synthesise the static prompts too (a cache hit later
    costs no TTS time); a failure is a warning, the model is trained all the same."""
    from bot.cli_voice import prompts_for, voice_configured

    if not voice_configured(project):
        return
    try:
        made, cache = prompts_for(project)
    except (ZhikeError, OSError, ValueError) as exc:
        console.print(f"[yellow]提示音未生成 / prompts not built: {escape(str(exc))}[/yellow]")
        return
    out.print(f"提示音 / voice prompts: {made} new → {cache}", markup=False)


@app.command()
def shell(
    project: Path = ProjectOpt,
    conversation: str = typer.Option("shell", "--conversation", "-c", help="Conversation id."),
    store: str = typer.Option("memory://", "--store", help="Tracker store URL (default: memory)."),
) -> None:
    """Chat with the bot in the terminal (buttons: type their number)."""
    from bot.shell import run_shell

    try:
        asyncio.run(run_shell(project.resolve(), conversation, store, console, out))
    except ZhikeError as exc:
        _fail(exc)


@app.command()
def run(
    project: Path = ProjectOpt,
    port: int | None = typer.Option(None, "--port", help="Port (default 5005, ZHIKE_PORT)."),
    host: str | None = typer.Option(None, "--host", help="Interface (default 127.0.0.1)."),
    workers: int | None = typer.Option(None, "--workers", "-w", help="Worker processes."),
    auth_token: str | None = typer.Option(
        None, "--auth-token", help="Admin token for the API (as in Rasa)."
    ),
    store: str | None = typer.Option(None, "--store", help="Tracker store URL (sqlite://…)."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Model file to serve."),
) -> None:
    """Start the HTTP server: channels, web chat, Rasa-compatible API, health and metrics."""
    from bot.server.app import serve
    from bot.server.settings import load_settings

    cli = {
        "port": port,
        "host": host,
        "workers": workers,
        "auth_token": auth_token,
        "tracker_store": store,
        "model_file": model.resolve() if model else None,
    }
    given = {k: v for k, v in cli.items() if v is not None}
    try:
        settings = load_settings(project.resolve(), overrides=given)
        serve(settings, {f"ZHIKE_{k.upper()}": str(v) for k, v in given.items()})
    except ZhikeError as exc:
        _fail(exc)


@test_app.command("nlu")
def test_nlu(
    project: Path = ProjectOpt,
    train_file: Path | None = typer.Option(
        None, "--train", help="Rasa YAML or JSONL (default: project data)."
    ),
    test_file: Path = typer.Option(..., "--test", help="Rasa YAML or JSONL test data."),
    report: Path | None = typer.Option(None, "--out", help="Write the JSON report here."),
) -> None:
    """Train on one set, evaluate on another: accuracy, macro-F1, per intent, entities, latency."""
    from bot.testing.nlu_cli import run_nlu_test

    try:
        result = run_nlu_test(project.resolve(), train_file, test_file)
    except ZhikeError as exc:
        _fail(exc)
        return
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(text, encoding="utf-8")
    summary = {k: result[k] for k in ("accuracy", "macro_f1", "train_seconds") if k in result}
    out.print(
        json.dumps(
            {**summary, "parse_latency_ms": result.get("parse_latency_ms")}, ensure_ascii=False
        ),
        markup=False,
        highlight=False,
    )


@test_app.command("stories")
def test_stories(
    file: Path | None = typer.Argument(None, help="Test stories file (default: tests/*.yml)."),
    project: Path = ProjectOpt,
    report: Path | None = typer.Option(None, "--out", help="Write the JSON report here."),
) -> None:
    """Replay test stories (Rasa's format) and print passed/failed per story."""
    from bot.project.loader import load_project
    from bot.runtime import load_or_train, open_knowledge_base
    from bot.testing.story_replay import StoryReplayer, find_test_story_files, load_test_stories

    root = project.resolve()
    try:
        files = find_test_story_files(file.resolve() if file else root)
        if not files:
            raise ZhikeError(
                "没有找到测试故事（tests/*.yml） / no test stories found (tests/*.yml)"
            )
        stories, docs = load_test_stories(files)
        if docs.errors:
            raise ProjectErrors(docs.errors)
        with _progress() as progress:
            progress.add_task("loading model…", total=None)
            model = load_or_train(root)
            kb = open_knowledge_base(root, load_project(root, validate=False))
        try:
            result = StoryReplayer(model, kb).run(stories)
        finally:
            if kb is not None:
                kb.close()
    except ZhikeError as exc:
        _fail(exc)
        return
    for story in result.results:
        mark = "[green]PASSED[/green]" if story.passed else "[red]FAILED[/red]"
        where = f" ({story.location})" if story.location and not story.passed else ""
        out.print(f"{mark} {escape(story.name)}{escape(where)}", highlight=False)
        for f in story.failures:
            out.print(
                f"    line {f.line}: {f.kind} expected {f.expected!r}, predicted {f.predicted!r}",
                highlight=False,
                markup=False,
            )
    if report:
        report.write_text(
            json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    out.print(f"{result.passed} passed, {result.failed} failed")
    if result.failed:
        raise typer.Exit(1)


@data_app.command("convert")
def data_convert(
    source: Path = typer.Argument(..., help="Input file (.jsonl or Rasa .yml)."),
    target: Path = typer.Argument(..., help="Output file (.yml or .jsonl)."),
) -> None:
    """Convert NLU data between JSONL lines and Rasa YAML."""
    from bot.testing.nlu_cli import convert

    try:
        count = convert(source, target)
    except ZhikeError as exc:
        _fail(exc)
        return
    out.print(
        f"已转换 {count} 条例句 / converted {count} examples: {source} -> {target}", markup=False
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("jieba",):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
