"""Building the handoff service for a project: settings, store, profile lookup, KB assist."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.handoff.config import handoff_settings
from bot.handoff.context import kb_suggester
from bot.handoff.customers import CustomerDirectory, load_lookup
from bot.handoff.service import HandoffService
from bot.handoff.store import HandoffStore
from bot.handoff.texts import TEXTS
from bot.kb.service import KnowledgeBase
from bot.project.loader import Project


def merged_section(project: Project, override: Mapping[str, Any] | None) -> dict[str, Any]:
    """endpoints.yml's `handoff:` with `override`'s keys on top."""
    section = project.endpoints.raw.get("handoff")
    return {**(section if isinstance(section, Mapping) else {}), **(override or {})}


def open_handoff(
    root: Path,
    project: Project,
    override: Mapping[str, Any] | None = None,
    kb: KnowledgeBase | None = None,
) -> HandoffService | None:
    """The project's handoff service, or None when `handoff.enabled` is false."""
    settings = handoff_settings(merged_section(project, override))
    if not settings.enabled:
        return None
    db = settings.db if settings.db.is_absolute() else root / settings.db
    db.parent.mkdir(parents=True, exist_ok=True)
    store = HandoffStore(db)
    customers = CustomerDirectory(store, settings.difficult, _lookup(root, settings.profile))
    return HandoffService(
        settings,
        store,
        customers=customers,
        suggest=kb_suggester(kb) if kb is not None else None,
        categorize=kb_categorizer(kb) if kb is not None else None,
        responses=domain_texts(project),
    )


def kb_categorizer(kb: KnowledgeBase) -> Callable[[str], str | None]:
    """The category of the knowledge base's best entry for a question."""

    def categorize(question: str) -> str | None:
        hits = kb.search(question, k=1)
        entry = kb.entry(hits[0].entry_id) if hits else None
        return "/".join(entry.category) if entry is not None and entry.category else None

    return categorize


def domain_texts(project: Project) -> dict[str, str]:
    """The project's own wording for handoff messages (first text variant of each)."""
    out: dict[str, str] = {}
    for name in TEXTS:
        variants = project.domain.responses.get(name) or []
        text = next((v.text for v in variants if v.text and not v.channel), None)
        if text:
            out[name] = text
    return out


def _lookup(root: Path, spec: str | None) -> Any:
    path = str(root.resolve())
    sys.path.insert(0, path)
    try:
        return load_lookup(spec)
    finally:
        if sys.path and sys.path[0] == path:
            sys.path.pop(0)
