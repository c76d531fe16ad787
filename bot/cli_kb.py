"""`zhike kb …`: import, export, search and evaluate the knowledge base from the shell."""

from __future__ import annotations

import json
import os
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli_common import ProjectOpt, _fail, out
from bot.errors import ZhikeError

if TYPE_CHECKING:
    from bot.kb.service import KnowledgeBase

kb_app = typer.Typer(
    help="Knowledge base (FAQ): import, export, search, eval.", no_args_is_help=True
)


def _open(project: Path) -> KnowledgeBase:
    """The project's KB (store seeded from kb/ when empty), as the server would open it."""
    from bot.kb.config import kb_settings
    from bot.kb.service import KnowledgeBase
    from bot.project.loader import load_project

    root = project.resolve()
    loaded = load_project(root, validate=False)
    settings = kb_settings(loaded.endpoints.raw.get("knowledge_base"), os.environ)
    return KnowledgeBase.open(root, settings, loaded.nlu.synonyms)


@kb_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="FAQ file: .yml/.yaml, .csv, .xlsx or .jsonl"),
    project: Path = ProjectOpt,
) -> None:
    """Replace the knowledge base with a file's entries (all or nothing); live at once."""
    from bot.kb.io import load_entries

    try:
        entries = load_entries(file)
        with closing(_open(project)) as kb:
            revision = kb.replace_all(entries)
    except ZhikeError as exc:
        _fail(exc)
        return
    out.print(f"已导入 {len(entries)} 条 / imported {len(entries)} entries (revision {revision})")


@kb_app.command("export")
def export(
    file: Path = typer.Argument(..., help="Target file; the suffix picks the format."),
    project: Path = ProjectOpt,
) -> None:
    """Write every entry to a YAML, CSV, Excel or JSONL file."""
    from bot.kb.io import save_entries

    try:
        with closing(_open(project)) as kb:
            entries = kb.entries()
            save_entries(entries, file)
    except ZhikeError as exc:
        _fail(exc)
        return
    out.print(f"已导出 {len(entries)} 条 / exported {len(entries)} entries to {file}")


@kb_app.command("search")
def search(
    query: str = typer.Argument(..., help="A customer question."),
    project: Path = ProjectOpt,
    k: int = typer.Option(5, "--k", "-k", help="How many entries."),
    channel: str | None = typer.Option(None, help="Only entries available on this channel."),
) -> None:
    """Show the best entries for a question, with calibrated scores and the decision."""
    try:
        with closing(_open(project)) as kb:
            hits = kb.search(query, channel, k)
            decision = kb.decide(query, channel).outcome
            table = Table("score", "id", "matched question", "standard question")
            for hit in hits:
                entry = kb.entry(hit.entry_id)
                table.add_row(
                    f"{hit.score:.3f}",
                    escape(hit.entry_id),
                    escape(hit.question),
                    escape(entry.question if entry else ""),
                )
    except ZhikeError as exc:
        _fail(exc)
        return
    out.print(table)
    out.print(f"decision: {decision}")


@kb_app.command("eval")
def evaluate_cmd(
    queries: Path = typer.Option(..., "--queries", help='JSONL lines {"query", "gold_id"}.'),
    kb_file: Path | None = typer.Option(
        None, "--kb", help="JSONL/YAML/CSV/XLSX FAQ file (default: the project's KB)."
    ),
    project: Path = ProjectOpt,
    report: Path | None = typer.Option(None, "--out", help="Write the JSON report here."),
) -> None:
    """Top-1, top-3, MRR, answered/clarified/fallback rates and latency on labelled queries."""
    from bot.kb.evaluate import evaluate, read_queries
    from bot.kb.index import FAQIndex
    from bot.kb.io import load_entries
    from bot.kb.service import KBSettings

    try:
        labelled = read_queries(queries)
        settings = KBSettings()
        if kb_file is not None:
            index = FAQIndex.build(load_entries(kb_file))
        else:
            with closing(_open(project)) as kb:
                index, settings = kb.index, kb.settings
        result = evaluate(index, labelled, settings.answer_threshold, settings.clarify_threshold)
    except ZhikeError as exc:
        _fail(exc)
        return
    data = result.to_dict()
    for key, value in data.items():
        out.print(f"{key:>22}: {value}")
    if report:
        report.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
