"""Async client of the WeCom 微信客服 API (https://qyapi.weixin.qq.com).

Same retry core as the Official Account client (`BaseAPI`): 40014/42001 refresh the token
once, 45009/-1/5xx back off. WeCom-specific errcodes, from the WeCom global error-code table
(developer.work.weixin.qq.com, document/path/90313) and the 微信客服 send_msg documentation
(a customer message opens 48 h in which at most 5 messages may be sent):

- 95001 发送客服消息次数限制 (the per-turn message quota is spent)   -> WindowClosed
- 95002 发送客服消息时间限制 (48 h after the customer's last message) -> WindowClosed
- 95013 会话已经结束 (the session has ended)                        -> WindowClosed
- 95018 "send msg session status invalid": the session is not in a state where the API
  may send (queued for or served by a human servicer)              -> SessionStateInvalid
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import aiohttp

from channels.wechat.api import (
    BaseAPI,
    Media,
    WeChatAPIError,
    WindowClosed,
    parse_token,
    secret_tag,
)
from channels.wechat.tokens import TokenStore

MAX_SYNC_LIMIT = 1000

# service_state values (微信客服 会话状态)
STATE_NEW = 0  # 未处理
STATE_BOT = 1  # 由智能助手接待
STATE_QUEUED = 2  # 待接入池排队中
STATE_HUMAN = 3  # 由人工接待
STATE_ENDED = 4  # 已结束/未开始

# message origins in sync_msg
ORIGIN_CUSTOMER = 3
ORIGIN_SYSTEM = 4
ORIGIN_SERVICER = 5

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class SessionStateInvalid(WeChatAPIError):
    """95018: the session state (queued, with a human, ended) does not allow sending."""


@dataclass(frozen=True, slots=True)
class KfMessage:
    msgid: str
    open_kfid: str
    external_userid: str
    send_time: int
    origin: int
    msgtype: str
    servicer_userid: str = ""
    text: str = ""  # text.content for text messages
    menu_id: str = ""  # text.menu_id when the customer clicked a msgmenu item
    event_type: str = ""  # event.event_type for msgtype "event"
    event: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> KfMessage:
        """One entry of sync_msg's msg_list (events carry the ids inside `event`)."""
        msgtype = _str(raw, "msgtype")
        event = _mapping(raw, "event") if msgtype == "event" else _EMPTY
        text = _mapping(raw, "text") if msgtype == "text" else _EMPTY
        return cls(
            msgid=_str(raw, "msgid"),
            open_kfid=_str(raw, "open_kfid") or _str(event, "open_kfid"),
            external_userid=_str(raw, "external_userid") or _str(event, "external_userid"),
            send_time=_int(raw, "send_time"),
            origin=_int(raw, "origin"),
            msgtype=msgtype,
            servicer_userid=_str(raw, "servicer_userid") or _str(event, "servicer_userid"),
            text=_str(text, "content"),
            menu_id=_str(text, "menu_id"),
            event_type=_str(event, "event_type"),
            event=MappingProxyType(dict(event)),
            raw=MappingProxyType(dict(raw)),
        )


@dataclass(frozen=True, slots=True)
class SyncPage:
    next_cursor: str
    has_more: bool
    messages: list[KfMessage]


