"""Recently active trackers kept in memory between turns, least recently used evicted first.

A cached tracker saves re-reading and re-decoding a conversation's whole history on every turn:
the engine asks the store only for events added since (`TrackerStore.load_tail`), which is
empty unless another worker took a turn of the same conversation in between.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.dialogue.tracker import Tracker

DEFAULT_CAPACITY = 1000


class TrackerCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = max(capacity, 0)
        self._items: OrderedDict[str, Tracker] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def take(self, conversation_id: str) -> Tracker | None:
        """Remove and return a clean cached tracker: while a turn runs, nobody else holds it."""
        tracker = self._items.pop(conversation_id, None)
        return tracker if tracker is not None and tracker.clean else None

    def put(self, tracker: Tracker) -> None:
        """Keep a tracker whose events are all stored."""
        if self.capacity == 0 or not tracker.clean:
            return
        self._items[tracker.sender_id] = tracker
        self._items.move_to_end(tracker.sender_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def discard(self, conversation_id: str) -> None:
        self._items.pop(conversation_id, None)

    def clear(self) -> None:
        self._items.clear()
