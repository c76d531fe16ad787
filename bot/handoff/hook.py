"""The handoff in the engine's turn (`Engine.handoff`): what a customer's message means while
a handoff is under way, the triggers that read the message itself, and opening handoffs.

- while queued: "不用了/取消" cancels, "还要多久" tells the position, anything else goes to
  the bot as usual (the customer may keep chatting while waiting);
- while offered to or with an agent: the message goes to the agent and the bot stays silent;
- after an agent ended: a 1–5 answer (or button) is the survey score;
- otherwise the triggers: an explicit request for a human the NLU did not catch (typos,
  homophones, key 0 on the phone), anger or a strong complaint, a difficult customer who was
  not understood, and (after the turn) N knowledge-base clarifications in a row.
"""

from __future__ import annotations

import re

from bot.dialogue.events import BotUttered, Event, Handoff, KnowledgeBaseAnswered, UserUttered
from bot.dialogue.tracker import Tracker
from bot.handoff.customers import phone_of
from bot.handoff.detect import DEFAULT as REQUESTS
from bot.handoff.detect import HumanRequestDetector
from bot.handoff.sentiment import SentimentDetector
from bot.handoff.service import HandoffService
from bot.handoff.types import Reason, State

HUMAN_INTENTS = frozenset({"request_human", "human_handoff", "handoff", "transfer_to_human"})
_CANCEL = re.compile(
    r"^(?:不用了?|不需要了?|不要了?|算了吧?|取消(?:排队|转人工)?|不转了|不等了|不用转了|我不等了)"
    r"[，。！!,.~ 吧啊呢谢]*$"
)
_WAIT = re.compile(r"(还要|要)?(等多久|多久|排第几|第几位|前面还有|排到我|怎么还没)")
_SURVEY_PAYLOAD = re.compile(r'^/handoff_survey\{\s*"score"\s*:\s*([1-5])\s*\}$')
_SURVEY_TEXT = re.compile(r"^\s*([1-5一二三四五])\s*(?:分|星)?\s*[。.!！]?\s*$")
_SURVEY_WORDS = {"非常满意": 5, "很满意": 5, "满意": 4, "一般": 3, "不满意": 2, "很不满意": 1}
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
LOW_CONFIDENCE = 0.5  # a difficult customer not understood this well goes to a human at once


def survey_score(text: str) -> int | None:
    text = text.strip()
    match = _SURVEY_PAYLOAD.match(text) or _SURVEY_TEXT.match(text)
    if match:
        digit = match.group(1)
        return _CN_DIGITS.get(digit) or int(digit)
    return _SURVEY_WORDS.get(text.rstrip("。！!"))


def shown_text(message: UserUttered) -> str:
    return str(message.metadata.get("display_text") or message.text or "")


class HandoffResponder:
    def __init__(
        self,
        service: HandoffService,
        requests: HumanRequestDetector = REQUESTS,
        sentiment: SentimentDetector | None = None,
    ) -> None:
        self.service = service
        self.requests = requests
        self.sentiment = sentiment or SentimentDetector()

    # ------------------------------------------------------------ before the bot
    async def intercept(self, tracker: Tracker, channel: str | None) -> list[Event] | None:
        """Events that replace the bot's turn ([] = silent), or None to let the bot answer."""
        latest = tracker.latest_message
        if latest is None:
            return None
        conversation, text = tracker.sender_id, shown_text(latest)
        if conversation in self.service.surveys:
            score = survey_score(latest.text or "")
            answered = await self.service.survey_answer(conversation, score)
            if score is not None:
                return answered
        state = self.service.active.get(conversation)
        if state is not None:
            return await self._during(tracker, state, text)
        return self._trigger(tracker, latest, text, channel)

    async def _during(self, tracker: Tracker, state: State, text: str) -> list[Event] | None:
        conversation = tracker.sender_id
        if state in (State.ASSIGNED, State.WITH_AGENT):
            if state == State.ASSIGNED and _CANCEL.match(text):
                return await self.service.cancel(conversation)
            await self.service.customer_message(conversation, text)
            return (
                []
                if state == State.WITH_AGENT
                else [self.service.notice("utter_handoff_connecting")]
            )
        if _CANCEL.match(text):
            return await self.service.cancel(conversation)
        if _WAIT.search(text) or self.requests.matches(text):
            return await self.service.position_notice(conversation)
        return None

    def _trigger(
        self, tracker: Tracker, latest: UserUttered, text: str, channel: str | None
    ) -> list[Event] | None:
        triggers = self.service.settings.triggers
        intent = latest.intent_name
        if triggers.request and intent not in HUMAN_INTENTS:
            cue = self.requests.cue(text, channel)
            if cue:
                return [Handoff(reason=Reason.CUSTOMER_REQUEST.value, detail={"cue": cue})]
        if triggers.sentiment:
            mood = self.sentiment.score(text)
            if mood.anger >= triggers.sentiment_threshold:
                detail = {"anger": round(mood.anger, 3), "cues": list(mood.cues)}
                return [Handoff(reason=Reason.NEGATIVE_SENTIMENT.value, detail=detail)]
        if triggers.difficult and self._difficult(tracker, channel):
            confidence = latest.parse_data.intent.confidence if latest.parse_data else 0.0
            if confidence < LOW_CONFIDENCE:
                return [Handoff(reason=Reason.DIFFICULT_CUSTOMER.value)]
        return None

    def _difficult(self, tracker: Tracker, channel: str | None) -> bool:
        phone = phone_of(tracker)
        key = f"phone:{phone}" if phone else f"{channel or 'unknown'}:{tracker.sender_id}"
        return key in self.service.difficult

    # ------------------------------------------------------------ during and after
    async def open(
        self, tracker: Tracker, event: Handoff, channel: str | None
    ) -> list[Event] | None:
        """Queue the handoff an action asked for; None drops it (that trigger is switched off)."""
        triggers = self.service.settings.triggers
        enabled = {
            Reason.FALLBACK.value: triggers.fallback,
            Reason.RULE.value: triggers.rule,
            Reason.KB_CLARIFY.value: triggers.kb_clarifications > 0,
        }
        if not self.service.settings.enabled or not enabled.get(event.reason, True):
            return None
        if channel in self.service.native_channels:
            return []  # the channel transfers to the platform's own agents
        return await self.service.open(tracker, event, channel)

    async def after_turn(self, tracker: Tracker, channel: str | None) -> list[Event]:
        needed = self.service.settings.triggers.kb_clarifications
        if needed <= 0 or tracker.sender_id in self.service.active:
            return []
        if clarifications_in_a_row(tracker) >= needed:
            return [Handoff(reason=Reason.KB_CLARIFY.value)]
        return []

    def close(self) -> None:
        return None


def clarifications_in_a_row(tracker: Tracker) -> int:
    """How many of the latest customer messages in a row the KB answered with "您是想问…"."""
    count, clarified = 0, False
    for event in reversed(tracker.events):
        if isinstance(event, Handoff):
            break
        if isinstance(event, KnowledgeBaseAnswered) and event.outcome == "clarify":
            clarified = True
        elif isinstance(event, UserUttered):
            if not clarified:
                break
            count, clarified = count + 1, False
        elif isinstance(event, BotUttered) and event.metadata.get("agent_id"):
            break
    return count
