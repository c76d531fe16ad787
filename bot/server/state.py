"""What one server process holds: settings, the engine holder, and the model's life cycle.

Models are loaded at start (the newest in `models/`, or `model_file`; trained if there is
none), replaced by `PUT /model`, and — when `model_poll_seconds` > 0 — picked up from
`models/` when a newer file appears there (a finished `zhike train`, or another worker's
`PUT /model`). Replacing goes through `EngineHolder.swap`: turns in flight finish on their
model, stores and locks are shared, so no conversation is dropped or mixed up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot import model as model_io
from bot.channel import Channel
from bot.dialogue.events import Event
from bot.errors import ModelNotFound, ZhikeError
from bot.handoff.hook import HandoffResponder
from bot.handoff.service import HandoffService
from bot.handoff.timers import Sweeper
from bot.kb.hook import KBResponder
from bot.kb.service import KnowledgeBase
from bot.messages import OutboundMessage
from bot.model import TrainedModel
from bot.notify import Notifier, notifier_for_project
from bot.runtime import build_engine, train_project
from bot.server import heap
from bot.server.auth import Authenticator
from bot.server.errors import ApiError
from bot.server.gate import TurnGate, turn_slots
from bot.server.metrics import MeteredHolder, Metrics
from bot.server.settings import Settings
from bot.stores.base import StoreError
from bot.stores.factory import sqlite_path

if TYPE_CHECKING:
    from channels.wechat.state import ChannelState
    from channels.wechat.tokens import TokenStore
    from voice.asr.base import AsrEngine

log = logging.getLogger(__name__)


def newest_model(models_dir: Path) -> Path | None:
    try:
        return model_io.latest(models_dir)
    except ModelNotFound:
        return None


def initial_model(settings: Settings) -> tuple[TrainedModel, Path]:
    """The model to start with: `model_file`, else the newest up-to-date one, else trained."""
    if settings.model_file is not None:
        return model_io.load(settings.model_file), settings.model_file
    path = newest_model(settings.models_path)
    if path is not None and not settings.train_on_start:
        return model_io.load(path), path
    if path is None and not settings.train_on_start:
        raise ModelNotFound(
            f"在 {settings.models_path} 中没有找到模型，请先运行 `zhike train` / "
            f"no model in {settings.models_path}; run `zhike train` first"
        )
    outcome = train_project(settings.project, out=settings.models_path)
    return outcome.model, outcome.path


def beside_tracker_store(settings: Settings, suffix: str) -> Path | None:
    """`<tracker db stem><suffix>` beside the tracker store's SQLite file (None when the
    tracker store is not a SQLite file), so tests and benchmarks on a temporary tracker store
    never write into the project."""
    url = urlsplit(settings.tracker_store)
    if url.scheme != "sqlite":
        return None
    try:
        path = sqlite_path(url, settings.project)
    except StoreError:
        return None
    return None if path is None else path.with_name(path.stem + suffix)


def handoff_overrides(settings: Settings) -> dict[str, Any]:
    """`settings.handoff`, with the handoff database beside the tracker store's SQLite file
    unless endpoints.yml or the overrides name one."""
    overrides = dict(settings.handoff)
    path = beside_tracker_store(settings, "-handoff.db")
    if "db" not in overrides and path is not None:
        overrides["db"] = str(path)
    return overrides


def load_asr(project: Path) -> AsrEngine | None:
    """The project's default ASR engine, or None (nothing configured, or a bad setup: logged)."""
    from voice.asr.models import load_engine, voice_settings

    try:
        if voice_settings(project).default_engine() is None:
            log.info("no ASR configured: voice messages get a polite request to type instead")
            return None
        engine = load_engine(None, project)
    except ZhikeError as exc:  # AsrError, or an unreadable endpoints.yml
        log.error("ASR not available, voice messages get a polite reply: %s", exc)
        return None
    log.info("ASR for voice messages: %s", engine.name)
    return engine


