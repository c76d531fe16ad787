"""The context packet an agent gets with a handed-off conversation, and its masked copy.

`build_context` reads the whole tracker (every session): the transcript (last 300 lines), a
short summary (what the customer asked about, what they told us, what the bot could not
answer, why the bot gave up), the NLU's best guesses for the latest message and, when a
suggester is given, knowledge-base entries for the unanswered question (agent assist).
`mask_packet` hides personal data for agents who may not see it. The packet is stored as JSON
(`to_dict` / `from_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from bot.dialogue.events import BotUttered, Event, UserUttered
from bot.dialogue.tracker import Tracker
from bot.handoff.pii import mask_slot, mask_text, pii_kind
from bot.handoff.types import ChatLine, Reason
from bot.kb.service import KnowledgeBase
from bot.nlu.types import IntentScore

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

TRANSCRIPT_LIMIT = 300
PATH_LIMIT = 10
RANKING_LIMIT = 5
QUOTE_LIMIT = 60  # characters of the unanswered question quoted in the summary sentence

REASON_TEXTS: Mapping[str, str] = {
    Reason.CUSTOMER_REQUEST: "客户主动要求转人工",
    Reason.FALLBACK: "机器人两次未能理解",
    Reason.COMPLAINT: "客户情绪激动/投诉",
    Reason.NEGATIVE_SENTIMENT: "客户情绪激动/投诉",
    Reason.KB_CLARIFY: "知识库连续多次未能确定问题",
    Reason.RULE: "业务规则转人工",
    Reason.DIFFICULT_CUSTOMER: "难应付客户（专家组）",
}
PII_LABELS: Mapping[str, str] = {
    "phone": "手机号",
    "landline": "座机",
    "id_card": "身份证号",
    "id_tail": "身份证后四位",
    "bank_card": "银行卡号",
    "email": "邮箱",
}
INTERNAL_SLOTS = frozenset({"requested_slot", "session_started_metadata"})
IGNORED_INTENTS = frozenset({"", "nlu_fallback"})
_REQUEST_WORDS = ("人工", "客服")


def default_is_request(text: str) -> bool:
    """A simple stand-in for the human-request detector: 人工 / 转人工 / 客服."""
    return any(word in text for word in _REQUEST_WORDS)


@dataclass(slots=True)
class KBSuggestion:
    entry_id: str
    question: str
    answer: str
    score: float


@dataclass(slots=True)
class Summary:
    intent_path: list[str] = field(default_factory=list)
    slots: dict[str, str] = field(default_factory=dict)
    unanswered: str | None = None
    text: str = ""


@dataclass(slots=True)
class ContextPacket:
    summary: Summary
    transcript: list[ChatLine]
    profile: dict[str, str]
    reason: str
    reason_text: str
    nlu_ranking: list[IntentScore] = field(default_factory=list)
    kb_suggestions: list[KBSuggestion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ContextPacket:
        return cls(
            summary=_make(Summary, d.get("summary") or {}),
            transcript=[_make(ChatLine, c) for c in d.get("transcript") or []],
            profile={str(k): str(v) for k, v in (d.get("profile") or {}).items()},
            reason=str(d.get("reason") or ""),
            reason_text=str(d.get("reason_text") or ""),
            nlu_ranking=[_make(IntentScore, r) for r in d.get("nlu_ranking") or []],
            kb_suggestions=[_make(KBSuggestion, k) for k in d.get("kb_suggestions") or []],
        )


def _make(cls: type[T], d: Mapping[str, Any]) -> T:
    """A dataclass from its `asdict` form (unknown keys, e.g. from a newer version, ignored)."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------- transcript
def _user_text(event: UserUttered) -> str:
    return str(event.metadata.get("display_text") or event.text or "")


def _user_line(event: Event) -> ChatLine | None:
    assert isinstance(event, UserUttered)
    text = _user_text(event)
    return ChatLine("user", text, event.timestamp) if text else None


def _bot_line(event: Event) -> ChatLine | None:
    assert isinstance(event, BotUttered)
    text = event.text or ""
    titles = [str(b.get("title")) for b in event.data.get("buttons") or [] if b.get("title")]
    if titles:
        text = f"{text} [选项：{' / '.join(titles)}]".strip()
    if not text and event.data.get("image"):
        text = "[图片]"
    if not text:
        return None
    agent_id = event.metadata.get("agent_id")
    if agent_id:
        return ChatLine("agent", text, event.timestamp, str(agent_id))
    role = "system" if event.metadata.get("handoff_notice") else "bot"
    return ChatLine(role, text, event.timestamp)


_LINES: dict[type[Event], Callable[[Event], ChatLine | None]] = {
    UserUttered: _user_line,
    BotUttered: _bot_line,
}


def transcript(events: list[Event], limit: int = TRANSCRIPT_LIMIT) -> list[ChatLine]:
    lines: list[ChatLine] = []
    for event in events:
        make = _LINES.get(type(event))
        line = make(event) if make is not None else None
        if line is not None:
            lines.append(line)
    return lines[-limit:] if limit else lines


# ---------------------------------------------------------------- summary
def _users(events: list[Event]) -> list[UserUttered]:
    return [e for e in events if isinstance(e, UserUttered)]


def intent_path(users: list[UserUttered], limit: int = PATH_LIMIT) -> list[str]:
    path: list[str] = []
    for event in users:
        name = event.intent_name or ""
        if name not in IGNORED_INTENTS and (not path or path[-1] != name):
            path.append(name)
    return path[-limit:]


