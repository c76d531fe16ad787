"""The knowledge base as the engine and the API see it: store + index + thresholds.

`KnowledgeBase` keeps the SQLite store (the truth, shared by every worker) and an in-memory
index in step: an edit made here is searchable at once; edits made by other workers arrive
through `sync()` (polled every `sync_seconds` by `run_sync`), which replays the store's change
log into the index incrementally — never a full rebuild for a handful of edits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bot.kb.index import FAQIndex
from bot.kb.io import load_entries
from bot.kb.store import KBStore
from bot.kb.types import FAQEntry, Hit

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it reports every index build at DEBUG

DEFAULT_DB = Path(".zhike") / "kb.db"
SOURCE_SUFFIXES = (".yml", ".yaml", ".csv", ".xlsx", ".jsonl")
REBUILD_AFTER = 2_000  # more changes than this in one sync: rebuild instead of patching


@dataclass(frozen=True, slots=True)
class KBSettings:
    """`knowledge_base:` in endpoints.yml (or ZHIKE_KB_* variables)."""

    enabled: bool = True
    db: Path = DEFAULT_DB  # relative to the project
    source: Path = Path("kb")  # seed file or folder, imported when the store is empty
    answer_threshold: float = 0.65  # calibrated score at or above which the KB answers
    clarify_threshold: float = 0.3  # between the two: "您是想问以下哪个问题？"
    suggestions: int = 3  # buttons offered when clarifying
    # a KB answer (score ≥ answer_threshold) replaces a claimed intent whose confidence is
    # lower than its score and below this cap (intents at 0.99 and above always keep it)
    override_intent_below: float = 1.0
    sync_seconds: float = 0.5  # how often other workers' edits are picked up


@dataclass(frozen=True, slots=True)
class Decision:
    """What the KB would do with a query: answer, clarify or pass (nothing good enough)."""

    outcome: str  # answer | clarify | pass
    hits: list[Hit] = field(default_factory=list)

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


class KnowledgeBase:
    def __init__(
        self,
        store: KBStore,
        settings: KBSettings | None = None,
        synonyms: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or KBSettings()
        self.synonyms = dict(synonyms or {})
        self._write = threading.Lock()  # one index writer: API edits and sync take turns
        self.revision = 0
        self.index = FAQIndex.build((), self.synonyms)
        self._entries: dict[str, FAQEntry] = {}
        self._rebuild()

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        project: Path,
        settings: KBSettings | None = None,
        synonyms: Mapping[str, str] | None = None,
    ) -> KnowledgeBase:
        """The project's KB store, (re)seeded from `kb/` when needed, with its index built."""
        settings = settings or KBSettings()
        db = settings.db if settings.db.is_absolute() else project / settings.db
        store = KBStore(db)
        try:
            reseed(store, project / settings.source, db.with_suffix(".seed.json"))
        except BaseException:
            store.close()
            raise
        return cls(store, settings, synonyms)

    def close(self) -> None:
        self.store.close()

    def __len__(self) -> int:
        return len(self.index)

    # ------------------------------------------------------------------ search
    def search(
        self, query: str, channel: str | None = None, k: int = 5, today: date | None = None
    ) -> list[Hit]:
        """Best entries available on `channel` today, best first."""
        today = today or date.today()
        out: list[Hit] = []
        for hit in self.index.search(query, k=max(k * 3, k + 5)):
            entry = self._entries.get(hit.entry_id)
            if entry is not None and entry.available(channel, today):
                out.append(hit)
                if len(out) == k:
                    break
        return out

    def decide(self, query: str, channel: str | None = None) -> Decision:
        s = self.settings
        hits = self.search(query, channel, k=max(s.suggestions, 1))
        if not hits or hits[0].score < s.clarify_threshold:
            return Decision("pass", hits)
        if hits[0].score >= s.answer_threshold:
            return Decision("answer", hits)
        return Decision("clarify", [h for h in hits if h.score >= s.clarify_threshold])

    def entry(self, entry_id: str) -> FAQEntry | None:
        return self._entries.get(entry_id)

    def entries(self) -> list[FAQEntry]:
        return list(self._entries.values())

    # ------------------------------------------------------------------ edits
    def put(self, entry: FAQEntry) -> int:
        """Create or update; searchable as soon as this returns."""
        with self._write:
            revision = self.store.upsert(entry)
            self._patch(entry.id, self.store.get(entry.id) or entry)
            self._advance(revision)
        return revision

    def remove(self, entry_id: str) -> bool:
        with self._write:
            revision = self.store.delete(entry_id)
            if revision is None:
                return False
            self._patch(entry_id, None)
            self._advance(revision)
        return True

    def replace_all(self, entries: Iterable[FAQEntry]) -> int:
        """Import: all or nothing in the store, then a fresh index swapped in."""
        with self._write:
            revision = self.store.replace_all(list(entries))
            self._rebuild()
        return revision

    def _advance(self, revision: int) -> None:
        # our own write is in the index; later sync() calls start from here unless another
        # worker wrote in between (then the gap is replayed by the next sync)
        if revision == self.revision + 1:
            self.revision = revision

    def _patch(self, entry_id: str, entry: FAQEntry | None) -> None:
        if entry is None:
            self.index.delete(entry_id)
            self._entries.pop(entry_id, None)
        else:
            self.index.upsert(entry)
            self._entries[entry_id] = entry

    def _rebuild(self) -> None:
        revision, entries = self.store.snapshot()
        self.index = FAQIndex.build(entries, self.synonyms)
        self._entries = {e.id: e for e in entries}
        self.revision = revision

    # ------------------------------------------------------------------ sync
    def sync(self) -> int:
        """Apply edits other workers made since the last sync; returns how many."""
        with self._write:
            revision, changed = self.store.changes_since(self.revision)
            if revision == self.revision:
                return 0
            if len(changed) > REBUILD_AFTER or revision < self.revision:
                self._rebuild()
                return len(changed)
            for entry_id in changed:
                self._patch(entry_id, self.store.get(entry_id))
            self.revision = revision
            return len(changed)

    async def run_sync(self) -> None:
        """Poll the store for other workers' edits until cancelled."""
        while True:
            await asyncio.sleep(self.settings.sync_seconds)
            try:
                await asyncio.to_thread(self.sync)
            except Exception:  # a locked or briefly unavailable store: try again next round
                log.exception("knowledge base sync failed")


