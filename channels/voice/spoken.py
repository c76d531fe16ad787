"""The bot's messages as the caller hears them: text, and buttons as a keypad menu.

Buttons become "按1，查话费；按2，办套餐。" (the numbers the engine maps back to the buttons,
see `bot/dialogue/menus.py`), so the caller may press the key or say the words. Links and
images have nothing to say; a message may be marked `non_interruptible` (legal notices).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.dialogue.menus import keys
from bot.messages import Button, OutboundMessage

_LABEL = re.compile(r"^\s*[0-9]{1,2}(?=[\s.、:：)）]|$)[\s.、:：)）]*")


@dataclass(frozen=True, slots=True)
class Utterance:
    text: str
    interruptible: bool = True
    menu: bool = False


def menu_text(buttons: list[Button]) -> str:
    numbers = keys([{"title": b.title} for b in buttons])
    own = numbers != list(range(1, len(buttons) + 1)) or all(
        _LABEL.match(b.title) for b in buttons
    )  # the titles carry their own numbers ("5 非常满意"): say them once, not twice
    choices = [
        f"按{n}，{_LABEL.sub('', b.title, count=1).strip() if own else b.title}"
        if n < 10
        else b.title
        for n, b in zip(numbers, buttons, strict=True)
    ]
    return "；".join(choices) + "。"


def speak(messages: list[OutboundMessage]) -> list[Utterance]:
    """What to say for one turn's messages (handoff/hangup are the call's business)."""
    out = []
    for message in messages:
        text = message.text.strip()
        if message.buttons:
            text = (
                f"{text}{'' if text.endswith(('。', '？', '！', '：')) else '。'}" if text else ""
            )
            text += menu_text(message.buttons)
        if text:
            keep = not message.metadata.get("non_interruptible")
            out.append(Utterance(text, keep, bool(message.buttons)))
    return out
