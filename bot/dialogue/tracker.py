"""The conversation state: an append-only list of events plus what they add up to."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from bot.dialogue.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AllSlotsReset,
    ConversationPaused,
    ConversationResumed,
    Event,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from bot.project.domain import Slot

ACTION_LISTEN = "action_listen"


def applied_events(events: Iterable[Event]) -> list[Event]:
    """Events that still count after restarts, rewinds and undos (as in Rasa)."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, Restarted | SessionStarted):
            out = [event] if isinstance(event, SessionStarted) else []
        elif isinstance(event, UserUtteranceReverted):
            _undo_till(out, UserUttered)
            _drop_listen(out)  # a user message implies the listen before it (as in Rasa)
        elif isinstance(event, ActionReverted):
            _undo_till(out, ActionExecuted)
        else:
            out.append(event)
    return out


def _drop_listen(events: list[Event]) -> None:
    if events and isinstance(events[-1], ActionExecuted) and events[-1].name == ACTION_LISTEN:
        events.pop()


def _undo_till(events: list[Event], kind: type[Event]) -> None:
    while events:
        last = events.pop()
        if isinstance(last, kind) and not (
            isinstance(last, ActionExecuted)
            and last.name == ACTION_LISTEN
            and kind is ActionExecuted
        ):
            return


class Tracker:
    """Events of one conversation and the state they imply."""

    def __init__(
        self,
        sender_id: str,
        slot_defs: dict[str, Slot],
        events: Iterable[Event] = (),
        version: int = 0,
        epoch: int = 0,
    ) -> None:
        self.sender_id = sender_id
        self.slot_defs = slot_defs
        self.events: list[Event] = []
        self.persisted = version  # how many of `events` the store holds
        self.epoch = epoch  # the store's epoch when they were read (see TrackerStore.load_tail)
        self._dicts: list[dict[str, Any]] = []  # Rasa JSON of events[: len(_dicts)], memoised
        self._reset_state()
        for event in events:
            self.events.append(event)
        self._replay()

    # ------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self.slots: dict[str, Any] = {n: s.initial_value for n, s in self.slot_defs.items()}
        self.active_loop: str | None = None
        self.loop_rejected = False
        self.loop_interrupted = False  # another action ran while the loop was active
        self.latest_message: UserUttered | None = None
        self.latest_action_name: str | None = None
        self.followup_action: str | None = None
        self.paused = False
        # derived data that readers fold incrementally over `applied` (e.g. dialogue states),
        # keyed by the reader; dropped whenever `applied` is rebuilt rather than extended
        self.memo: dict[object, object] = {}

    def _replay(self) -> None:
        self._reset_state()
        self._applied = applied_events(self.events)
        for event in self._applied:
            self._apply(event)

    def _apply(self, event: Event) -> None:
        handler = _APPLY.get(type(event))
        if handler is not None:
            handler(self, event)

    def update(self, event: Event) -> None:
        """Append an event and bring the state up to date."""
        self.events.append(event)
        if isinstance(event, Restarted | SessionStarted | UserUtteranceReverted | ActionReverted):
            self._replay()
        else:
            self._applied.append(event)
            self._apply(event)

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.update(event)

    # ---------------------------------------------------------------- queries
    @property
    def new_events(self) -> list[Event]:
        return self.events[self.persisted :]

    @property
    def applied(self) -> Sequence[Event]:
        """Applied events of the current session, not copied: read, never modify."""
        return self._applied

    def fork(self, pending: Iterable[Event] = ()) -> Tracker:
        """A copy with `pending` events added, for showing a custom action what is about to
        happen; cheaper than rebuilding from the events, and the original is untouched."""
        other = copy.copy(self)
        other.events = list(self.events)
        other._applied = list(self._applied)
        if self._dicts:  # encode what is new once, here, for both copies
            self._encode()
        other._dicts = list(self._dicts)
        other.slots = dict(self.slots)
        other.memo = {}
        other.extend(pending)
        return other

    def session_events(self) -> list[Event]:
        """Applied events of the current session (since the last session start/restart)."""
        return list(self._applied)

    def get_slot(self, name: str) -> Any:
        return self.slots.get(name)

    def events_after_latest_user(self) -> list[Event]:
        events = self.session_events()
        for i in range(len(events) - 1, -1, -1):
            if isinstance(events[i], UserUttered):
                return events[i + 1 :]
        return events

    @property
    def latest_intent(self) -> str | None:
        return self.latest_message.intent_name if self.latest_message else None

    @property
    def last_event_time(self) -> float | None:
        return self.events[-1].timestamp if self.events else None

    def event_dicts(self) -> list[dict[str, Any]]:
        """Rasa JSON of every event; events never change once appended, so each is encoded
        once per tracker (custom actions get the whole tracker on every call). The dicts are
        shared with the memo: readers must not modify them."""
        self._encode()
        return list(self._dicts)

    def new_event_dicts(self) -> list[dict[str, Any]]:
        """Rasa JSON of the events the store does not hold yet (memoised if the rest is)."""
        if len(self._dicts) < self.persisted:
            return [event.to_dict() for event in self.new_events]
        self._encode()
        return self._dicts[self.persisted :]

    def _encode(self) -> None:
        for event in self.events[len(self._dicts) :]:
            self._dicts.append(event.to_dict())

    @property
    def clean(self) -> bool:
        """Every event is stored: nothing half-done from a failed turn."""
        return self.persisted == len(self.events)

    def to_rasa_dict(self) -> dict[str, Any]:
        """Rasa's tracker JSON (what rasa_sdk actions and `GET /tracker` expect)."""
        latest = self.latest_message.to_dict().get("parse_data", {}) if self.latest_message else {}
        return {
            "sender_id": self.sender_id,
            "slots": dict(self.slots),
            "latest_message": latest,
            "latest_event_time": self.last_event_time,
            "followup_action": self.followup_action,
            "paused": self.paused,
            "events": self.event_dicts(),
            "latest_input_channel": self.latest_message.input_channel
            if self.latest_message
            else None,
            "active_loop": {"name": self.active_loop, "rejected": self.loop_rejected}
            if self.active_loop
            else {},
            "latest_action": {"action_name": self.latest_action_name},
            "latest_action_name": self.latest_action_name,
        }