def reseed(store: KBStore, source: Path, marker: Path) -> None:
    """Import the seed files into the store when it is empty, or when the files changed since
    the last seeding and nobody edited the store since (live edits are never overwritten:
    then a warning says to run `zhike kb import`)."""
    files = seed_files(source)
    if not files:
        return
    digest = _digest(files)
    seen = _read_marker(marker)
    if store.count() and seen.get("hash") == digest:
        return
    if store.count() and seen.get("revision") != store.revision():
        log.warning(
            "kb/ 中的文件已修改，但知识库有在线编辑，未自动导入；请用 zhike kb import 导入。"
            " / %s changed but the knowledge base has live edits; run `zhike kb import`.",
            source,
        )
        return
    entries = [entry for path in files for entry in load_entries(path)]
    revision = store.replace_all(entries)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"hash": digest, "revision": revision}), encoding="utf-8")
    log.info("knowledge base: imported %d entries from %s", len(entries), source)


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _read_marker(marker: Path) -> dict[str, object]:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def seed_files(source: Path) -> list[Path]:
    """The seed file, or the KB files in the seed folder (sorted; eval files excluded)."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        return []
    return [
        path
        for path in sorted(source.iterdir())
        if path.suffix.lower() in SOURCE_SUFFIXES and not path.name.startswith(("eval", "."))
    ]
