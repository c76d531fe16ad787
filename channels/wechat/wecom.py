"""The WeCom 微信客服 channel: `GET/POST /webhooks/wecom`.

- **Callbacks**: WeCom signs (`msg_signature` over token, timestamp, nonce and ciphertext) and
  AES-encrypts every callback; we check the signature with `hmac.compare_digest`, refuse
  timestamps outside `max_clock_skew` (replays), then decrypt. A callback only says "new
  messages": `kf_msg_or_event` schedules a pull for its account with its token and is answered
  at once with an empty 200 (WeCom's "no passive reply"), never waiting for a turn.
- **Pulling** (`wecom_pull.Puller`): `sync_msg` from the saved cursor, one puller per account
  across workers, each message claimed once by its msgid — see that module for the guarantees.
  `start()` pulls once (messages that arrived while the server was down) and starts the
  optional periodic pull.
- **Messages**: a customer's message (origin 3) runs a turn; its replies go out with
  `send_msg` (buttons as msgmenu, clicked items come back with their payload as `menu_id`).
  A voice message, with an ASR configured (`ServerState.asr`), is downloaded (media/get),
  decoded and recognised, and its transcript runs the turn; without one, or when that fails,
  the customer gets a polite fixed reply.
  `enter_session` runs the `/greet` welcome turn, answered with `send_msg_on_event` (the
  event's welcome_code) first. Servicers' messages (origin 5) are only logged.
- **Handoff**: `handoff: console` queues in our agent console (agents' messages come back
  through `send()`); `handoff: wecom` tells the customer, moves the session to WeCom's
  接待池 (service_state 2) and stays silent while WeCom's servicers have the session (state 2
  or 3, from our transfer or from `session_status_change` events) until it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from bot.handoff.service import HandoffService
from bot.messages import OutboundMessage
from bot.server.errors import ApiError
from bot.server.holder import EngineHolder
from channels.wechat import wecom_inbound as inbound
from channels.wechat.api import RateLimited, WeChatAPIError, WindowClosed
from channels.wechat.crypto import CryptoRejected, MessageCrypto, check_timestamp
from channels.wechat.kf_api import (
    ORIGIN_CUSTOMER,
    ORIGIN_SERVICER,
    ORIGIN_SYSTEM,
    STATE_HUMAN,
    STATE_QUEUED,
    KfAPI,
    KfMessage,
)
from channels.wechat.render import KfOut, render_kf
from channels.wechat.state import ChannelState
from channels.wechat.wecom_config import WeComConfig
from channels.wechat.wecom_pull import Puller
from channels.wechat.xmlmsg import MAX_BYTES, XMLRejected, message_from_fields, parse_xml
from voice.asr.base import AsrError
from voice.audio import AudioError
from voice.decode import transcribe_audio

if TYPE_CHECKING:
    from bot.server.state import ServerState
    from voice.asr.base import AsrEngine

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 10.0  # seconds close() waits for turns under way
RECHECK_AFTER = 600.0  # a remembered servicer state older than this is checked with WeCom
ASR_TIMEOUT = 30.0  # seconds to recognise one voice message
WITH_SERVICER = (STATE_QUEUED, STATE_HUMAN)
_XML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/xml": {"schema": {"type": "string"}}},
        "description": "WeCom's callback XML: an `<Encrypt>` envelope",
    }
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
# JSON errors spelled out: `error_responses` would file them under the route's text/plain
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {}}, "description": "echostr / empty acknowledgement"},
    **{
        code: {"description": text, "content": _ERROR}
        for code, text in (
            (400, "Bad XML or undecryptable message"),
            (403, "Bad signature or stale timestamp"),
            (413, "Body too large"),
        )
    },
}

Signature = Annotated[
    str, Query(min_length=1, max_length=128, description="WeCom's SHA-1 message signature")
]
Timestamp = Annotated[str, Query(min_length=1, max_length=20, description="Unix seconds")]
Nonce = Annotated[str, Query(min_length=1, max_length=128, description="Random string")]
Echo = Annotated[
    str, Query(min_length=1, max_length=4096, description="Encrypted echo string (URL check)")
]


def _rejected(exc: CryptoRejected | XMLRejected) -> ApiError:
    if exc.code in ("bad_signature", "stale_timestamp"):
        return ApiError(403, exc.code, "请求签名校验失败。", f"request rejected: {exc.code}")
    if exc.code == "xml_too_large":
        return ApiError(413, exc.code, "请求内容过大。", "callback body too large")
    if exc.code in ("decrypt_failed", "missing_key"):
        return ApiError(400, exc.code, "消息解密失败。", "cannot decrypt")
    return ApiError(400, exc.code, "消息格式无效。", f"bad XML: {exc.code}")


class WeComChannel:
    name = inbound.CHANNEL

    def __init__(
        self,
        holder: EngineHolder,
        config: WeComConfig,
        state: ChannelState,
        api: KfAPI,
        handoff: HandoffService | None = None,
        clock: Callable[[], float] = time.time,
        asr: Callable[[], AsrEngine | None] | None = None,
    ) -> None:
        """The channel owns `api` (closed by `close()`); `state` is shared and not closed.
        `asr` gives the speech recogniser (or None); blocking, called in a worker thread."""
        self.holder, self.config, self.state, self.api = holder, config, state, api
        self.handoff = handoff
        self.clock = clock
        self.asr = asr
        self.crypto = MessageCrypto(
            config.token, config.encoding_aes_key, config.corp_id, wecom=True
        )
        self.puller = Puller(api, state, self.handle)
        self._events: dict[str, Callable[[KfMessage], Awaitable[None]]] = {
            "enter_session": self._enter_session,
            "session_status_change": self._session_changed,
            "msg_send_fail": self._send_failed,
        }
        if handoff is not None and config.handoff == "wecom":
            handoff.native_channels.add(self.name)

    # ------------------------------------------------------------ HTTP
    def router(self) -> APIRouter:
        router = APIRouter(tags=["Channel: WeCom 微信客服"])

        @router.get(
            "/webhooks/wecom",
            summary="WeCom callback URL verification (encrypted echostr)",
            response_class=PlainTextResponse,
            responses=_RESPONSES,
            include_in_schema=True,
        )
        async def verify(
            msg_signature: Signature, timestamp: Timestamp, nonce: Nonce, echostr: Echo
        ) -> Response:
            return PlainTextResponse(self.verify(msg_signature, timestamp, nonce, echostr))

        @router.post(
            "/webhooks/wecom",
            summary="WeCom 微信客服 callback (kf_msg_or_event): schedules a message pull",
            response_class=PlainTextResponse,
            responses=_RESPONSES,
            openapi_extra=_XML_BODY,
            include_in_schema=True,
        )
        async def receive(
            request: Request, msg_signature: Signature, timestamp: Timestamp, nonce: Nonce
        ) -> Response:
            body = await _read(request, MAX_BYTES)
            self.receive(body, msg_signature, timestamp, nonce)
            return PlainTextResponse("")

        return router

    def verify(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The decrypted echostr, when the request is WeCom's."""
        try:
            check_timestamp(timestamp, self.clock(), self.config.max_clock_skew)
            return self.crypto.decrypt_echo(echostr, msg_signature, timestamp, nonce)
        except CryptoRejected as exc:
            log.warning("wecom URL verification rejected: %s", exc.code)
            raise _rejected(exc) from None

    def receive(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> None:
        """Check, decrypt and read one callback; a kf_msg_or_event schedules a pull."""
        try:
            check_timestamp(timestamp, self.clock(), self.config.max_clock_skew)
            outer = parse_xml(body)
            plain = self.crypto.decrypt(outer, msg_signature, timestamp, nonce)
            msg = message_from_fields(parse_xml(plain))
        except (CryptoRejected, XMLRejected) as exc:
            log.warning("wecom callback rejected: %s", exc.code)
            raise _rejected(exc) from None
        if msg.kind == "event" and msg.event == "kf_msg_or_event":
            account = msg.open_kfid or self.config.open_kfid
            log.info("wecom callback: new messages for %s", account)
            self.puller.schedule(account, msg.kf_token or None)
        else:
            log.info("wecom callback ignored: %s %s", msg.kind, msg.event or "")

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Pull what arrived while the server was down; start the periodic pull if asked."""
        self.puller.schedule(self.config.open_kfid)
        self.puller.every(self.config.pull_interval, self.config.open_kfid)

    async def close(self) -> None:
        await self.puller.close(CLOSE_TIMEOUT)
        await self.api.close()

    # ------------------------------------------------------------ one pulled message
    async def handle(self, msg: KfMessage) -> None:
        """One message from sync_msg (already claimed: it is never handled twice)."""
        age = self.clock() - msg.send_time if msg.send_time else 0.0
        if msg.origin == ORIGIN_CUSTOMER and age > self.config.max_message_age:
            log.warning(
                "wecom %s from %s is %.1f h old: not answered (max_message_age)",
                msg.msgid, msg.external_userid, age / 3600,
            )  # fmt: skip
            return
        if msg.origin == ORIGIN_CUSTOMER:
            await self._customer(msg)
        elif msg.origin == ORIGIN_SYSTEM and msg.msgtype == "event":
            handler = self._events.get(msg.event_type)
            if handler is None:
                log.info("wecom event %s (%s) ignored", msg.event_type, msg.msgid)
            else:
                await handler(msg)
        elif msg.origin == ORIGIN_SERVICER:
            log.info(
                "wecom servicer %s → %s: %s", msg.servicer_userid, msg.external_userid, msg.msgtype
            )
        else:
            log.info("wecom message %s (origin %s) ignored", msg.msgid, msg.origin)

    async def _customer(self, msg: KfMessage) -> None:
        user, account = msg.external_userid, msg.open_kfid or self.config.open_kfid
        if await self._with_servicer(account, user):
            log.info("wecom %s: %s is with a WeCom servicer; the bot stays silent", msg.msgid, user)
            return
        understood = inbound.understand(msg)
        if understood.listen and self.asr is not None:
            understood = await self._hear(msg, understood)
        if understood.reply is not None:
            await self._push(user, account, [KfOut("text", {"content": understood.reply})])
            return
        try:
            result = await self.holder.engine.handle_turn(inbound.inbound(msg, understood))
        except Exception:
            log.exception("wecom turn failed for %s", msg.msgid)
            await self._push(user, account, [KfOut("text", {"content": inbound.TEXTS["failed"]})])
            return
        await self._answer(user, account, result.messages)

    async def _hear(self, msg: KfMessage, understood: inbound.Understood) -> inbound.Understood:
        """Download, decode and recognise a voice message; the polite reply on any failure."""
        assert self.asr is not None
        try:
            engine = await asyncio.to_thread(self.asr)
            if engine is None:
                return understood
            media = await self.api.get_media(understood.listen)
            result = await transcribe_audio(
                engine, media.data, media.content_type, timeout=ASR_TIMEOUT
            )
        except (WeChatAPIError, AudioError, AsrError) as exc:
            log.warning("wecom voice %s not recognised: %s", msg.msgid, exc)
            return inbound.heard(understood, "", [])
        except Exception:
            log.exception("wecom voice %s: recognition failed", msg.msgid)
            return inbound.heard(understood, "", [])
        log.info("wecom voice %s recognised in %.2fs", msg.msgid, result.seconds)
        nbest = [(h.text, h.confidence) for h in result.nbest]
        return inbound.heard(understood, result.text, nbest)

    async def _enter_session(self, msg: KfMessage) -> None:
        user, account = msg.external_userid, msg.open_kfid or self.config.open_kfid
        if not self.config.welcome or not user:
            return
        if await self._with_servicer(account, user):
            return
        result = await self.holder.engine.handle_turn(inbound.greeting(msg))
        code = str(msg.event.get("welcome_code") or "")
        await self._answer(user, account, result.messages, welcome_code=code)

    async def _session_changed(self, msg: KfMessage) -> None:
        """WeCom's servicers took (1 接入, 2 转接, 4 重新接入) or ended (3) the session."""
        user, account = msg.external_userid, msg.open_kfid or self.config.open_kfid
        change = msg.event.get("change_type")
        if change == 3:
            log.info("wecom session of %s ended by a servicer: the bot answers again", user)
            await self._remember(account, user, None)
        elif change in (1, 2, 4):
            log.info("wecom session of %s is with servicer %s", user, msg.servicer_userid)
            await self._remember(account, user, STATE_HUMAN)
        else:
            log.info("wecom session_status_change %r for %s ignored", change, user)

    async def _send_failed(self, msg: KfMessage) -> None:
        event = msg.event
        log.warning(
            "wecom message %s to %s was not delivered (fail_type %s)",
            event.get("fail_msgid"), msg.external_userid, event.get("fail_type"),
        )  # fmt: skip

    # ------------------------------------------------------------ servicer state
    def _state_key(self, account: str) -> str:
        return f"wecom-service:{account}"

    async def _remember(self, account: str, user: str, state: int | None) -> None:
        value = None if state is None else f"{state} {self.clock():.0f}"
        await self.state.remember(self._state_key(account), user, value)

    async def _with_servicer(self, account: str, user: str) -> bool:
        """True while WeCom's servicers have the customer (we moved them, or WeCom told us).
        An old record is checked with WeCom, in case its session-end event was missed."""
        raw = await self.state.recall(self._state_key(account), user)
        if raw is None:
            return False
        try:
            state, since = (int(float(x)) for x in raw.split())
        except ValueError:
            state, since = STATE_HUMAN, 0
        if self.clock() - since < RECHECK_AFTER:
            return state in WITH_SERVICER
        try:
            current, _ = await self.api.service_state(account, user)
        except WeChatAPIError as exc:
            log.warning("wecom service_state of %s unknown (%s)", user, exc.errcode)
            return state in WITH_SERVICER
        await self._remember(account, user, current if current in WITH_SERVICER else None)
        return current in WITH_SERVICER

    # ------------------------------------------------------------ sending
    async def _answer(
        self, user: str, account: str, messages: list[OutboundMessage], welcome_code: str = ""
    ) -> None:
        outs = render_kf(messages, thumb_media_id=self.config.link_thumb_media_id)
        handoff = self.config.handoff == "wecom" and any(m.kind == "handoff" for m in messages)
        if handoff:
            outs.append(KfOut("text", {"content": inbound.TEXTS["transfer"]}))
        if welcome_code and outs and outs[0].msgtype in ("text", "msgmenu"):
            if not await self._on_event(welcome_code, user, outs[0]):
                return
            outs = outs[1:]
        await self._push(user, account, outs)
        if handoff:
            await self._transfer(user, account)

    async def _on_event(self, code: str, user: str, out: KfOut) -> bool:
        try:
            await self.api.send_msg_on_event(code, out.msgtype, out.body)
        except WeChatAPIError as exc:
            _log_send_error(user, exc, 1)
            return False
        return True

    async def _push(self, user: str, account: str, outs: list[KfOut]) -> bool:
        """Send `outs` in order; stops (and logs) at the first that WeCom refuses."""
        for i, out in enumerate(outs):
            try:
                await self.api.send_msg(user, account, out.msgtype, out.body)
            except WeChatAPIError as exc:
                _log_send_error(user, exc, len(outs) - i)
                return False
        return True

    async def _transfer(self, user: str, account: str) -> None:
        """Hand the session to WeCom's 接待池 (service_state 2)."""
        try:
            await self.api.trans_state(account, user, STATE_QUEUED)
        except WeChatAPIError as exc:
            log.error("wecom transfer of %s failed: %s %s", user, exc.errcode, exc.errmsg)
            return
        log.info("wecom session of %s handed to WeCom servicers", user)
        await self._remember(account, user, STATE_QUEUED)

    async def send(self, conversation_id: str, messages: list[OutboundMessage]) -> None:
        """Agents' messages and notices outside a turn (the customer's 48-hour window)."""
        try:
            outs = render_kf(messages, thumb_media_id=self.config.link_thumb_media_id)
            await self._push(conversation_id, self.config.open_kfid, outs)
        except Exception:
            log.exception(
                "wecom: could not send %d message(s) to %s", len(messages), conversation_id
            )


def _log_send_error(user: str, exc: WeChatAPIError, dropped: int) -> None:
    if isinstance(exc, WindowClosed):
        log.warning(
            "wecom: %d message(s) to %s dropped, the window is closed (%s %s)",
            dropped, user, exc.errcode, exc.errmsg,
        )  # fmt: skip
    elif isinstance(exc, RateLimited):
        log.error("wecom: %d message(s) to %s dropped, rate limited", dropped, user)
    else:
        log.error(
            "wecom: %d message(s) to %s dropped: %s %s", dropped, user, exc.errcode, exc.errmsg
        )


async def _read(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes (checked while it streams in)."""
    declared = request.headers.get("content-length", "")
    chunks, size = [], int(declared) if declared.isdigit() else 0
    if size <= limit:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                break
            chunks.append(chunk)
    if size > limit:
        log.warning("wecom callback rejected: xml_too_large (%d bytes)", size)
        raise _rejected(XMLRejected("xml_too_large"))
    return b"".join(chunks)


def create_channel(state: ServerState, config: Mapping[str, Any]) -> WeComChannel:
    settings = WeComConfig.from_mapping(config)
    api = KfAPI(
        settings.corp_id,
        settings.secret,
        base_url=settings.api_base_url,
        tokens=state.wechat_tokens,
    )
    return WeComChannel(
        state.holder, settings, state.wechat_state, api, state.handoff, asr=lambda: state.asr
    )
