"""What the agent console and `GET /api/handoffs` show of a handoff (JSON-ready dicts).

The context packet is rebuilt from the current tracker for the detail view (the transcript
must include what was said after the handoff began) and masked unless the agent may see
personal data.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.dialogue.tracker import Tracker
from bot.handoff.context import REASON_TEXTS, ContextPacket, mask_packet, transcript
from bot.handoff.pii import mask_text
from bot.handoff.types import Agent, ChatLine, Handoff, State


def item(h: Handoff, now: float, position: int = 0, masked: bool = True) -> dict[str, Any]:
    summary = h.context.get("summary", {}) if isinstance(h.context, dict) else {}
    profile = h.context.get("profile", {}) if isinstance(h.context, dict) else {}
    one_line = str(summary.get("text") or "")
    started = h.accepted_at or h.ended_at or now
    return {
        "handoff_id": h.handoff_id,
        "conversation_id": h.conversation_id,
        "channel": h.channel,
        "customer_id": mask_text(h.customer_id) if masked else h.customer_id,
        "reason": h.reason,
        "reason_text": REASON_TEXTS.get(h.reason, h.reason),
        "skill_group": h.skill_group,
        "state": h.state.value,
        "priority": h.priority,
        "agent_id": h.agent_id,
        "created_at": h.created_at,
        "queued_at": h.queued_at,
        "assigned_at": h.assigned_at,
        "accepted_at": h.accepted_at,
        "ended_at": h.ended_at,
        "wait_seconds": round(max(0.0, started - h.queued_at), 1),
        "position": position,
        "ticket_no": h.ticket_no,
        "summary": mask_text(one_line) if masked else one_line,
        "vip_level": profile.get("会员等级"),
        "difficult": "客户标记" in profile,
        "survey_score": h.survey_score,
    }


def queue_positions(handoffs: list[Handoff]) -> dict[str, int]:
    """1-based queue places of the queued handoffs among `handoffs`, per skill group, in the
    store's queue order (priority, then who entered first) — one pass, no store reads."""
    queued = sorted(
        (h for h in handoffs if h.state == State.QUEUED),
        key=lambda h: (h.skill_group, -h.priority, h.queued_at, h.created_at, h.handoff_id),
    )
    places: dict[str, int] = {}
    counts: dict[str, int] = {}
    for h in queued:
        counts[h.skill_group] = counts.get(h.skill_group, 0) + 1
        places[h.handoff_id] = counts[h.skill_group]
    return places


def may_see_pii(agent: Agent, pii_roles: tuple[str, ...]) -> bool:
    return agent.can_see_pii or agent.role in pii_roles


def detail(
    h: Handoff, tracker: Tracker | None, now: float, position: int, show_pii: bool
) -> dict[str, Any]:
    packet = ContextPacket.from_dict(h.context) if h.context else None
    out = item(h, now, position, masked=not show_pii)
    if packet is not None:
        if tracker is not None:
            packet.transcript = transcript(tracker.events)
        if not show_pii:
            packet = mask_packet(packet)
        out["context"] = packet.to_dict()
    out["masked"] = not show_pii
    return out


def line(chat: ChatLine, show_pii: bool) -> dict[str, Any]:
    out = asdict(chat)
    if not show_pii:
        out["text"] = mask_text(chat.text)
    return out


def agent_info(agent: Agent) -> dict[str, Any]:
    return {
        "agent_id": agent.agent_id,
        "name": agent.name,
        "role": agent.role,
        "groups": list(agent.groups),
        "max_concurrent": agent.max_concurrent,
        "can_see_pii": agent.can_see_pii,
    }