class KfAPI(BaseAPI):
    """微信客服: gettoken, sync_msg, send_msg, send_msg_on_event, service_state get/trans,
    media/get."""

    ERRORS: ClassVar[Mapping[int, type[WeChatAPIError]]] = {
        **BaseAPI.ERRORS,
        95001: WindowClosed,
        95002: WindowClosed,
        95013: WindowClosed,
        95018: SessionStateInvalid,
    }

    def __init__(
        self,
        corp_id: str,
        secret: str,
        *,
        base_url: str = "https://qyapi.weixin.qq.com",
        tokens: TokenStore | None = None,
        session: aiohttp.ClientSession | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 5.0,
    ) -> None:
        self.corp_id, self._secret = corp_id, secret
        super().__init__(
            base_url=base_url,
            token_key=f"kf:{corp_id}:{secret_tag(secret)}",  # WeCom tokens are per secret
            tokens=tokens,
            session=session,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
        )

    async def _fetch_token(self) -> tuple[str, int]:
        params = {"corpid": self.corp_id, "corpsecret": self._secret}
        payload = await self.call("GET", "/cgi-bin/gettoken", params=params, auth=False)
        return parse_token(payload, "/cgi-bin/gettoken")

    async def sync_msg(
        self, *, cursor: str | None, token: str | None, open_kfid: str, limit: int = 1000
    ) -> SyncPage:
        """One page of messages after `cursor` (None: from the oldest kept by WeCom)."""
        body: dict[str, Any] = {
            "limit": max(1, min(limit, MAX_SYNC_LIMIT)),
            "voice_format": 0,
            "open_kfid": open_kfid,
        }
        if cursor:
            body["cursor"] = cursor
        if token:
            body["token"] = token  # from the callback: lifts sync_msg's frequency limit
        payload = await self.call("POST", "/cgi-bin/kf/sync_msg", json=body)
        entries = payload.get("msg_list") or []
        return SyncPage(
            next_cursor=_str(payload, "next_cursor"),
            has_more=bool(payload.get("has_more", 0)),
            messages=[KfMessage.from_raw(e) for e in entries if isinstance(e, Mapping)],
        )

    async def send_msg(
        self,
        touser: str,
        open_kfid: str,
        msgtype: str,
        body: Mapping[str, Any],
        msgid: str | None = None,
    ) -> str:
        """Send one message to a customer; returns its msgid."""
        request: dict[str, Any] = {"touser": touser, "open_kfid": open_kfid}
        return await self._send_message("/cgi-bin/kf/send_msg", request, msgtype, body, msgid)

    async def send_msg_on_event(
        self, code: str, msgtype: str, body: Mapping[str, Any], msgid: str | None = None
    ) -> str:
        """Answer an event with its code (welcome_code, msg_code); returns the msgid."""
        request: dict[str, Any] = {"code": code}
        return await self._send_message(
            "/cgi-bin/kf/send_msg_on_event", request, msgtype, body, msgid
        )

    async def service_state(self, open_kfid: str, external_userid: str) -> tuple[int, str]:
        """(service_state, servicer_userid) of a customer's session."""
        body = {"open_kfid": open_kfid, "external_userid": external_userid}
        payload = await self.call("POST", "/cgi-bin/kf/service_state/get", json=body)
        return _int(payload, "service_state"), _str(payload, "servicer_userid")

    async def trans_state(
        self,
        open_kfid: str,
        external_userid: str,
        state: int,
        servicer_userid: str | None = None,
    ) -> str:
        """Move a session to `state`; returns the msg_code ('' when none is given)."""
        body: dict[str, Any] = {
            "open_kfid": open_kfid,
            "external_userid": external_userid,
            "service_state": state,
        }
        if servicer_userid:
            body["servicer_userid"] = servicer_userid
        payload = await self.call("POST", "/cgi-bin/kf/service_state/trans", json=body)
        return _str(payload, "msg_code")

    async def get_media(self, media_id: str) -> Media:
        """A temporary media file (a customer's voice, image …) by its media_id."""
        return await self.download("/cgi-bin/media/get", {"media_id": media_id})

    async def _send_message(
        self,
        path: str,
        request: dict[str, Any],
        msgtype: str,
        body: Mapping[str, Any],
        msgid: str | None,
    ) -> str:
        if msgid:
            request["msgid"] = msgid
        request["msgtype"] = msgtype
        request[msgtype] = dict(body)
        payload = await self.call("POST", path, json=request)
        return _str(payload, "msgid") or (msgid or "")


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else _EMPTY
