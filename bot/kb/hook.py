"""The knowledge base inside a turn: a decision turned into tracker events.

The engine calls `KBResponder.answer` for a message no rule, form or story claims (or one only
a weak intent claims). It answers, offers the best matches as buttons ("您是想问以下哪个问题？"),
or passes, and it records feedback on an earlier answer ("没有解决", thumbs up/down).
Clarification buttons and the web chat's thumbs carry Rasa payloads that come back here:
`/kb_answer{"kb_entry": "<id>"}` and `/kb_feedback{"kb_entry": "<id>", "helpful": false}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from bot.dialogue.events import BotUttered, Event, KnowledgeBaseAnswered, UserUttered
from bot.dialogue.tracker import Tracker
from bot.kb.service import Decision, KnowledgeBase
from bot.kb.types import FAQEntry, Hit
from bot.nlu.types import ParseResult

log = logging.getLogger(__name__)

ANSWER_INTENT = "kb_answer"
FEEDBACK_INTENT = "kb_feedback"
ENTRY_ENTITY = "kb_entry"
VOICE_CHANNELS = frozenset({"voice", "sip", "ivr", "phone"})
HUMAN_PAYLOAD = "/request_human"
SURE_INTENT = 0.99  # an intent this sure is never second-guessed (saves a search per turn)

CLARIFY_TEXT = "您是想问以下哪个问题？"
CLARIFY_VOICE = "您是想问以下哪个问题？请说出序号或按对应的数字键："
THANKS_TEXT = "感谢您的反馈，我们会继续改进！"
SORRY_TEXT = "很抱歉没能帮您解决问题。您可以换个说法再问一次，或者让人工客服为您处理。"
UNSOLVED = re.compile(
    r"^(还是)?(没有?|未|不)(能)?(解决|帮到|用|对)|答非所问|不是(我要问的|这个)|没(什么)?用|"
    r"还是不(行|懂|明白)|看不懂"
)


def answer_payload(entry_id: str) -> str:
    return f"/{ANSWER_INTENT}{json.dumps({ENTRY_ENTITY: entry_id}, ensure_ascii=False)}"


def feedback_payload(entry_id: str, helpful: bool) -> str:
    body = {ENTRY_ENTITY: entry_id, "helpful": helpful}
    return f"/{FEEDBACK_INTENT}{json.dumps(body, ensure_ascii=False)}"


class KBResponder:
    """The engine's KnowledgeHook over a `KnowledgeBase`."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def close(self) -> None:
        self.kb.close()

    async def answer(
        self, tracker: Tracker, parse: ParseResult, channel: str | None, claimed: bool
    ) -> list[Event] | None:
        intent = parse.intent.name if parse.intent else None
        if intent == ANSWER_INTENT:
            return self._chosen(tracker, parse, channel)
        if intent == FEEDBACK_INTENT:
            return await self._rated(tracker, parse)
        if _just_answered(tracker) is not None and UNSOLVED.search(parse.text.strip()):
            return await self._unsolved(tracker, parse)
        confidence = parse.intent.confidence if parse.intent else 0.0
        if claimed and confidence >= min(self.kb.settings.override_intent_below, SURE_INTENT):
            return None  # a (near-)certain intent owns it: no search needed
        decision = self.kb.decide(parse.text, channel)
        if claimed and not (decision.outcome == "answer" and decision.hits[0].score > confidence):
            return None
        return self._respond(decision, parse.text, channel)

    # ------------------------------------------------------------------ outcomes
    def _respond(self, decision: Decision, query: str, channel: str | None) -> list[Event] | None:
        best = decision.best
        if decision.outcome == "answer" and best is not None:
            entry = self.kb.entry(best.entry_id)
            if entry is not None:
                return answer_events(entry, best.score, query, decision.hits, channel)
        if decision.outcome == "clarify":
            return self._clarify(decision.hits, query, channel)
        return None

    def _clarify(self, hits: list[Hit], query: str, channel: str | None) -> list[Event] | None:
        offered = [(h, e) for h in hits if (e := self.kb.entry(h.entry_id)) is not None]
        if not offered:
            return None
        buttons = [{"title": e.question, "payload": answer_payload(e.id)} for _, e in offered]
        text = CLARIFY_TEXT
        if channel in VOICE_CHANNELS:
            menu = "；".join(f"{i}，{e.question}" for i, (_, e) in enumerate(offered, start=1))
            text = f"{CLARIFY_VOICE}{menu}。"
        return [
            KnowledgeBaseAnswered(
                outcome="clarify", query=query, candidates=_candidates([h for h, _ in offered])
            ),
            BotUttered(text=text, data={"buttons": buttons}),
        ]

    def _chosen(
        self, tracker: Tracker, parse: ParseResult, channel: str | None
    ) -> list[Event] | None:
        entry_id = _entity(parse, ENTRY_ENTITY)
        entry = self.kb.entry(str(entry_id)) if entry_id else None
        if entry is None:
            return None
        query = _last_kb(tracker, "clarify")
        return answer_events(entry, 1.0, query.query if query else parse.text, [], channel)

    async def _rated(self, tracker: Tracker, parse: ParseResult) -> list[Event]:
        entry_id = str(_entity(parse, ENTRY_ENTITY) or "")
        helpful = _entity(parse, "helpful") in (True, "true", "1", 1)
        kind = "thumbs_up" if helpful else "thumbs_down"
        answered = _last_kb(tracker, "answer")
        query = answered.query if answered and answered.entry_id == entry_id else ""
        await self._record(entry_id, tracker, query, kind)
        return [
            KnowledgeBaseAnswered(outcome="feedback", entry_id=entry_id, query=kind),
            *([] if helpful else [_sorry()]),
            *([BotUttered(text=THANKS_TEXT)] if helpful else []),
        ]

    async def _unsolved(self, tracker: Tracker, parse: ParseResult) -> list[Event]:
        answered = _just_answered(tracker)
        assert answered is not None and answered.entry_id is not None
        await self._record(answered.entry_id, tracker, answered.query, "unsolved")
        return [
            KnowledgeBaseAnswered(outcome="feedback", entry_id=answered.entry_id, query="unsolved"),
            _sorry(),
        ]

    async def _record(self, entry_id: str, tracker: Tracker, query: str, kind: str) -> None:
        if not entry_id:
            return
        try:
            await asyncio.to_thread(
                self.kb.store.record_feedback, entry_id, tracker.sender_id, query, kind
            )
        except Exception:  # feedback is best effort: the customer still gets a reply
            log.exception("could not record KB feedback for %s", entry_id)


