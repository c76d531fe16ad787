"""The WeCom 微信客服 half of the fake WeChat server (see `bot.testing.wechat_server`).

State (guarded by `FakeWeChat.lock`): the message log sync_msg pages through, session
states, and what send_msg / send_msg_on_event / service_state/trans received. Errcodes:

- gettoken: wrong corpid 40013, wrong corpsecret 40001 (as WeCom answers);
- missing open_kfid 95000, missing external user 40096, missing touser 40003;
- unknown msgtype 40008, empty text 44004, bad parameters 40058;
- send_msg while the session is queued (2), with a human (3) or ended (4): 95018
  ("send msg session status invalid", as reported by WeCom users);
- an unknown sync_msg cursor: 95007 (our choice; the published table was not checked).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from bot.testing.wechat_server import Reject, ok

if TYPE_CHECKING:
    from bot.testing.wechat_server import FakeWeChat

ERR_INVALID_CURSOR = 95007
SEND_BLOCKED_STATES = frozenset({2, 3, 4})  # queued, with a human servicer, ended
MSG_CODE_STATES = frozenset({3, 4})  # trans to these answers a msg_code
KF_MSGTYPES = frozenset(
    {"text", "image", "voice", "video", "file", "link", "miniprogram", "msgmenu", "location"}
)
MAX_LIMIT = 1000
_MSGID = re.compile(r"[0-9a-zA-Z_-]{1,32}")


@dataclass(frozen=True, slots=True)
class KfSent:
    endpoint: str  # "send_msg" | "send_msg_on_event"
    body: dict[str, Any]
    msgid: str


@dataclass(frozen=True, slots=True)
class _Entry:
    open_kfid: str
    raw: dict[str, Any]


@dataclass(slots=True)
class KfState:
    log: list[_Entry] = field(default_factory=list)
    states: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    sent: list[KfSent] = field(default_factory=list)
    trans: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0

    def state_of(self, open_kfid: str, external_userid: str) -> tuple[int, str]:
        return self.states.get((open_kfid, external_userid), (0, ""))

    def next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}{self.seq:06d}{secrets.token_hex(4)}"

    def push(
        self,
        open_kfid: str,
        external_userid: str,
        text: str | None,
        event: str | Mapping[str, Any] | None,
        origin: int | None,
        msgtype: str | None,
        body: Mapping[str, Any] | None,
        now: float,
    ) -> str:
        msgid = self.next_id("msg")
        raw: dict[str, Any] = {"msgid": msgid, "send_time": int(now)}
        if event is not None:
            fields = {"event_type": event} if isinstance(event, str) else dict(event)
            fields.setdefault("open_kfid", open_kfid)
            fields.setdefault("external_userid", external_userid)
            if fields["event_type"] == "enter_session":
                fields.setdefault("welcome_code", self.next_id("wc"))
            raw.update(origin=4 if origin is None else origin, msgtype="event", event=fields)
        else:
            kind = msgtype or "text"
            if body is None and text is None:
                raise ValueError("push_kf needs text, body or event")
            content = dict(body) if body is not None else {"content": text}
            origin = 3 if origin is None else origin
            raw.update(open_kfid=open_kfid, external_userid=external_userid, origin=origin)
            raw.update(msgtype=kind)
            raw[kind] = content
            self._after_message(open_kfid, external_userid, origin, raw)
        self.log.append(_Entry(open_kfid, raw))
        return msgid

    def _after_message(
        self, open_kfid: str, external_userid: str, origin: int, raw: dict[str, Any]
    ) -> None:
        state, servicer = self.state_of(open_kfid, external_userid)
        if origin == 5:
            raw["servicer_userid"] = servicer
        elif origin == 3 and state == 4:  # a customer message reopens an ended session
            self.states[(open_kfid, external_userid)] = (0, "")

    def page(self, open_kfid: str, cursor: str, limit: int) -> dict[str, Any]:
        entries = [e.raw for e in self.log if not open_kfid or e.open_kfid == open_kfid]
        start = _decode_cursor(cursor, open_kfid, len(entries)) if cursor else 0
        chunk = entries[start : start + limit]
        end = start + len(chunk)
        return {
            "next_cursor": _encode_cursor(open_kfid, end),
            "has_more": 1 if end < len(entries) else 0,
            "msg_list": chunk,
        }


def _encode_cursor(open_kfid: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{open_kfid}\n{position}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, open_kfid: str, size: int) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kfid, _, position = text.rpartition("\n")
        value = int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Reject(ERR_INVALID_CURSOR) from None
    if kfid != open_kfid or not 0 <= value <= size:
        raise Reject(ERR_INVALID_CURSOR)
    return value


def _text(body: Mapping[str, Any], key: str, errcode: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Reject(errcode)
    return value


def _check_message(body: Mapping[str, Any]) -> None:
    msgtype = body.get("msgtype")
    if msgtype not in KF_MSGTYPES:
        raise Reject(40008)
    content = body.get(msgtype)
    if not isinstance(content, dict):
        raise Reject(40058)
    if msgtype == "text":
        _text(content, "content", 44004)
    if msgtype == "msgmenu":
        items = content.get("list", [])
        if not isinstance(items, list) or len(items) > 10:
            raise Reject(40058)
    msgid = body.get("msgid")
    if msgid is not None and not (isinstance(msgid, str) and _MSGID.fullmatch(msgid)):
        raise Reject(40058)


def _limit(body: Mapping[str, Any]) -> int:
    limit = body.get("limit", MAX_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise Reject(40058)
    return limit


def register_kf_routes(app: FastAPI, fake: FakeWeChat) -> None:
    @app.get("/cgi-bin/gettoken")
    async def kf_token(request: Request) -> Response:
        await fake.enter(request, None)
        query = request.query_params
        if query.get("corpid") != fake.corp_id:
            raise Reject(40013, errmsg="invalid corpid")
        if query.get("corpsecret") != fake.kf_secret:
            raise Reject(40001, errmsg="invalid credential")
        return ok(access_token=fake.issue_token("kf"), expires_in=fake.token_ttl)

    @app.post("/cgi-bin/kf/sync_msg")
    async def sync_msg(request: Request) -> Response:
        body = await fake.enter(request, "kf")
        open_kfid = body.get("open_kfid", "")
        if not isinstance(open_kfid, str):
            raise Reject(95000)
        cursor = body.get("cursor") or ""
        if not isinstance(cursor, str):
            raise Reject(ERR_INVALID_CURSOR)
        limit = _limit(body)
        with fake.lock:
            return ok(**fake.kf.page(open_kfid, cursor, limit))

    @app.post("/cgi-bin/kf/send_msg")
    async def send_msg(request: Request) -> Response:
        body = await fake.enter(request, "kf")
        touser = _text(body, "touser", 40003)
        open_kfid = _text(body, "open_kfid", 95000)
        _check_message(body)
        with fake.lock:
            state, _ = fake.kf.state_of(open_kfid, touser)
            if state in SEND_BLOCKED_STATES:
                raise Reject(95018)
            msgid = body.get("msgid") or fake.kf.next_id("sent")
            fake.kf.sent.append(KfSent("send_msg", body, msgid))
        return ok(msgid=msgid)

    @app.post("/cgi-bin/kf/send_msg_on_event")
    async def send_msg_on_event(request: Request) -> Response:
        body = await fake.enter(request, "kf")
        _text(body, "code", 40058)
        _check_message(body)
        with fake.lock:
            msgid = body.get("msgid") or fake.kf.next_id("sent")
            fake.kf.sent.append(KfSent("send_msg_on_event", body, msgid))
        return ok(msgid=msgid)

    @app.post("/cgi-bin/kf/service_state/get")
    async def state_get(request: Request) -> Response:
        body = await fake.enter(request, "kf")
        open_kfid = _text(body, "open_kfid", 95000)
        external_userid = _text(body, "external_userid", 40096)
        with fake.lock:
            state, servicer = fake.kf.state_of(open_kfid, external_userid)
        return ok(service_state=state, servicer_userid=servicer)

    @app.post("/cgi-bin/kf/service_state/trans")
    async def state_trans(request: Request) -> Response:
        body = await fake.enter(request, "kf")
        open_kfid = _text(body, "open_kfid", 95000)
        external_userid = _text(body, "external_userid", 40096)
        state = body.get("service_state")
        if not isinstance(state, int) or isinstance(state, bool) or not 0 <= state <= 4:
            raise Reject(40058)
        servicer = body.get("servicer_userid") or ""
        if state == 3 and not (isinstance(servicer, str) and servicer):
            raise Reject(40058)  # a human servicer is required to hand over
        with fake.lock:
            fake.kf.trans.append(body)
            fake.kf.states[(open_kfid, external_userid)] = (state, str(servicer))
            code = fake.kf.next_id("mc") if state in MSG_CODE_STATES else ""
        return ok(msg_code=code) if code else ok()
