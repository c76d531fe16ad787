"""Transfers from the IVR to human agents over SIP.

When the engine opens a handoff on a SIP call and the skill group has an agent-queue URI:
1. the caller hears the bot's handoff notice, then a hold prompt that cannot be interrupted;
2. **REFER** (blind transfer) to `<queue-uri?X-Zhike-Handoff=<id>>`: the PBX sends the new
   INVITE with the handoff id, so the agent console opens the context packet
   (`GET /api/agent/handoffs/{id}`); on success the stack ends our leg;
3. if the far end refuses REFER (many trunks do) or it fails: a **bridge** — we call the
   queue ourselves (the id as an `X-Zhike-Handoff` header) and relay both lines;
4. if nobody answers: the handoff becomes a ticket and the caller hears an apology with its
   number (`utter_handoff_phone_failed`); the bot carries on.
`mode` picks refer, bridge or refer_then_bridge (the default). Without a URI for the group,
the handoff stays in the console queue (agents answer by text, the caller hears them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voice.telephony.backend import DialFailed, SipBackend, SipCall, TransferRefused

if TYPE_CHECKING:
    from voice.telephony.config import TransferConfig
    from voice.telephony.session import SipSession

log = logging.getLogger(__name__)
HOLD_TEXT = "正在为您转接人工客服，请不要挂机。"
SORRY_TEXT = "非常抱歉，人工客服暂时无法接通。小知继续为您服务，还有什么可以帮您？"
NOTICE_WAIT_S = 20.0  # the bot's handoff notice may take this long to be said
WAITING = ("queued", "assigned")

# (handoff id, how) -> True when the handoff was still waiting; and handoff id -> ticket no.
HandedOver = Callable[[str, str], Awaitable[bool]]
Failed = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    result: str  # transferred | bridged | transfer_failed | skipped
    detail: str = ""


def target_uri(uri: str, header: str, handoff_id: str) -> str:
    """The Refer-To value: the queue URI with the handoff id as a URI header (RFC 3261 19.1.1)."""
    base = uri.strip().strip("<>")
    joiner = "&" if "?" in base else "?"
    return f"<{base}{joiner}{header}={handoff_id}>"


class Transferor:
    def __init__(
        self,
        config: TransferConfig,
        backend: SipBackend,
        handed_over: HandedOver,
        failed: Failed,
    ) -> None:
        self.config, self.backend = config, backend
        self._handed_over, self._failed = handed_over, failed
        self.busy = False  # a transfer is under way (its outcome must still be recorded)

    async def follow(self, session: SipSession) -> None:
        """Carry out every handoff the call opens (outcomes in `session.transfers`)."""
        while True:
            meta = await session.new_handoffs.get()
            self.busy = True
            try:
                outcome = await self.transfer(session, meta)
            finally:
                self.busy = False
            session.transfers.append(outcome)
            session.call.note("transfer", f"{outcome.result} {outcome.detail}".strip())
            if outcome.result in ("transferred", "bridged"):
                return

    async def transfer(self, session: SipSession, meta: Mapping[str, str]) -> Outcome:
        handoff_id, group = meta.get("handoff_id", ""), meta.get("skill_group", "")
        uri = self.config.uri_for(group)
        if not uri or not handoff_id:
            return Outcome("skipped", "no queue URI" if handoff_id else "no handoff id")
        if session.call.handoff_state() not in WAITING:
            return Outcome("skipped", "not waiting")  # a ticket (after hours) or already taken
        await session.played(NOTICE_WAIT_S)
        await session.call.announce(HOLD_TEXT)
        await session.played(NOTICE_WAIT_S)
        if session.line.closed:
            return Outcome("skipped", "caller gone")
        mode, timeout = self.config.mode, self.config.timeout_s
        if mode in ("refer", "refer_then_bridge"):
            refer = target_uri(uri, self.config.header, handoff_id)
            try:
                await session.line.transfer(refer, timeout)
                session.handed_over = True
                await self._handed_over(handoff_id, "refer")
                return Outcome("transferred", uri)
            except TransferRefused as exc:
                log.warning("sip: REFER for handoff %s refused: %s", handoff_id, exc.en)
                if mode == "refer" or session.line.closed:
                    return await self._give_up(session, handoff_id, "refer refused")
        return await self._bridge(session, uri, handoff_id, timeout)

    async def _bridge(
        self, session: SipSession, uri: str, handoff_id: str, timeout: float
    ) -> Outcome:
        try:
            agent = await self.backend.dial(uri, {self.config.header: handoff_id}, timeout)
        except DialFailed as exc:
            log.warning("sip: bridge for handoff %s failed: %s", handoff_id, exc.en)
            return await self._give_up(session, handoff_id, exc.outcome)
        if session.line.closed:
            await agent.hangup()
            return Outcome("skipped", "caller gone")
        session.bridge = agent
        await self._handed_over(handoff_id, "bridge")
        task = asyncio.create_task(_hang_up_together(session, agent))
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)
        return Outcome("bridged", uri)

    async def _give_up(self, session: SipSession, handoff_id: str, why: str) -> Outcome:
        ticket = await self._failed(handoff_id)  # the apology with the number is spoken
        if ticket is None and not session.line.closed:
            await session.call.announce(SORRY_TEXT)
        return Outcome("transfer_failed", f"{why}; ticket {ticket or '-'}")


async def _hang_up_together(session: SipSession, agent: SipCall) -> None:
    """A bridge ends when either side hangs up."""
    caller = asyncio.ensure_future(session.line.wait_closed())
    callee = asyncio.ensure_future(agent.wait_closed())
    _, pending = await asyncio.wait({caller, callee}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    session.handed_over = True
    await agent.hangup()
    await session.line.hangup()