def _on_slot(t: Tracker, e: Event) -> None:
    assert isinstance(e, SlotSet)
    t.slots[e.key] = e.value


def _on_user(t: Tracker, e: Event) -> None:
    assert isinstance(e, UserUttered)
    t.latest_message = e
    t.loop_rejected = False


def _on_action(t: Tracker, e: Event) -> None:
    assert isinstance(e, ActionExecuted)
    t.latest_action_name = e.name
    if t.active_loop and e.name == t.active_loop:
        t.loop_interrupted = False
    elif t.active_loop and e.name != ACTION_LISTEN:
        t.loop_interrupted = True
    if t.followup_action == e.name:
        t.followup_action = None


def _on_loop(t: Tracker, e: Event) -> None:
    assert isinstance(e, ActiveLoop)
    t.active_loop = e.name
    t.loop_rejected = False
    t.loop_interrupted = False


def _on_rejected(t: Tracker, e: Event) -> None:
    assert isinstance(e, ActionExecutionRejected)
    if e.name == t.active_loop:
        t.loop_rejected = True


def _on_reset(t: Tracker, e: Event) -> None:
    t.slots = {n: s.initial_value for n, s in t.slot_defs.items()}


def _on_followup(t: Tracker, e: Event) -> None:
    assert isinstance(e, FollowupAction)
    t.followup_action = e.name


def _on_pause(t: Tracker, e: Event) -> None:
    t.paused = True


def _on_resume(t: Tracker, e: Event) -> None:
    t.paused = False


_APPLY: dict[type[Event], Any] = {
    SlotSet: _on_slot,
    UserUttered: _on_user,
    ActionExecuted: _on_action,
    ActiveLoop: _on_loop,
    ActionExecutionRejected: _on_rejected,
    AllSlotsReset: _on_reset,
    FollowupAction: _on_followup,
    ConversationPaused: _on_pause,
    ConversationResumed: _on_resume,
}
