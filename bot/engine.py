"""The engine: one turn of one conversation, for every channel.

`Engine.handle(InboundMessage)` locks the conversation, loads its tracker, understands the
message, runs policies and actions until the bot listens again, saves the new events and
returns what the channel should send. The engine never imports a channel.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.dialogue.actions import ActionContext, resolve_action
from bot.dialogue.custom_actions import (
    ActionRunner,
    HTTPActionRunner,
    InProcessActionRunner,
    has_actions_module,
)
from bot.dialogue.events import (
    ActionExecuted,
    ActionExecutionRejected,
    BotUttered,
    Event,
    Handoff,
    SlotSet,
    UserUttered,
    events_from_dicts,
)
from bot.dialogue.forms import ActionRejected
from bot.dialogue.menus import menu_choice
from bot.dialogue.nlg import NLG
from bot.dialogue.policies import Prediction
from bot.dialogue.slot_mapping import extract_slots
from bot.dialogue.tracker import ACTION_LISTEN, Tracker
from bot.dialogue.tracker_cache import DEFAULT_CAPACITY, TrackerCache
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.model import TrainedModel
from bot.nlu.nbest import choose
from bot.nlu.pipeline import sanitize
from bot.nlu.types import ParseResult
from bot.stores.base import ConversationMeta, StoredTracker, TrackerStore
from bot.stores.locks import InMemoryLockStore, LockStore
from bot.stores.memory import InMemoryTrackerStore

log = logging.getLogger(__name__)

MAX_PREDICTIONS = 10
MAX_TEXT_CHARS = 20_000  # longer messages are stored truncated
KB_ACTION = "action_knowledge_base"
TWO_STAGE = "action_two_stage_fallback"
HANDOFF_ACTION = "action_handoff"
FALLBACK_ACTIONS = frozenset({TWO_STAGE, "action_default_fallback", "utter_out_of_scope"})


class KnowledgeHook(Protocol):
    """The knowledge base, consulted once per message before the bot acts on it.

    `claimed` says a rule, form or story already chose a (non-fallback) action: the hook then
    answers only when it is clearly better than a weak intent. It returns the events of its
    reply (it answered, clarified or recorded feedback) or None to let the bot go on."""

    async def answer(
        self, tracker: Tracker, parse: ParseResult, channel: str | None, claimed: bool
    ) -> list[Event] | None: ...

    def close(self) -> None: ...


class HandoffHook(Protocol):
    """The human handoff (`bot.handoff.hook.HandoffResponder`).

    `intercept` sees each message first: while a handoff is under way it may replace the bot's
    turn (events; [] keeps the bot silent), or fire a trigger (a `Handoff` event); None lets
    the bot answer. Every `Handoff` event without an id — from a trigger or an action — goes
    through `open`, which queues it and returns what to tell the customer (None drops it).
    `after_turn` may hand off once the bot has answered (N clarifications in a row)."""

    async def intercept(self, tracker: Tracker, channel: str | None) -> list[Event] | None: ...

    async def open(
        self, tracker: Tracker, event: Handoff, channel: str | None
    ) -> list[Event] | None: ...

    async def after_turn(self, tracker: Tracker, channel: str | None) -> list[Event]: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class TurnResult:
    messages: list[OutboundMessage] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # seconds spent per stage: lock, load, parse (NLU + slots), predict (policies + actions), store
    timings: dict[str, float] = field(default_factory=dict)


class _Laps:
    """Wall-clock time between successive marks, by stage name."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = now - self._last
        self._last = now


