"""A tracker store in process memory, for tests and `zhike shell`.

Events are kept serialised, exactly as the SQLite store keeps them, so both stores behave the
same: callers always get fresh copies and non-JSON events are refused on the way in. Methods never
await between reading and writing, which makes each of them atomic on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.stores.base import (
    ConcurrencyConflict,
    ConversationInfo,
    ConversationMeta,
    Event,
    StoredTracker,
    TrackerStore,
    check_page,
    closed_error,
    decode_event,
    encode_events,
)


@dataclass(slots=True)
class _Conversation:
    created_at: float
    updated_at: float
    sender_id: str | None = None
    channel: str | None = None
    events: list[str] = field(default_factory=list)

    def touch(self, meta: ConversationMeta | None, now: float) -> None:
        self.updated_at = now
        if meta is not None:
            self.sender_id = meta.sender_id if meta.sender_id is not None else self.sender_id
            self.channel = meta.channel if meta.channel is not None else self.channel


class InMemoryTrackerStore(TrackerStore):
    def __init__(self) -> None:
        self._conversations: dict[str, _Conversation] = {}
        self._closed = False

    def _data(self) -> dict[str, _Conversation]:
        if self._closed:
            raise closed_error()
        return self._conversations

    def _check(self, conversation_id: str, expected: int | None) -> int:
        found = self._data().get(conversation_id)
        actual = len(found.events) if found else 0
        if expected is not None and actual != expected:
            raise ConcurrencyConflict(conversation_id, expected, actual)
        return actual

    def _upsert(self, conversation_id: str, meta: ConversationMeta | None) -> _Conversation:
        now = time.time()
        found = self._data().setdefault(conversation_id, _Conversation(now, now))
        found.touch(meta, now)
        return found

    async def load(self, conversation_id: str) -> StoredTracker | None:
        found = self._data().get(conversation_id)
        if found is None:
            return None
        events = [decode_event(data) for data in found.events]
        return StoredTracker(conversation_id, events, len(events))

    async def append(
        self,
        conversation_id: str,
        events: Sequence[Event],
        expected_version: int,
        meta: ConversationMeta | None = None,
    ) -> int:
        actual = self._check(conversation_id, expected_version)
        encoded = encode_events(events)
        if not encoded:
            return actual
        found = self._upsert(conversation_id, meta)
        found.events.extend(item.data for item in encoded)
        return len(found.events)

    async def replace(
        self,
        conversation_id: str,
        events: Sequence[Event],
        meta: ConversationMeta | None = None,
        expected_version: int | None = None,
    ) -> int:
        self._check(conversation_id, expected_version)
        encoded = encode_events(events)
        found = self._upsert(conversation_id, meta)
        found.events = [item.data for item in encoded]
        return len(found.events)

    async def delete(self, conversation_id: str) -> None:
        self._data().pop(conversation_id, None)

    async def info(self, conversation_id: str) -> ConversationInfo | None:
        found = self._data().get(conversation_id)
        if found is None:
            return None
        return ConversationInfo(
            conversation_id,
            len(found.events),
            found.sender_id,
            found.channel,
            found.created_at,
            found.updated_at,
        )

    async def conversation_ids(self, limit: int = 100, offset: int = 0) -> list[str]:
        check_page(limit, offset)
        return sorted(self._data())[offset : offset + limit]

    async def close(self) -> None:
        self._closed = True
        self._conversations.clear()
