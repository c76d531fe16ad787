"""The engine hook: native channels hand over on their own platform, others queue here."""

from __future__ import annotations

from bot.dialogue.events import Handoff as HandoffEvent
from bot.handoff.config import handoff_settings
from bot.handoff.hook import HandoffResponder, survey_score

from .test_service import SECTION, make_world, tracker


async def test_native_channel_handoff_is_not_queued() -> None:
    world = await make_world(handoff_settings(SECTION))
    world.svc.native_channels.add("wechat")
    hook = HandoffResponder(world.svc)
    follow = await hook.open(tracker("o-native"), HandoffEvent(reason="customer_request"), "wechat")
    assert follow == []  # the engine keeps the Handoff event; the channel transfers
    assert await world.svc.store.active() == []
    await world.online("a1")
    queued = await hook.open(tracker("web-1"), HandoffEvent(reason="customer_request"), "web")
    assert queued and [h.conversation_id for h in await world.svc.store.active()] == ["web-1"]
    await world.settle()
    await world.svc.close()


def test_survey_score_reads_digits_words_and_payloads() -> None:
    assert survey_score("5") == 5
    assert survey_score("三分") == 3
    assert survey_score('/handoff_survey{"score": 2}') == 2
    assert survey_score("很满意") == 5
    assert survey_score("我要查话费") is None
