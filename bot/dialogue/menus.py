"""Numbered menus: a customer who answers a bot message's buttons with a number chose that button.

Channels without clickable buttons (WeChat text, SMS, the phone) show buttons as a numbered
list ("1. 查话费"); the engine maps a bare number ("2", "２", "二", "第2个", "选2") to the
button's payload, as long as the latest bot message before it had buttons. Buttons whose
titles already start with their own distinct numbers ("5 非常满意", "4 满意", …) keep those
numbers; otherwise the number is the button's 1-based position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.dialogue.events import BotUttered
from bot.dialogue.tracker import Tracker

_CHOICE = re.compile(
    r"^(?:选|选择|按)?\s*第?\s*([0-9０-９]{1,2}|[一二三四五六七八九十])\s*(?:个|项|号|条)?\s*[.。、!！]?$"
)
_LABEL = re.compile(r"^\s*([0-9]{1,2})(?=[\s.、:：)）]|$)")
_CN = {c: i for i, c in enumerate("一二三四五六七八九十", start=1)}


def number_of(text: str) -> int | None:
    """The number a short answer names ("2", "２", "二", "第2个"), or None."""
    match = _CHOICE.match(text.strip())
    if match is None:
        return None
    raw = match.group(1)
    return _CN.get(raw) or int(raw.translate(_FULLWIDTH))


_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def keys(buttons: Sequence[Mapping[str, Any]]) -> list[int]:
    """The number that picks each button: its title's own number, else its position."""
    labels = [_LABEL.match(str(b.get("title", ""))) for b in buttons]
    numbers = [int(m.group(1)) for m in labels if m]
    if len(numbers) == len(buttons) and len(set(numbers)) == len(numbers):
        return numbers
    return list(range(1, len(buttons) + 1))


def last_buttons(tracker: Tracker) -> list[Mapping[str, Any]]:
    """The buttons of the latest bot message with buttons since the customer last spoke."""
    for event in reversed(tracker.events_after_latest_user()):
        if isinstance(event, BotUttered) and event.data.get("buttons"):
            return [b for b in event.data["buttons"] if isinstance(b, Mapping) and b.get("payload")]
    return []


def menu_choice(tracker: Tracker, text: str) -> str | None:
    """The payload a numbered answer picks from the latest bot message's buttons, or None."""
    number = number_of(text)
    if number is None:
        return None
    buttons = last_buttons(tracker)
    for key, button in zip(keys(buttons), buttons, strict=True):
        if key == number:
            return str(button["payload"])
    return None
