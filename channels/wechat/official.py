"""The Official Account (公众号) channel: `GET/POST /webhooks/wechat`.

- **Verification**: every request carries `signature` (plain) or `msg_signature` (AES) over the
  token, timestamp and nonce, checked with `hmac.compare_digest`; timestamps older than
  `max_clock_skew` are replays. `mode: safe` refuses plaintext posts, `plain` refuses AES ones.
- **The 5-second rule**: WeChat waits 5 s for the answer to a POST. A turn that finishes
  within `reply_deadline` (4 s) is answered passively (its first message; any further ones go
  out as 客服消息); a slower one is answered `success` at once, and all its messages are sent
  through the customer-service message API when it finishes.
- **Retries**: WeChat re-posts an unanswered message up to 3 times. Each message is claimed
  once by its `MsgId` (events: sender + CreateTime) in the shared channel state, so a retry
  never runs a turn twice; a retry reaching the worker that runs the turn gets the same answer.
- **Handoff**: `handoff: console` queues in our agent console (agents' messages come back
  through `send()` as 客服消息); `handoff: wechat` answers `transfer_customer_service` so
  WeChat's own 多客服 takes the conversation.
- **Voice**: WeChat's `Recognition` text when it sent one; otherwise, with an ASR configured
  (`ServerState.asr`), the turn task downloads the voice media, decodes and recognises it
  (so a slow recognition falls under the 5-second rule like any slow turn); without an ASR,
  or when any step fails, the customer is politely asked to say it again or type.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from bot.handoff.service import HandoffService
from bot.messages import OutboundMessage
from bot.server.errors import ApiError
from bot.server.holder import EngineHolder
from bot.server.schemas import error_responses
from channels.wechat import inbound
from channels.wechat.api import OfficialAPI, WeChatAPIError
from channels.wechat.crypto import CryptoRejected, MessageCrypto, check_signature, check_timestamp
from channels.wechat.official_config import OfficialConfig
from channels.wechat.render import Part, render_oa
from channels.wechat.state import ChannelState
from channels.wechat.xmlmsg import (
    WeChatMessage,
    XMLRejected,
    message_from_fields,
    news_reply,
    parse_xml,
    text_reply,
    transfer_reply,
)
from voice.asr.base import AsrError
from voice.audio import AudioError
from voice.decode import transcribe_audio

if TYPE_CHECKING:
    from bot.server.state import ServerState
    from voice.asr.base import AsrEngine

log = logging.getLogger(__name__)
SUCCESS = "success"
REMEMBER_REPLIES = 60.0  # seconds a finished passive reply is kept for WeChat's retries
ASR_TIMEOUT = 30.0  # seconds to recognise one voice message (WeChat's are at most 60 s)
_XML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/xml": {"schema": {"type": "string"}}},
        "description": "WeChat's message XML (plain, or an `<Encrypt>` envelope in AES modes)",
    }
}
_TEXT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {}, "application/xml": {}}, "description": "reply"}
}


@dataclass(slots=True)
class Signed:
    """What the query string says about one request."""

    timestamp: str
    nonce: str
    signature: str
    msg_signature: str
    encrypted: bool

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Signed:
        return cls(
            timestamp=query.get("timestamp", ""),
            nonce=query.get("nonce", ""),
            signature=query.get("signature", ""),
            msg_signature=query.get("msg_signature", ""),
            encrypted=query.get("encrypt_type", "").lower() == "aes",
        )


@dataclass(slots=True)
class Running:
    """A turn in flight (or just finished) for one WeChat message key."""

    task: asyncio.Task[list[OutboundMessage]]
    reply: str | None = None  # the passive reply XML once sent
    async_delivery: bool = False  # its messages go out as 客服消息
    done_at: float = 0.0


def rejected(status: int, code: str, zh: str, en: str) -> ApiError:
    return ApiError(status, code, zh, en)


def _forbidden(code: str) -> ApiError:
    return rejected(403, code, "请求签名校验失败。", f"request rejected: {code}")


class OfficialChannel:
    name = inbound.CHANNEL

    def __init__(
        self,
        holder: EngineHolder,
        config: OfficialConfig,
        state: ChannelState,
        api: OfficialAPI,
        handoff: HandoffService | None = None,
        clock: Callable[[], float] = time.time,
        asr: Callable[[], AsrEngine | None] | None = None,
    ) -> None:
        """`asr`: gives the speech recogniser (or None); blocking, called in a worker thread."""
        self.holder, self.config, self.state, self.api = holder, config, state, api
        self.handoff = handoff
        self.clock = clock
        self.asr = asr
        self.crypto = (
            MessageCrypto(config.token, config.encoding_aes_key, config.app_id)
            if config.encoding_aes_key
            else None
        )
        self._running: dict[str, Running] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        if handoff is not None and config.handoff == "wechat":
            handoff.native_channels.add(self.name)

    # ------------------------------------------------------------ HTTP
    def router(self) -> APIRouter:
        router = APIRouter(tags=["Channel: WeChat Official Account"])
        errors = error_responses(400, 403, 413)

        @router.get(
            "/webhooks/wechat",
            summary="WeChat server URL verification (echostr)",
            response_class=Response,
            responses={**_TEXT, **errors},
        )
        async def verify(request: Request) -> Response:
            return PlainTextResponse(self.verify(dict(request.query_params)))

        @router.post(
            "/webhooks/wechat",
            summary="WeChat messages and events (plain, compatible or safe mode)",
            response_class=Response,
            responses={**_TEXT, **errors},
            openapi_extra=_XML_BODY,
        )
        async def receive(request: Request) -> Response:
            body = await request.body()
            reply = await self.receive(dict(request.query_params), body)
            media = "text/plain" if reply == SUCCESS else "application/xml"
            return Response(reply, media_type=media)

        return router

    def verify(self, query: Mapping[str, str]) -> str:
        """WeChat's GET check: the echostr back when the signature is ours."""
        signed = Signed.of(query)
        self._check_time(signed)
        try:
            check_signature(signed.signature, self.config.token, signed.timestamp, signed.nonce)
        except CryptoRejected as exc:
            log.warning("wechat verification rejected: %s", exc.code)
            raise _forbidden(exc.code) from None
        return query.get("echostr", "")

    async def receive(self, query: Mapping[str, str], body: bytes) -> str:
        signed = Signed.of(query)
        self._check_time(signed)
        msg = self._open(signed, body)
        reply = await self._answer(msg)
        if reply == SUCCESS or not signed.encrypted or self.crypto is None:
            return reply
        return self.crypto.encrypt(reply, signed.nonce, str(int(self.clock())))

    def _check_time(self, signed: Signed) -> None:
        try:
            check_timestamp(signed.timestamp, self.clock(), self.config.max_clock_skew)
        except CryptoRejected as exc:
            log.warning("wechat request rejected: %s (timestamp %r)", exc.code, signed.timestamp)
            raise _forbidden(exc.code) from None

    def _open(self, signed: Signed, body: bytes) -> WeChatMessage:
        """Verify, decrypt and parse one POST body; 400/403 with a log line when it is bad."""
        try:
            fields = parse_xml(body)
            if signed.encrypted:
                fields = parse_xml(self._decrypt(signed, fields))
            else:
                if self.config.mode == "safe":
                    raise CryptoRejected("plaintext_refused")
                check_signature(signed.signature, self.config.token, signed.timestamp, signed.nonce)
            return message_from_fields(fields)
        except CryptoRejected as exc:
            log.warning("wechat message rejected: %s", exc.code)
            if exc.code == "decrypt_failed":
                raise rejected(400, exc.code, "消息解密失败。", "cannot decrypt") from None
            raise _forbidden(exc.code) from None
        except XMLRejected as exc:
            log.warning("wechat message rejected: %s", exc.code)
            status = 413 if exc.code == "xml_too_large" else 400
            raise rejected(status, exc.code, "消息格式无效。", f"bad XML: {exc.code}") from None

    def _decrypt(self, signed: Signed, fields: Mapping[str, str]) -> str:
        if self.crypto is None or self.config.mode == "plain":
            raise CryptoRejected("missing_key")
        return self.crypto.decrypt(fields, signed.msg_signature, signed.timestamp, signed.nonce)

    # ------------------------------------------------------------ turns
    async def _answer(self, msg: WeChatMessage) -> str:
        key = msg.dedup_key
        running = self._running.get(key)
        if running is not None:  # WeChat's retry reached the worker that runs the turn
            return await self._wait(msg, running, retry=True)
        if not await self.state.claim(self.name, f"{self.config.app_id}:{key}"):
            log.info("wechat retry of %s ignored: already handled", key)
            return SUCCESS
        decision = inbound.decide(msg, self.config.subscribe_payload or None)
        listen = bool(decision.listen) and self.asr is not None
        if decision.turn is None and not listen:
            if decision.reply:
                log.info("wechat %s answered with %s %s", key, decision.reply, decision.note)
                return text_reply(
                    msg.from_user, msg.to_user, inbound.TEXTS[decision.reply], self._now()
                )
            log.info("wechat %s ignored: %s", key, decision.note or msg.kind)
            return SUCCESS
        self._prune()
        task = asyncio.create_task(self._listen(msg) if listen else self._turn(decision))
        running = self._running[key] = Running(task)
        return await self._wait(msg, running, retry=False)

    async def _turn(self, decision: inbound.Decision) -> list[OutboundMessage]:
        turn = decision.turn
        assert turn is not None
        try:
            if decision.media and not self._with_agent(turn.conversation_id):
                await self.holder.engine.log_message(turn)  # kept in the history, no bot turn
                return [OutboundMessage(kind="text", text=inbound.TEXTS["media_received"])]
            result = await self.holder.engine.handle_turn(turn)
        except Exception:
            log.exception("wechat turn failed for %s", turn.message_id)
            return [OutboundMessage(kind="text", text=inbound.TEXTS["failed"])]
        return result.messages

    async def _listen(self, msg: WeChatMessage) -> list[OutboundMessage]:
        """A voice message WeChat did not recognise: our ASR's transcript runs the turn."""
        text, nbest = await self._hear(msg)
        if not text:
            return [OutboundMessage(kind="text", text=inbound.TEXTS["voice_unclear"])]
        return await self._turn(inbound.Decision(turn=inbound.heard(msg, text, nbest)))

    async def _hear(self, msg: WeChatMessage) -> tuple[str, list[tuple[str, float]]]:
        """Download, decode and recognise the voice media; ("", []) on any failure (logged)."""
        assert self.asr is not None
        try:
            engine = await asyncio.to_thread(self.asr)
            if engine is None:
                return "", []
            media = await self.api.get_media(msg.media_id)
            hint = f"{msg.format} {media.content_type}"
            result = await transcribe_audio(engine, media.data, hint, timeout=ASR_TIMEOUT)
        except (WeChatAPIError, AudioError, AsrError) as exc:
            log.warning("wechat voice %s not recognised: %s", msg.dedup_key, exc)
            return "", []
        except Exception:
            log.exception("wechat voice %s: recognition failed", msg.dedup_key)
            return "", []
        log.info("wechat voice %s recognised in %.2fs", msg.dedup_key, result.seconds)
        return result.text, [(h.text, h.confidence) for h in result.nbest]

    def _with_agent(self, conversation_id: str) -> bool:
        return self.handoff is not None and conversation_id in self.handoff.active

    async def _wait(self, msg: WeChatMessage, running: Running, retry: bool) -> str:
        if running.reply is not None:
            return running.reply
        if running.async_delivery:
            return SUCCESS
        done, _ = await asyncio.wait({running.task}, timeout=self.config.reply_deadline)
        if running.reply is not None:  # another request for this key answered meanwhile
            return running.reply if retry else SUCCESS
        if not done:
            running.async_delivery = True
            self._spawn(self._later(msg, running))
            return SUCCESS
        reply, rest = self._passive(msg, running.task.result())
        running.reply, running.done_at = reply, self.clock()
        if rest:
            self._spawn(self._push(msg.from_user, rest))
        return reply

    def _passive(
        self, msg: WeChatMessage, messages: list[OutboundMessage]
    ) -> tuple[str, list[Part]]:
        """The passive reply XML and the parts that must follow as 客服消息."""
        now = self._now()
        parts = render_oa(messages)
        if self.config.handoff == "wechat" and any(m.kind == "handoff" for m in messages):
            notice = Part(kind="text", text=inbound.TEXTS["handoff_wechat"])
            kf = self.config.kf_account or None
            return transfer_reply(msg.from_user, msg.to_user, now, kf), [*parts, notice]
        if not parts:
            return SUCCESS, []
        first = parts[0]
        if first.kind == "news":
            xml = news_reply(
                msg.from_user, msg.to_user, first.title, first.description, first.url,
                first.pic_url, now,
            )  # fmt: skip
        else:
            xml = text_reply(msg.from_user, msg.to_user, first.text, now)
        return xml, parts[1:]

    async def _later(self, msg: WeChatMessage, running: Running) -> None:
        """A turn past the deadline: show "typing…", then send everything as 客服消息."""
        with contextlib.suppress(WeChatAPIError, OSError):
            await self.api.typing(msg.from_user)
        messages = await running.task
        running.done_at = self.clock()
        parts = render_oa(messages)
        if self.config.handoff == "wechat" and any(m.kind == "handoff" for m in messages):
            # transfer_customer_service exists only as a passive reply; too late for it now
            log.warning(
                "wechat handoff of %s came after the deadline: not transferred", msg.from_user
            )
        await self._push(msg.from_user, parts)

    async def _push(self, openid: str, parts: list[Part]) -> None:
        for part in parts:
            try:
                if part.kind == "news":
                    await self.api.send_news(
                        openid, part.title, part.description, part.url, part.pic_url
                    )
                else:
                    await self.api.send_text(openid, part.text)
            except WeChatAPIError as exc:
                log.warning(
                    "客服消息 to %s not sent: %s %s (%d part(s) dropped)",
                    openid, exc.errcode, exc.errmsg, len(parts),
                )  # fmt: skip
                return

    # ------------------------------------------------------------ outside turns
    async def send(self, conversation_id: str, messages: list[OutboundMessage]) -> None:
        """Agents' messages and notices: 客服消息 within WeChat's 48-hour window."""
        await self._push(conversation_id, render_oa(messages))

    def _now(self) -> int:
        return int(self.clock())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _prune(self) -> None:
        """Forget finished turns once WeChat can no longer retry them."""
        horizon = self.clock() - REMEMBER_REPLIES
        for key, running in list(self._running.items()):
            if running.task.done() and running.done_at and running.done_at < horizon:
                del self._running[key]

    async def close(self) -> None:
        """Let turns and deliveries in flight finish (bounded), then stop."""
        pending = [t for t in self._tasks if not t.done()]
        pending += [r.task for r in self._running.values() if not r.task.done()]
        if pending:
            await asyncio.wait(pending, timeout=10)
        for task in list(self._tasks):
            task.cancel()
        await self.api.close()


def create_channel(state: ServerState, config: Mapping[str, Any]) -> OfficialChannel:
    settings = OfficialConfig.from_mapping(config)
    api = OfficialAPI(
        settings.app_id,
        settings.app_secret,
        base_url=settings.api_base_url,
        tokens=state.wechat_tokens,
    )
    return OfficialChannel(
        state.holder, settings, state.wechat_state, api, state.handoff, asr=lambda: state.asr
    )
