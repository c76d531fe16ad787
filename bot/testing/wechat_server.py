"""A fake WeChat API server (Official Account and WeCom 微信客服 on one FastAPI app).

Speaks the real paths, JSON bodies and errcodes, validates credentials, access tokens and
bodies, records what it received and injects faults. Run it over real HTTP in tests:

    fake = FakeWeChat()
    with LiveServer(fake.app) as server:
        api = OfficialAPI(fake.app_id, fake.app_secret, base_url=server.url)
        ...
        assert fake.sent[0]["text"]["content"] == "您好"

The app runs in uvicorn's thread; all state is guarded by one `threading.Lock`, and the
recorded lists are returned as copies.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

if TYPE_CHECKING:
    from bot.testing.wechat_server_kf import KfSent, KfState

__all__ = ["ERRMSG", "FakeWeChat", "Reject", "async_wait_for", "wait_for"]

ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40035: "invalid args",
    40058: "invalid parameter",
    40096: "invalid external userid",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    44002: "empty post data",
    44003: "empty news data",
    44004: "empty content",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    95000: "invalid open_kfid",
    95001: "send msg count limit",
    95002: "send msg time limit",
    95007: "invalid msg cursor",
    95013: "session has ended",
    95018: "send msg session status invalid",
}
OA_MSGTYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle"}
    | {"msgmenu", "wxcard", "miniprogrampage"}
)
# A \uXXXX escape (an odd number of backslashes before the u): WeChat answers 40033.
_UNICODE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")


class Reject(Exception):
    """Answer the current request with a WeChat error (errcode JSON) or an HTTP status."""

    def __init__(self, errcode: int = -1, *, status: int = 200, errmsg: str | None = None) -> None:
        super().__init__(errcode)
        self.errcode, self.status = errcode, status
        self.errmsg = errmsg or ERRMSG.get(errcode, "error")


@dataclass(slots=True)
class _Token:
    kind: str  # "oa" | "kf"
    expires_at: float
    expired: bool = False


@dataclass(slots=True)
class _Fault:
    errcode: int | None
    status: int | None
    times: int


def ok(**fields: Any) -> JSONResponse:
    """A WeCom-style success answer."""
    return JSONResponse({"errcode": 0, "errmsg": "ok", **fields})


class FakeWeChat:
    def __init__(
        self,
        *,
        app_id: str = "wx_fake_app",
        app_secret: str = "fake-app-secret",
        corp_id: str = "ww_fake_corp",
        kf_secret: str = "fake-kf-secret",
        token_ttl: int = 7200,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.corp_id, self.kf_secret = corp_id, kf_secret
        self.token_ttl, self.clock = token_ttl, clock
        self.lock = threading.Lock()
        self.reset()
        self.app = self._build_app()

    def reset(self) -> None:
        """Forget tokens, faults, media, kf messages and everything recorded."""
        from bot.testing.wechat_server_kf import KfState  # imports this module

        with self.lock:
            self._tokens: dict[str, _Token] = {}
            self._faults: dict[str, list[_Fault]] = defaultdict(list)
            self._media: dict[str, tuple[bytes, str]] = {}
            self._sent: list[dict[str, Any]] = []
            self._typing: list[dict[str, Any]] = []
            self._fetches: dict[str, int] = defaultdict(int)
            self._calls: list[str] = []
            self.kf: KfState = KfState()

    # --- recorded (copies) ---

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Bodies of OA 客服消息 (/cgi-bin/message/custom/send) accepted."""
        with self.lock:
            return list(self._sent)

    @property
    def typing(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._typing)

    @property
    def kf_sent(self) -> list[KfSent]:
        """send_msg and send_msg_on_event bodies accepted (with their endpoint and msgid)."""
        with self.lock:
            return list(self.kf.sent)

    @property
    def trans(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.kf.trans)

    @property
    def token_fetches(self) -> dict[str, int]:
        """Tokens issued, per kind ("oa", "kf")."""
        with self.lock:
            return {"oa": self._fetches["oa"], "kf": self._fetches["kf"]}

    @property
    def calls(self) -> list[str]:
        """Paths of every request received, in order."""
        with self.lock:
            return list(self._calls)

    # --- fault injection and fixtures ---

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 42001."""
        with self.lock:
            for token in self._tokens.values():
                token.expired = True

    def fail(
        self, path: str, *, errcode: int | None = None, status: int | None = None, times: int = 1
    ) -> None:
        """The next `times` calls to `path` answer `errcode` (JSON) or HTTP `status`."""
        if (errcode is None) == (status is None):
            raise ValueError("give exactly one of errcode and status")
        with self.lock:
            self._faults[path].append(_Fault(errcode, status, times))

    def add_media(self, media_id: str, data: bytes, content_type: str) -> None:
        with self.lock:
            self._media[media_id] = (data, content_type)

    def push_kf(
        self,
        open_kfid: str,
        external_userid: str,
        text: str | None = None,
        *,
        event: str | Mapping[str, Any] | None = None,
        origin: int | None = None,
        msgtype: str | None = None,
        body: Mapping[str, Any] | None = None,
        sent_at: float | None = None,
    ) -> str:
        """Append a message (or an event) to the log sync_msg pages through; returns its msgid.

        `origin` defaults to 3 (customer) for messages and 4 (system) for events; `event` is an
        event_type or the event's fields. A customer message reopens an ended session.
        `sent_at` backdates its send_time (default: now).
        """
        with self.lock:
            when = self.clock() if sent_at is None else sent_at
            return self.kf.push(
                open_kfid, external_userid, text, event, origin, msgtype, body, when
            )

    def set_service_state(
        self, open_kfid: str, external_userid: str, state: int, servicer: str | None = None
    ) -> None:
        with self.lock:
            self.kf.states[(open_kfid, external_userid)] = (state, servicer or "")

    def service_state_of(self, open_kfid: str, external_userid: str) -> tuple[int, str]:
        with self.lock:
            return self.kf.state_of(open_kfid, external_userid)

    # --- request handling helpers (used by the routes) ---

    async def enter(self, request: Request, kind: str | None) -> dict[str, Any]:
        """Record the call, apply a fault, check the token of `kind`; the JSON body (POST)."""
        raw = await request.body() if request.method == "POST" else b""
        path = request.url.path
        with self.lock:
            self._calls.append(path)
            self._apply_fault(path)
            if kind is not None:
                self._check_token(request.query_params.get("access_token"), kind)
        return _parse_body(raw) if request.method == "POST" else {}

    def issue_token(self, kind: str) -> str:
        with self.lock:
            token = f"{kind.upper()}_{secrets.token_urlsafe(24)}"
            self._tokens[token] = _Token(kind, self.clock() + self.token_ttl)
            self._fetches[kind] += 1
            return token

    def _apply_fault(self, path: str) -> None:
        queue = self._faults.get(path)
        if not queue:
            return
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        if fault.status is not None:
            raise Reject(status=fault.status, errmsg="injected fault")
        raise Reject(fault.errcode if fault.errcode is not None else -1)

    def _check_token(self, token: str | None, kind: str) -> None:
        if not token:
            raise Reject(41001)
        entry = self._tokens.get(token)
        if entry is None or entry.kind != kind:
            raise Reject(40001 if kind == "oa" else 40014)
        if entry.expired or self.clock() >= entry.expires_at:
            raise Reject(42001)

    def _build_app(self) -> FastAPI:
        from bot.testing.wechat_server_kf import register_kf_routes  # imports this module

        app = FastAPI(title="Fake WeChat API", docs_url=None, redoc_url=None, openapi_url=None)
        app.add_exception_handler(Reject, _reject_handler)
        register_oa_routes(app, self)
        register_kf_routes(app, self)
        return app


def _parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise Reject(44002)
    if _UNICODE_ESCAPE.search(raw):
        raise Reject(40033)
    try:
        body = json.loads(raw)
    except ValueError:
        raise Reject(47001) from None
    if not isinstance(body, dict):
        raise Reject(47001)
    return body


async def _reject_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Reject)
    if exc.status != 200:
        return Response(
            f"{exc.status} {exc.errmsg}", status_code=exc.status, media_type="text/plain"
        )
    payload = {"errcode": exc.errcode, "errmsg": f"{exc.errmsg} rid: {secrets.token_hex(6)}"}
    # media/get labels its JSON errors text/plain, as WeChat does.
    media_type = "text/plain" if request.url.path == "/cgi-bin/media/get" else "application/json"
    return Response(json.dumps(payload), media_type=media_type)


def register_oa_routes(app: FastAPI, fake: FakeWeChat) -> None:
    @app.get("/cgi-bin/token")
    async def oa_token(request: Request) -> Response:
        await fake.enter(request, None)
        query = request.query_params
        if query.get("grant_type") != "client_credential":
            raise Reject(40002)
        if query.get("appid") != fake.app_id:
            raise Reject(40013)
        if query.get("secret") != fake.app_secret:
            raise Reject(40125)
        return JSONResponse({"access_token": fake.issue_token("oa"), "expires_in": fake.token_ttl})

    @app.post("/cgi-bin/message/custom/send")
    async def custom_send(request: Request) -> Response:
        body = await fake.enter(request, "oa")
        _check_custom_message(body)
        with fake.lock:
            fake._sent.append(body)
        return ok()

    @app.post("/cgi-bin/message/custom/typing")
    async def custom_typing(request: Request) -> Response:
        body = await fake.enter(request, "oa")
        if not _nonempty_str(body.get("touser")):
            raise Reject(40003)
        if body.get("command") not in ("Typing", "CancelTyping"):
            raise Reject(40035)
        with fake.lock:
            fake._typing.append(body)
        return ok()

    @app.get("/cgi-bin/media/get")
    async def media_get(request: Request) -> Response:
        # one path for OA and WeCom media (on their own hosts in reality): either token works
        token = request.query_params.get("access_token") or ""
        await fake.enter(request, "kf" if token.startswith("KF_") else "oa")
        media_id = request.query_params.get("media_id", "")
        with fake.lock:
            found = fake._media.get(media_id)
        if found is None:
            raise Reject(40007)
        data, content_type = found
        disposition = f'attachment; filename="{media_id}"'
        return Response(data, media_type=content_type, headers={"Content-disposition": disposition})


def _check_custom_message(body: Mapping[str, Any]) -> None:
    if not _nonempty_str(body.get("touser")):
        raise Reject(40003)
    msgtype = body.get("msgtype")
    if msgtype not in OA_MSGTYPES:
        raise Reject(40008)
    content = body.get(msgtype)
    if not isinstance(content, dict):
        raise Reject(47001)
    if msgtype == "text" and not _nonempty_str(content.get("content")):
        raise Reject(44004)
    if msgtype == "news":
        articles = content.get("articles")
        if not isinstance(articles, list) or not articles:
            raise Reject(44003)
        if len(articles) > 1:  # 客服消息 news carries one article
            raise Reject(40035)


def _nonempty_str(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until true (True) or `timeout` seconds pass (False). Blocking."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


async def async_wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """`wait_for` for async tests: yields to the event loop while polling."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
