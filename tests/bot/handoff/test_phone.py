"""Handoffs carried out by a PBX (SIP REFER / bridge): handed over, or a ticket on failure."""

from __future__ import annotations

from bot.dialogue.events import BotUttered
from bot.handoff.phone import handed_over, transfer_failed
from bot.handoff.types import State
from tests.bot.handoff import test_service
from tests.bot.handoff.test_service import World, state_of

world = test_service.world  # the handoff service with its store, a clock and fake channels


async def test_a_phone_call_waits_for_the_pbx_even_with_nobody_in_the_console(
    world: World,
) -> None:
    _, out = await world.open("sip-1", settle=False)
    assert state_of(out).state == "ticket"  # a web chat with nobody online: a ticket
    world.svc.phone_calls.add("sip-2")
    event, out = await world.open("sip-2")
    assert state_of(out).state == "queued"  # the PBX queue staffs phone calls
    assert (await world.get(event.handoff_id)).state == State.QUEUED


async def test_a_handed_over_call_leaves_the_console_queue(world: World) -> None:
    world.svc.phone_calls.add("sip-3")
    event, _ = await world.open("sip-3")
    assert event.handoff_id and await handed_over(world.svc, event.handoff_id, "refer")
    h = await world.get(event.handoff_id)
    assert h.state == State.ENDED and h.ended_by == "phone" and h.ended_at is not None
    assert "sip-3" not in world.svc.active
    assert world.states("sip-3")[-1] == "ended"
    assert not await handed_over(world.svc, event.handoff_id, "refer")  # only once


async def test_a_failed_transfer_becomes_a_ticket_and_tells_the_caller(world: World) -> None:
    world.svc.phone_calls.add("sip-4")
    event, _ = await world.open("sip-4")
    assert event.handoff_id
    ticket = await transfer_failed(world.svc, event.handoff_id)
    assert ticket and ticket.startswith("GD")
    h = await world.get(event.handoff_id)
    assert h.state == State.TICKET and h.ticket_no == ticket and h.ended_by == "phone"
    apology = [e for e in world.events["sip-4"] if isinstance(e, BotUttered)][-1]
    assert ticket in (apology.text or "") and "无法接通" in (apology.text or "")
    _, delivered_to, _ = world.delivered[-1]
    assert delivered_to == "sip-4"
    assert await transfer_failed(world.svc, event.handoff_id) is None  # no second ticket


async def test_a_handoff_taken_in_the_console_is_not_handed_over(world: World) -> None:
    world.svc.phone_calls.add("sip-5")
    event, _ = await world.open("sip-5")
    assert event.handoff_id
    await world.svc.cancel("sip-5")
    assert not await handed_over(world.svc, event.handoff_id, "bridge")
    assert await transfer_failed(world.svc, event.handoff_id) is None
