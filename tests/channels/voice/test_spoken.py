"""Buttons read out as a keypad menu, with the numbers the engine maps back."""

from __future__ import annotations

from bot.messages import Button, OutboundMessage
from channels.voice.spoken import menu_text, speak


def test_titles_are_read_whole_even_when_they_start_with_digits() -> None:
    menu = menu_text([Button("5G套餐", "/a"), Button("查话费", "/b"), Button("10086", "/c")])
    assert menu == "按1，5G套餐；按2，查话费；按3，10086。"


def test_titles_with_their_own_numbers_keep_them() -> None:
    survey = [Button(f"{n} {w}", "/s") for n, w in ((5, "非常满意"), (4, "满意"), (1, "很不满意"))]
    assert menu_text(survey) == "按5，非常满意；按4，满意；按1，很不满意。"
    assert menu_text([Button("1. 查话费", "/a"), Button("2. 办套餐", "/b")]) == (
        "按1，查话费；按2，办套餐。"
    )


def test_speak_joins_text_and_menu_and_keeps_legal_notices_whole() -> None:
    message = OutboundMessage(
        kind="buttons", text="请问您要办理什么业务", buttons=[Button("查话费", "/q")]
    )
    notice = OutboundMessage(
        kind="text", text="本通话将被录音。", metadata={"non_interruptible": True}
    )
    said = speak([message, notice, OutboundMessage(kind="handoff")])
    assert [u.text for u in said] == ["请问您要办理什么业务。按1，查话费。", "本通话将被录音。"]
    assert said[0].menu and said[0].interruptible and not said[1].interruptible