# ---------------------------------------------------------------------- events
def answer_events(
    entry: FAQEntry, score: float, query: str, hits: list[Hit], channel: str | None
) -> list[Event]:
    answer = entry.answer
    text = answer.text
    if channel in VOICE_CHANNELS and entry.voice_answer:
        text = entry.voice_answer
    data: dict[str, Any] = {}
    if answer.buttons:
        data["buttons"] = [{"title": b.title, "payload": b.payload} for b in answer.buttons]
    if answer.image:
        data["image"] = answer.image
    if answer.link:
        data["custom"] = {"type": "link", "url": answer.link, "title": answer.link_title or ""}
    kb = {"entry_id": entry.id, "score": round(score, 4)}
    return [
        KnowledgeBaseAnswered(
            outcome="answer",
            entry_id=entry.id,
            score=round(score, 4),
            query=query,
            candidates=_candidates(hits),
        ),
        BotUttered(text=text, data=data, metadata={"kb": kb}),
    ]


def _sorry() -> BotUttered:
    buttons = [{"title": "转人工客服", "payload": HUMAN_PAYLOAD}]
    return BotUttered(text=SORRY_TEXT, data={"buttons": buttons})


def _candidates(hits: list[Hit]) -> list[dict[str, Any]]:
    return [{"id": h.entry_id, "score": round(h.score, 4)} for h in hits]


def _entity(parse: ParseResult, name: str) -> Any:
    return next((e.value for e in parse.entities if e.entity == name), None)


def _last_kb(tracker: Tracker, outcome: str) -> KnowledgeBaseAnswered | None:
    for event in reversed(tracker.applied):
        if isinstance(event, KnowledgeBaseAnswered) and event.outcome == outcome:
            return event
    return None


def _just_answered(tracker: Tracker) -> KnowledgeBaseAnswered | None:
    """The KB answer of the previous bot turn, if that turn was one."""
    seen_user = False
    for event in reversed(tracker.applied):
        if isinstance(event, KnowledgeBaseAnswered):
            return event if event.outcome == "answer" and seen_user else None
        if isinstance(event, UserUttered):
            if seen_user:
                return None
            seen_user = True
    return None