_SLOT_TEXT: dict[type, Callable[[Any], str]] = {
    bool: lambda v: "是" if v else "否",
    list: lambda v: "、".join(str(x) for x in v),
    dict: lambda v: json.dumps(v, ensure_ascii=False),
    float: lambda v: str(int(v)) if v.is_integer() else str(v),
}


def filled_slots(tracker: Tracker) -> dict[str, str]:
    """Slots with a value of their own: set, not empty, not internal, not the initial value."""
    out: dict[str, str] = {}
    for name, value in tracker.slots.items():
        if name in INTERNAL_SLOTS or name.startswith(("_", "kb_")):
            continue
        slot = tracker.slot_defs.get(name)
        if value in (None, "", [], {}) or (slot is not None and value == slot.initial_value):
            continue
        out[name] = _SLOT_TEXT.get(type(value), str)(value)
    return out


def unanswered(users: list[UserUttered], is_request: Callable[[str], bool]) -> str | None:
    """The last thing the customer said that is not a request for a human (nor a bare
    button payload): the question the bot could not settle."""
    for event in reversed(users):
        text = _user_text(event).strip()
        if text and not text.startswith("/") and not is_request(text):
            return text
    return None


def _quote(text: str) -> str:
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 1] + "…"


def summary_text(
    summary: Summary,
    reason_text: str,
    intent_titles: Mapping[str, str],
    slot_titles: Mapping[str, str],
) -> str:
    parts: list[str] = []
    if summary.intent_path:
        titles = [intent_titles.get(i, i) for i in summary.intent_path]
        verb = "先后咨询了" if len(titles) > 1 else "咨询了"
        parts.append(f"客户{verb}：{' → '.join(titles)}")
    if summary.slots:
        given = [f"{_slot_title(n, slot_titles)} {v}" for n, v in summary.slots.items()]
        parts.append("已提供" + "、".join(given))
    if summary.unanswered:
        parts.append(f"机器人未能回答：“{_quote(summary.unanswered)}”")
    parts.append(f"转人工原因：{reason_text}")
    return "；".join(parts) + "。"


def _slot_title(name: str, slot_titles: Mapping[str, str]) -> str:
    kind = pii_kind(name)
    return slot_titles.get(name) or (PII_LABELS[kind] if kind else name)


# ---------------------------------------------------------------- building
def build_context(
    tracker: Tracker,
    reason: str,
    *,
    profile: Mapping[str, str] | None = None,
    suggest: Callable[[str], list[KBSuggestion]] | None = None,
    intent_titles: Mapping[str, str] | None = None,
    is_request: Callable[[str], bool] | None = None,
    slot_titles: Mapping[str, str] | None = None,
) -> ContextPacket:
    events = list(tracker.events)
    users = _users(events)
    reason_text = REASON_TEXTS.get(reason, reason)
    summary = Summary(
        intent_path=intent_path(users),
        slots=filled_slots(tracker),
        unanswered=unanswered(users, is_request or default_is_request),
    )
    summary.text = summary_text(summary, reason_text, intent_titles or {}, slot_titles or {})
    return ContextPacket(
        summary=summary,
        transcript=transcript(events),
        profile={str(k): str(v) for k, v in (profile or {}).items() if v not in (None, "")},
        reason=str(reason),
        reason_text=reason_text,
        nlu_ranking=latest_ranking(users),
        kb_suggestions=suggest(summary.unanswered) if suggest and summary.unanswered else [],
    )


def latest_ranking(users: list[UserUttered], limit: int = RANKING_LIMIT) -> list[IntentScore]:
    parsed = next((e.parse_data for e in reversed(users) if e.parse_data is not None), None)
    if parsed is None:
        return []
    ranking = parsed.ranking or ([parsed.intent] if parsed.intent.name else [])
    return sorted(ranking, key=lambda r: r.confidence, reverse=True)[:limit]


def kb_suggester(
    kb: KnowledgeBase, limit: int = 3, channel: str | None = None
) -> Callable[[str], list[KBSuggestion]]:
    """Agent assist: the knowledge base's best entries for a question, best first."""

    def suggest(query: str) -> list[KBSuggestion]:
        out: list[KBSuggestion] = []
        for hit in kb.search(query, channel=channel, k=limit):
            entry = kb.entry(hit.entry_id)
            if entry is not None:
                out.append(KBSuggestion(entry.id, entry.question, entry.answer.text, hit.score))
        return out

    return suggest


# ---------------------------------------------------------------- masking
def mask_packet(packet: ContextPacket) -> ContextPacket:
    """A copy with personal data masked: slots and profile by name (else by text), every
    free text by pattern, and the raw values of PII slots wherever they appear."""
    slots = {n: mask_slot(n, v) for n, v in packet.summary.slots.items()}
    profile = {k: mask_slot(k, v) for k, v in packet.profile.items()}
    known = {
        raw: masked
        for values, masked_values in ((packet.summary.slots, slots), (packet.profile, profile))
        for name, raw in values.items()
        if pii_kind(name) and len(raw) >= 4 and (masked := masked_values[name]) != raw
    }
    secrets = sorted(known.items(), key=lambda kv: -len(kv[0]))

    def clean(text: str) -> str:
        for raw, masked in secrets:
            text = text.replace(raw, masked)
        return mask_text(text)

    s = packet.summary
    summary = Summary(
        intent_path=list(s.intent_path),
        slots=slots,
        unanswered=None if s.unanswered is None else clean(s.unanswered),
        text=clean(s.text),
    )
    return replace(
        packet,
        summary=summary,
        transcript=[replace(line, text=clean(line.text)) for line in packet.transcript],
        profile=profile,
        nlu_ranking=list(packet.nlu_ranking),
        kb_suggestions=[replace(k) for k in packet.kb_suggestions],
    )