class Engine:
    def __init__(
        self,
        model: TrainedModel,
        trackers: TrackerStore | None = None,
        locks: LockStore | None = None,
        runner: ActionRunner | None = None,
        kb: KnowledgeHook | None = None,
        tracker_cache: int = DEFAULT_CAPACITY,
        exclusive: bool = False,
        handoff: HandoffHook | None = None,
    ) -> None:
        self.model = model
        self.handoff = handoff
        self.trackers = trackers or InMemoryTrackerStore()
        self.locks = locks or InMemoryLockStore()
        self.runner = runner
        self.kb = kb
        self.cache = TrackerCache(tracker_cache)
        # True when no other process writes these conversations (one server process, locks in
        # memory): a cached tracker is then current without asking the store
        self.exclusive = exclusive
        self.nlg = NLG.create(model.domain, model.language)

    # ------------------------------------------------------------ public API
    def parse(self, text: Any) -> ParseResult:
        return self.model.interpreter.parse(text)

    async def handle(self, message: InboundMessage) -> list[OutboundMessage]:
        return (await self.handle_turn(message)).messages

    async def handle_turn(self, message: InboundMessage) -> TurnResult:
        laps = _Laps()
        async with self.locks.lock(message.conversation_id):
            laps.mark("lock")
            tracker = await self._turn_tracker(message.conversation_id)
            laps.mark("load")
            await self._ensure_session(tracker, message)
            await self._receive(tracker, message)
            laps.mark("parse")
            if not tracker.paused and not await self._intercept(tracker, message.channel):
                await self._predict_and_run(tracker, message.channel)
                await self._after_turn(tracker, message.channel)
            laps.mark("predict")
            new = list(tracker.new_events)
            await self._save(tracker, message)
            laps.mark("store")
        return TurnResult(messages=outbound(new), events=new, timings=laps.laps)

    async def log_message(self, message: InboundMessage) -> Tracker:
        """Understand and store a user message without running the bot (Rasa's
        `POST /conversations/{id}/messages`); returns the updated tracker."""
        async with self.locks.lock(message.conversation_id):
            tracker = await self._turn_tracker(message.conversation_id)
            await self._ensure_session(tracker, message)
            await self._receive(tracker, message)
            await self._save(tracker, message)
        return tracker

    async def inject(
        self, conversation_id: str, events: list[Event], channel: str | None = None
    ) -> list[OutboundMessage]:
        """Append events that happen outside a customer's turn (an agent's message, a handoff
        state change) under the conversation's lock; returns what the customer should see."""
        async with self.locks.lock(conversation_id):
            tracker = await self._turn_tracker(conversation_id)
            tracker.extend(events)
            await self._store(tracker, ConversationMeta(sender_id=None, channel=channel))
        return outbound(events)

    async def load_tracker(self, conversation_id: str, sender_id: str = "") -> Tracker:
        """A fresh tracker read from the store (never the cached one a turn may be changing)."""
        stored = await self.trackers.load(conversation_id)
        return self._tracker_from(conversation_id, stored)

    def _tracker_from(self, conversation_id: str, stored: StoredTracker | None) -> Tracker:
        if stored is None:
            return Tracker(conversation_id, self.model.domain.slots)
        events = events_from_dicts(stored.events)
        return Tracker(
            conversation_id, self.model.domain.slots, events, stored.version, stored.epoch
        )

    async def _turn_tracker(self, conversation_id: str) -> Tracker:
        """Under the conversation's lock: the cached tracker brought up to date with what
        other workers stored since, or a fresh one. Put back in the cache once saved."""
        cached = self.cache.take(conversation_id)
        if cached is None:
            return await self.load_tracker(conversation_id)
        if self.exclusive:
            return cached
        stored = await self.trackers.load_tail(conversation_id, cached.persisted, cached.epoch)
        if stored is None or stored.start != cached.persisted:
            return self._tracker_from(conversation_id, stored)
        cached.extend(events_from_dicts(stored.events))
        cached.persisted = stored.version
        return cached

    async def close(self) -> None:
        """Release the action runner and the stores (each is safe to close twice)."""
        if self.runner is not None:
            await self.runner.close()
        if self.kb is not None:
            self.kb.close()
        if self.handoff is not None:
            self.handoff.close()
        await self.trackers.close()
        await self.locks.close()

    # ------------------------------------------------------------- the turn
    async def _ensure_session(self, tracker: Tracker, message: InboundMessage) -> None:
        expiry = self.model.domain.session_config.expiration_minutes * 60
        last = tracker.last_event_time
        expired = last is not None and expiry > 0 and time.time() - last > expiry
        if tracker.events and not expired:
            return
        ctx = self._context(tracker, message.channel)
        ctx.extras["session_metadata"] = message.metadata or None
        tracker.update(ActionExecuted(name="action_session_start"))
        tracker.extend(
            await resolve_action("action_session_start", self.model.domain, None).run(ctx)
        )
        tracker.update(ActionExecuted(name=ACTION_LISTEN))

    async def _receive(self, tracker: Tracker, message: InboundMessage) -> None:
        text = sanitize(message.content)[:MAX_TEXT_CHARS]
        metadata = dict(message.metadata)
        choice = None if message.payload else menu_choice(tracker, text)
        if choice is not None:  # "2" answering a numbered menu (WeChat, phone)
            metadata.setdefault("display_text", text)
            text = choice
        parse = self.model.interpreter.parse(text)
        if message.asr_nbest and choice is None and not message.payload:
            picked = choose(self.model.interpreter.parse, parse, message.asr_nbest)
            if picked.index:
                metadata.update(asr_choice=picked.index, asr_top=text)
                text, parse = picked.text, picked.parse
        tracker.update(
            UserUttered(
                text=text,
                parse_data=parse,
                input_channel=message.channel,
                message_id=message.message_id,
                metadata=metadata,
            )
        )
        await self._extract_slots(tracker, message.channel)

    async def _extract_slots(self, tracker: Tracker, channel: str | None) -> None:
        values, custom = extract_slots(tracker, self.model.domain)
        for name, value in values.items():
            if tracker.get_slot(name) != value or name in self._requested(tracker):
                tracker.update(SlotSet(key=name, value=value))
        ctx = self._context(tracker, channel)
        for action in custom:
            try:
                tracker.extend(await ctx.call_custom(action))
            except Exception:
                log.exception("slot-mapping action %s failed", action)
        if "action_validate_slot_mappings" in self.model.domain.actions:
            try:
                tracker.extend(await ctx.call_custom("action_validate_slot_mappings"))
            except Exception:
                log.exception("action_validate_slot_mappings failed")

    @staticmethod
    def _requested(tracker: Tracker) -> set[str]:
        requested = tracker.get_slot("requested_slot")
        return {requested} if requested else set()

    async def _predict_and_run(self, tracker: Tracker, channel: str | None) -> None:
        for step in range(MAX_PREDICTIONS):
            prediction = self.model.policies.predict(tracker)
            if step == 0 and await self._knowledge(tracker, channel, prediction):
                break
            if prediction is None:
                prediction = self._fallback()
            if prediction.action == ACTION_LISTEN or self._rejected_this_turn(
                tracker, prediction.action
            ):
                break  # a rejected action is not tried again for the same message
            await self._run(prediction, tracker, channel)
            if tracker.paused or any(
                isinstance(e, Handoff) for e in tracker.events_after_latest_user()
            ):
                break
        tracker.update(ActionExecuted(name=ACTION_LISTEN, policy="engine"))

    async def _intercept(self, tracker: Tracker, channel: str | None) -> bool:
        """The handoff's say on the message (see `HandoffHook`); True if it replaced the bot."""
        if self.handoff is None:
            return False
        events = await self.handoff.intercept(tracker, channel)
        if events is None:
            return False
        await self._handoff_reply(tracker, events, channel)
        return True

    async def _after_turn(self, tracker: Tracker, channel: str | None) -> None:
        if self.handoff is not None:
            events = await self.handoff.after_turn(tracker, channel)
            if events:
                await self._handoff_reply(tracker, events, channel)

    async def _handoff_reply(
        self, tracker: Tracker, events: list[Event], channel: str | None
    ) -> None:
        events = await self._opened(tracker, events, channel)
        if events:
            tracker.update(ActionExecuted(name=HANDOFF_ACTION, policy="HandoffService"))
            tracker.extend(events)
        tracker.update(ActionExecuted(name=ACTION_LISTEN, policy="engine"))

    async def _opened(
        self, tracker: Tracker, events: list[Event], channel: str | None
    ) -> list[Event]:
        """`events` with each new `Handoff` queued by the handoff service (and its replies)."""
        if self.handoff is None or not any(isinstance(e, Handoff) for e in events):
            return events
        out: list[Event] = []
        for event in events:
            if not isinstance(event, Handoff) or event.handoff_id:
                out.append(event)
                continue
            follow = await self.handoff.open(tracker.fork(out), event, channel)
            if follow is not None:
                out.extend([event, *follow])
        return out

    @staticmethod
    def _rejected_this_turn(tracker: Tracker, action: str) -> bool:
        return action != tracker.active_loop and any(
            isinstance(e, ActionExecutionRejected) and e.name == action
            for e in tracker.events_after_latest_user()
        )

    async def _knowledge(
        self, tracker: Tracker, channel: str | None, prediction: Prediction | None
    ) -> bool:
        """Let the knowledge base reply to the new message; True if it did."""
        latest = tracker.latest_message
        if self.kb is None or latest is None or latest.parse_data is None:
            return False
        if prediction is not None and (tracker.active_loop or prediction.policy == "followup"):
            return False  # a form asking its questions, or a forced next action, owns it
        fallbacks = {*FALLBACK_ACTIONS, self.model.policies.core_fallback_action}
        claimed = prediction is not None and prediction.action not in fallbacks
        events = await self.kb.answer(tracker, latest.parse_data, channel, claimed)
        if not events:
            return False
        tracker.update(ActionExecuted(name=KB_ACTION, policy="KnowledgeBase"))
        tracker.extend(events)
        return True

    def _fallback(self) -> Prediction:
        """No rule, form or story claims the message (and the KB passed): two-stage fallback."""
        return Prediction(self.model.policies.core_fallback_action or TWO_STAGE, 0.0, "fallback")

    async def _run(self, prediction: Prediction, tracker: Tracker, channel: str | None) -> None:
        name = prediction.action
        action = resolve_action(name, self.model.domain, self.runner)
        ctx = self._context(tracker, channel)
        try:
            events = await action.run(ctx)
        except ActionRejected:
            tracker.update(
                ActionExecutionRejected(
                    name=name, policy=prediction.policy, confidence=prediction.confidence
                )
            )
            return
        except Exception:
            log.exception("action %s failed", name)
            events = [ctx.failure_message()]
        if any(isinstance(e, ActionExecutionRejected) for e in events):
            tracker.update(ActionExecutionRejected(name=name, policy=prediction.policy))
            return
        events = await self._opened(tracker, events, channel)
        tracker.update(
            ActionExecuted(name=name, policy=prediction.policy, confidence=prediction.confidence)
        )
        tracker.extend(events)
        if any(isinstance(e, UserUttered) for e in events):
            await self._extract_slots(tracker, channel)

    def _context(self, tracker: Tracker, channel: str | None) -> ActionContext:
        return ActionContext(
            tracker=tracker,
            domain=self.model.domain,
            nlg=self.nlg,
            runner=self.runner,
            channel=channel,
            language=self.model.language,
            extras={
                "intent_labels": self.model.intent_labels,
                "handoff_service": self.handoff is not None,
            },
        )

    async def _save(self, tracker: Tracker, message: InboundMessage) -> None:
        meta = ConversationMeta(sender_id=message.sender_id or None, channel=message.channel)
        await self._store(tracker, meta)

    async def _store(self, tracker: Tracker, meta: ConversationMeta) -> None:
        new = tracker.new_event_dicts()
        version = await self.trackers.append(tracker.sender_id, new, tracker.persisted, meta)
        tracker.persisted = version
        self.cache.put(tracker)


