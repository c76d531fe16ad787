"""Handoffs carried out by a telephone system (a SIP REFER or bridge to a PBX agent queue).

The phone channel opens the handoff like every channel (the context packet is stored and the
agent console can open it by id); the PBX, not our queue, connects the caller to an agent:
- `handed_over`: the PBX took the call: the handoff ends (`ended_by="phone"`), so no console
  agent is offered a call that has left us;
- `transfer_failed`: nobody could be reached: the handoff becomes a numbered ticket and the
  caller hears an apology with the ticket number; the bot carries on.
"""

from __future__ import annotations

from dataclasses import replace

from bot.handoff import machine
from bot.handoff.service import HandoffService
from bot.handoff.types import ACTIVE_STATES, Handoff


async def _active(service: HandoffService, handoff_id: str) -> Handoff | None:
    h = await service.store.get(handoff_id)
    return h if h is not None and h.state in ACTIVE_STATES else None


async def handed_over(service: HandoffService, handoff_id: str, how: str) -> bool:
    """The call went to a PBX agent (`how`: refer | bridge); False when the handoff had
    already left the queue (an agent took it in the console, the caller cancelled)."""
    h = await _active(service, handoff_id)
    if h is None or not machine.allowed(h.state, "phone_transfer"):
        return False
    now = service.clock()
    h = await service.save_checked(
        replace(machine.apply(h, "phone_transfer", now), ended_by="phone")
    )
    await service.record(h, [service.state_event(h, transferred_by=how)])
    return True


async def transfer_failed(service: HandoffService, handoff_id: str) -> str | None:
    """The handoff becomes a ticket; its number (None when the handoff is no longer waiting).
    The apology with the number is delivered to the caller through the channel."""
    h = await _active(service, handoff_id)
    if h is None or not machine.allowed(h.state, "timeout"):
        return None
    now = service.clock()
    h = await service.save_checked(replace(machine.apply(h, "timeout", now), ended_by="phone"))
    ticket = await service.new_ticket(h, now)
    h = await service.save_checked(replace(h, ticket_no=ticket.ticket_no))
    notice = service.notice("utter_handoff_phone_failed", ticket_no=ticket.ticket_no)
    await service.record(h, [service.state_event(h, cause="phone_transfer_failed"), notice])
    return ticket.ticket_no
