"""Tracker store contract: an append-only list of Rasa tracker events per conversation.

Events cross this boundary as plain JSON objects in Rasa's tracker event schema (a dict with an
"event" key). Stores keep them verbatim (Chinese text and emoji unchanged) and guard appends with
optimistic concurrency: every write names the version it expects, `version` being the number of
events stored for the conversation.
"""

from __future__ import annotations

import json
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from bot.errors import ZhikeError

Event = dict[str, Any]  # one Rasa tracker event, e.g. {"event": "user", "text": "你好", ...}


class StoreError(ZhikeError):
    """A tracker or lock store refused or failed an operation."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh} / {en}")


class ConcurrencyConflict(StoreError):
    """Another writer changed the conversation since the caller loaded it."""

    def __init__(self, conversation_id: str, expected: int, actual: int) -> None:
        self.conversation_id, self.expected, self.actual = conversation_id, expected, actual
        super().__init__(
            f"会话 {conversation_id} 已被其他请求更新（期望版本 {expected}，实际版本 {actual}），"
            "请重新加载后再试。",
            f"conversation {conversation_id!r} was modified concurrently "
            f"(expected version {expected}, found {actual}); reload and retry.",
        )


@dataclass(frozen=True, slots=True)
class ConversationMeta:
    """Per-conversation facts written alongside events; None leaves the stored value as is."""

    sender_id: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """What a store knows about a conversation besides its events."""

    conversation_id: str
    version: int
    sender_id: str | None
    channel: str | None
    created_at: float  # Unix seconds
    updated_at: float


@dataclass(slots=True)
class StoredTracker:
    """A conversation's events as stored; `version` is the number of events stored.

    `events` normally holds all of them (`start` 0); `load_tail` may skip a prefix the caller
    already has, and then `events` begins at index `start`. `epoch` changes whenever stored
    events are rewritten (replace, delete then re-create), so a cached prefix can be checked.
    """

    conversation_id: str
    events: list[Event]
    version: int
    start: int = 0
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event serialised for storage, with the columns stores index on."""

    type: str
    timestamp: float
    data: str  # compact JSON, ensure_ascii=False


def encode_event(event: Event, index: int = 0, now: float | None = None) -> EncodedEvent:
    """Validate and serialise one event; `index` only serves error messages."""
    kind = event.get("event") if isinstance(event, dict) else None
    if not isinstance(kind, str) or not kind:
        raise StoreError(
            f'第 {index + 1} 个事件缺少 "event" 字段，无法保存。',
            f'event #{index + 1} is not a JSON object with a non-empty "event" key.',
        )
    try:
        data = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"第 {index + 1} 个事件（{kind}）无法转换为 JSON：{exc}",
            f"event #{index + 1} ({kind}) is not JSON-serialisable: {exc}",
        ) from exc
    stamp = event.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        stamp = time.time() if now is None else now
    return EncodedEvent(kind, float(stamp), data)


def encode_events(events: Sequence[Event]) -> list[EncodedEvent]:
    now = time.time()
    return [encode_event(event, i, now) for i, event in enumerate(events)]


def new_epoch() -> int:
    """A fresh random epoch: a re-created conversation never reuses an old one."""
    return secrets.randbits(62) + 1


def decode_event(data: str) -> Event:
    event: Event = json.loads(data)
    return event


def check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must be >= 0, got limit={limit}, offset={offset}")


class TrackerStore(ABC):
    """Where conversations live. All methods are coroutines; none blocks the event loop."""

    @abstractmethod
    async def load(self, conversation_id: str) -> StoredTracker | None:
        """All events of a conversation in order, or None if it was never stored."""

    async def load_tail(self, conversation_id: str, after: int, epoch: int) -> StoredTracker | None:
        """Events after the first `after`, if the caller's copy of those (read at `epoch`) is
        still what is stored; otherwise all events (`start` 0). None if never stored.

        The default reads everything, which is always correct; stores override it to skip the
        known prefix, so a cached tracker costs one small query per turn.
        """
        return await self.load(conversation_id)

    @abstractmethod
    async def append(
        self,
        conversation_id: str,
        events: Sequence[Event],
        expected_version: int,
        meta: ConversationMeta | None = None,
    ) -> int:
        """Atomically append `events` and return the new version.

        Raises ConcurrencyConflict if the stored version is not `expected_version` (0 for a
        conversation never stored). Appending nothing only checks the version.
        """

    @abstractmethod
    async def replace(
        self,
        conversation_id: str,
        events: Sequence[Event],
        meta: ConversationMeta | None = None,
        expected_version: int | None = None,
    ) -> int:
        """Replace all events (Rasa's PUT .../tracker/events); returns the new version.

        With `expected_version` set, raises ConcurrencyConflict like `append`.
        """

    @abstractmethod
    async def delete(self, conversation_id: str) -> None:
        """Forget a conversation; deleting an unknown conversation is not an error."""

    @abstractmethod
    async def info(self, conversation_id: str) -> ConversationInfo | None:
        """Version and metadata of a conversation, without its events."""

    @abstractmethod
    async def conversation_ids(self, limit: int = 100, offset: int = 0) -> list[str]:
        """Stored conversation ids, sorted ascending (stable for paging)."""

    @abstractmethod
    async def close(self) -> None:
        """Release resources; idempotent. The store is unusable afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def closed_error() -> StoreError:
    return StoreError("会话存储已关闭，无法继续使用。", "the tracker store is closed.")
