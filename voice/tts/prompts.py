"""Pre-synthesise a project's static voice prompts into the prompt cache.

Static prompts are every domain response text without `{slot}` templates (a response's
`channel: voice` variants replace its other variants; variants for other channels are skipped)
and every knowledge-base entry's spoken answer (`voice_answer`, else the answer text) that can
be used on the voice channel. Texts already cached are skipped, so a second run is free.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from bot.kb.types import FAQEntry
from bot.project.domain import Domain, ResponseVariant
from bot.project.loader import Project, load_project
from voice.tts.base import TtsEngine, TtsError, Voice, speech_text
from voice.tts.cache import CachedEngine, PromptCache

log = logging.getLogger("zhike.tts")

VOICE_CHANNEL = "voice"
DEFAULT_VOICE = Voice()
_TEMPLATE = re.compile(r"\{\w+\}")


def _variants_for_voice(variants: list[ResponseVariant]) -> list[ResponseVariant]:
    voice = [v for v in variants if v.channel == VOICE_CHANNEL]
    return voice or [v for v in variants if not v.channel]


def response_texts(domain: Domain) -> Iterator[str]:
    """Static texts of the domain's responses, as the voice channel would say them."""
    for variants in domain.responses.values():
        for variant in _variants_for_voice(variants):
            if variant.text and not _TEMPLATE.search(variant.text):
                yield variant.text


def _kb_entries(project: Project) -> list[FAQEntry]:
    from bot.kb.config import kb_settings
    from bot.kb.io import load_entries
    from bot.kb.service import seed_files
    from bot.kb.store import KBStore

    settings = kb_settings(project.endpoints.raw.get("knowledge_base"), os.environ)
    if not settings.enabled:
        return []
    db = settings.db if settings.db.is_absolute() else project.root / settings.db
    if db.is_file():  # the live store (with admin edits) is the truth once it exists
        with KBStore(db) as store:
            return store.all()
    return [
        entry for path in seed_files(project.root / settings.source) for entry in load_entries(path)
    ]


def kb_texts(project: Project, today: date | None = None) -> Iterator[str]:
    """Spoken answers of the KB entries usable on the voice channel (now or later)."""
    today = today or date.today()
    for entry in _kb_entries(project):
        if not entry.enabled or (entry.channels and VOICE_CHANNEL not in entry.channels):
            continue
        if entry.valid_to is not None and entry.valid_to < today:
            continue
        text = entry.voice_answer or entry.answer.text
        if text and not _TEMPLATE.search(text):
            yield text


def prompt_texts(project: Path | Project) -> list[str]:
    """Every static prompt of the project, deduplicated by its speakable form."""
    loaded = project if isinstance(project, Project) else load_project(project, validate=False)
    seen: dict[str, str] = {}
    for text in [*response_texts(loaded.domain), *kb_texts(loaded)]:
        try:
            seen.setdefault(speech_text(text), text)
        except TtsError:
            log.info("tts prompts: nothing to speak in %r, skipped", text)
    return list(seen.values())


async def abuild_prompts(
    project: Path | Project,
    engine: TtsEngine,
    cache: PromptCache,
    *,
    voice: Voice = DEFAULT_VOICE,
    concurrency: int = 4,
    timeout: float = 30.0,
) -> int:
    """Async `build_prompts`: synthesise the missing prompts, at most `concurrency` at once."""
    if isinstance(engine, CachedEngine):
        engine = engine.engine  # we store the results ourselves
    texts = prompt_texts(project)
    missing = [
        t for t in texts if not any(cache.contains(n, voice, t) for n in engine.cache_names())
    ]
    gate = asyncio.Semaphore(max(1, concurrency))
    failures: list[str] = []

    async def one(text: str) -> int:
        async with gate:
            try:
                speech = await engine.synthesize(text, voice, timeout=timeout)
                await asyncio.to_thread(cache.put, speech, voice, text)
            except (TtsError, OSError) as exc:
                log.warning("tts prompts: cannot synthesise %r: %s", text, exc)
                failures.append(text)
                return 0
            return 1

    done = sum(await asyncio.gather(*(one(t) for t in missing)))
    log.info(
        "tts prompts: %d synthesised, %d already cached, %d failed (engine %s)",
        done,
        len(texts) - len(missing),
        len(failures),
        engine.name,
    )
    if failures:
        raise TtsError(
            f"有 {len(failures)} 条提示音合成失败（其余 {done} 条已生成），例如：{failures[0]}",
            f"{len(failures)} prompts failed ({done} were synthesised), e.g. {failures[0]!r}",
        )
    return done


def build_prompts(project: Path, engine: TtsEngine, cache: PromptCache) -> int:
    """Synthesise every static prompt of the project into `cache`; returns how many were
    synthesised (already cached prompts are skipped). Call it outside an event loop; inside
    one, await `abuild_prompts` instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(abuild_prompts(project, engine, cache))
    raise RuntimeError("build_prompts() cannot run inside an event loop; await abuild_prompts()")