@dataclass
class ServerState:
    settings: Settings
    holder: MeteredHolder
    auth: Authenticator
    model_path: Path | None
    latest_seen: Path | None
    started_at: float = field(default_factory=time.time)
    training_jobs: int = 0
    _reload: asyncio.Lock = field(default_factory=asyncio.Lock)
    _watcher: asyncio.Task[None] | None = None
    _kb_sync: asyncio.Task[None] | None = None
    _heap: asyncio.Task[None] | None = None
    _sweeper: asyncio.Task[None] | None = None
    channels: dict[str, Channel] = field(default_factory=dict)
    _asr: tuple[AsrEngine | None] | None = None  # (engine or None) once looked up
    _asr_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics) -> ServerState:
        model, path = initial_model(settings)
        engine = build_engine(
            settings.project,
            model,
            store_url=settings.tracker_store,
            exclusive=settings.workers == 1 and not settings.shared_store,
            handoff=handoff_overrides(settings),
        )
        gate = TurnGate(turn_slots(settings, engine), settings.turn_queue_seconds)
        holder = MeteredHolder(engine, metrics=metrics, gate=gate)
        return cls(
            settings, holder, Authenticator(settings), path, newest_model(settings.models_path)
        )

    @property
    def metrics(self) -> Metrics:
        return self.holder.metrics

    @property
    def handoff(self) -> HandoffService | None:
        hook = self.holder.engine.handoff
        return hook.service if isinstance(hook, HandoffResponder) else None

    async def deliver(
        self, channel: str, conversation_id: str, messages: list[OutboundMessage]
    ) -> None:
        """Push messages to a customer on the channel the conversation came from."""
        target = self.channels.get(channel)
        if target is None:
            log.warning("no channel %s to deliver to %s", channel, conversation_id)
            return
        await target.send(conversation_id, messages)

    async def inject(self, conversation_id: str, events: list[Event]) -> list[OutboundMessage]:
        return await self.holder.engine.inject(conversation_id, events)

    @cached_property
    def wechat_state(self) -> ChannelState:
        """Dedup claims, kf cursors and leases of the WeChat channels, shared by workers."""
        from channels.wechat.state import ChannelState

        return ChannelState(beside_tracker_store(self.settings, "-wechat.db"))

    @cached_property
    def wechat_tokens(self) -> TokenStore:
        """WeChat access tokens, fetched once for all workers on this host."""
        from channels.wechat.tokens import MemoryTokenStore, SQLiteTokenStore

        path = beside_tracker_store(self.settings, "-wechat-tokens.db")
        return MemoryTokenStore() if path is None else SQLiteTokenStore(path)

    @cached_property
    def notifier(self) -> Notifier:
        """Sender of after-call links (SMS / WeChat), from endpoints.yml `notify:`; log-only
        when there is none. Raises ValueError on a bad section (at the first use)."""
        return notifier_for_project(self.settings.project)

    @property
    def asr(self) -> AsrEngine | None:
        """The configured speech recogniser (voice.asr.models), built on first use and kept;
        None when none is configured or it cannot be built (logged). Reads the project's
        files: async code calls it from a worker thread (`asyncio.to_thread`)."""
        with self._asr_lock:
            if self._asr is None:
                self._asr = (load_asr(self.settings.project),)
            return self._asr[0]

    @property
    def knowledge(self) -> KnowledgeBase | None:
        hook = self.holder.engine.kb
        return hook.kb if isinstance(hook, KBResponder) else None

    # ------------------------------------------------------------ reloading
    def resolve_model_file(self, raw: str) -> Path:
        path = Path(raw).expanduser()
        path = (path if path.is_absolute() else self.settings.project / path).resolve()
        roots = (self.settings.project.resolve(), self.settings.models_path.resolve())
        if not any(path.is_relative_to(r) for r in roots):
            raise ApiError(
                400,
                "model_path_not_allowed",
                "只能加载项目目录或模型目录中的模型文件。",
                "model_file must be inside the project or models folder",
            )
        if not path.is_file():
            raise ApiError(404, "model_not_found", "找不到该模型文件。", f"no model file at {raw}")
        return path

    async def load_file(self, path: Path) -> None:
        async with self._reload:
            try:
                model = await asyncio.to_thread(model_io.load, path)
            except ZhikeError as exc:
                self.metrics.reloads.labels("failed").inc()
                raise ApiError(
                    400, "invalid_model", "模型文件无法加载。", f"cannot load model: {exc}"
                ) from exc
            await self._swap(model, path)

    async def retrain(self) -> Path:
        async with self._reload:
            self.training_jobs += 1
            try:
                outcome = await asyncio.to_thread(
                    train_project, self.settings.project, False, None, self.settings.models_path
                )
            except ZhikeError as exc:
                self.metrics.reloads.labels("failed").inc()
                raise ApiError(
                    400,
                    "training_failed",
                    "模型训练失败，请检查项目文件。",
                    f"training failed: {exc}",
                ) from exc
            finally:
                self.training_jobs -= 1
            self.latest_seen = outcome.path
            await self._swap(outcome.model, outcome.path)
            return outcome.path

    async def _swap(self, model: TrainedModel, path: Path) -> None:
        await self.holder.swap(model)
        heap.settle()
        self.model_path = path
        self.metrics.reloads.labels("ok").inc()
        log.info("model loaded", extra={"model_file": str(path), "fingerprint": model.fingerprint})

    async def check_for_new_model(self) -> bool:
        path = await asyncio.to_thread(newest_model, self.settings.models_path)
        if path is None or path == self.latest_seen:
            return False
        self.latest_seen = path
        if path == self.model_path:
            return False
        try:
            await self.load_file(path)
        except ApiError as exc:
            log.error("new model %s could not be loaded: %s", path, exc.en)
            return False
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.model_poll_seconds)
            try:
                await self.check_for_new_model()
            except Exception:
                log.exception("model watcher failed")

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        heap.settle()
        self._heap = asyncio.create_task(heap.HeapKeeper().run(), name="zhike-heap")
        if self.settings.model_poll_seconds > 0:
            self._watcher = asyncio.create_task(self._watch(), name="zhike-model-watcher")
        if self.knowledge is not None:  # other workers' KB edits
            self._kb_sync = asyncio.create_task(self.knowledge.run_sync(), name="zhike-kb-sync")
        service = self.handoff
        if service is not None:
            service.inject, service.deliver = self.inject, self.deliver
            self._sweeper = asyncio.create_task(Sweeper(service).run(), name="zhike-handoff")

    async def start_channels(self) -> None:
        for channel in self.channels.values():
            start = getattr(channel, "start", None)
            if start is not None:
                await start()

    async def close(self) -> None:
        """Stop watching, let turns in flight finish (bounded), then close the stores."""
        for task in (self._watcher, self._kb_sync, self._heap, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        turns = self.holder.turns
        if turns.active:
            log.info("waiting for %d turn(s) in flight", turns.active)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(turns.idle.wait(), self.settings.shutdown_timeout)
        for channel in self.channels.values():
            stop = getattr(channel, "close", None)
            if stop is not None:
                with contextlib.suppress(Exception):
                    await stop()
        if "wechat_state" in self.__dict__:
            await self.wechat_state.close()
        if self._asr is not None and self._asr[0] is not None:
            self._asr[0].close()
        if self.handoff is not None:
            await self.handoff.close()
        await self.holder.engine.close()  # action runner and stores
        log.info("stores closed")
