"""Outbound calls: dial a customer and start the conversation with an intent.

`place_call()` dials through the running SIP transport; when the customer answers, the bot
opens with `/<intent>` (a trigger intent, e.g. `/remind_payment`) instead of `/greet`, and the
call runs like any inbound call. Every attempt ends as one `CallAttempt` — answered (with the
conversation's own outcome), busy, no_answer, declined or failed — appended to a JSON-lines
log that campaigns read (`.zhike/outbound_calls.jsonl` by default).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voice.telephony import metrics
from voice.telephony.backend import DialFailed, caller_number

if TYPE_CHECKING:
    from channels.voice.sip import SipTransport

log = logging.getLogger(__name__)
INTENT_HEADER = "X-Zhike-Intent"
_INTENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_URI = re.compile(r"^sips?:[^\s<>\"]+$")


@dataclass(frozen=True, slots=True)
class CallAttempt:
    uri: str
    intent: str
    result: str  # answered | busy | no_answer | declined | failed
    outcome: str  # the answered call's outcome (self_service, transferred …) or = result
    conversation_id: str
    started_at: float
    seconds: float
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def check(uri: str, intent: str) -> None:
    """ValueError (Chinese / English) for a URI or intent we will not dial."""
    if not _URI.match(uri):
        raise ValueError(f"无效的 SIP 地址：{uri} / not a SIP URI: {uri}")
    if not _INTENT.match(intent):
        raise ValueError(f"无效的意图名：{intent} / not an intent name: {intent}")


async def place_call(
    transport: SipTransport, uri: str, intent: str, timeout: float = 30.0
) -> CallAttempt:
    check(uri, intent)
    started, clock = time.time(), time.monotonic()
    metrics.call_started("outbound")
    try:
        line = await transport.backend.dial(uri, {INTENT_HEADER: intent}, timeout)
    except DialFailed as exc:
        metrics.call_ended("outbound", exc.outcome, None)
        log.info("sip: outbound call to %s: %s", uri, exc.en)
        return CallAttempt(
            uri, intent, exc.outcome, exc.outcome, "", started, _since(clock), exc.en
        )
    customer = caller_number(uri) or "outbound"
    cid, outcome = await transport.run(line, "outbound", greet=f"/{intent}", caller=customer)
    return CallAttempt(uri, intent, "answered", outcome, cid, started, _since(clock))


def _since(clock: float) -> float:
    return round(time.monotonic() - clock, 2)


def record(path: Path, attempt: CallAttempt) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(attempt.to_json() + "\n")