def outbound(events: list[Event]) -> list[OutboundMessage]:
    """Bot events of a turn -> channel-neutral messages."""
    out: list[OutboundMessage] = []
    for event in events:
        if isinstance(event, BotUttered):
            out.extend(_render_bot(event))
        elif isinstance(event, Handoff):
            meta = {"reason": event.reason}
            if event.handoff_id:  # queued by the handoff service
                meta.update(handoff_id=event.handoff_id, skill_group=event.skill_group or "")
            out.append(OutboundMessage(kind="handoff", metadata=meta))
    return out


def _render_bot(event: BotUttered) -> list[OutboundMessage]:
    data = event.data
    buttons = [
        Button(str(b.get("title", "")), str(b.get("payload", "")), str(i))
        for i, b in enumerate(data.get("buttons") or [], start=1)
        if isinstance(b, dict)
    ]
    out: list[OutboundMessage] = []
    if event.text or buttons:
        out.append(
            OutboundMessage(
                kind="buttons" if buttons else "text",
                text=event.text or "",
                buttons=buttons,
                metadata=dict(event.metadata),
            )
        )
    if data.get("image"):
        out.append(OutboundMessage(kind="image", url=str(data["image"])))
    if data.get("custom") is not None:
        out.append(OutboundMessage(kind="custom", metadata={"custom": data["custom"]}))
    if data.get("attachment") is not None:
        out.append(
            OutboundMessage(kind="custom", metadata={"custom": {"attachment": data["attachment"]}})
        )
    return out


def create_runner(
    project_root: Path, action_url: str | None, token: str | None = None
) -> ActionRunner | None:
    """HTTP runner when `action_endpoint` is configured and reachable by config, else in-process."""
    if action_url and not _prefer_in_process(project_root):
        return HTTPActionRunner(action_url, token)
    try:
        return InProcessActionRunner(project_root)
    except Exception:
        log.exception("could not import the project's actions package")
        return None


def _prefer_in_process(project_root: Path) -> bool:
    import os

    mode = os.environ.get("ZHIKE_ACTIONS", "auto")
    if mode == "http":
        return False
    if mode == "inprocess":
        return True
    return has_actions_module(project_root)
