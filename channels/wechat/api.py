"""Async client of the WeChat Official Account (公众号) API, with the shared retry core.

`BaseAPI.call` adds the access token, refreshes it once on 40001/42001/40014, retries with
exponential backoff on 45009 (frequency limit), -1 (system busy), HTTP 5xx and 429, connection
errors and timeouts, and turns any errcode != 0 into a `WeChatAPIError` (subclass chosen by code).
Access tokens and secrets never reach the logs or exception messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json as jsonlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp

from channels.wechat.tokens import AccessToken, MemoryTokenStore, TokenStore

log = logging.getLogger(__name__)

# errcodes of our own for failures that carry none (WeChat's are >= 0 or -1).
ERR_NETWORK = -2  # connection error or timeout
ERR_BAD_RESPONSE = -3  # a JSON endpoint answered something else

TOKEN_CODES = frozenset({40001, 40014, 42001})  # invalid / expired access_token
BACKOFF_CODES = frozenset({-1, 45009})  # system busy, api freq out of limit
_SECRET_PARAMS = re.compile(r"((?:access_token|secret|corpsecret)=)[^&\s'\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with access tokens and secrets in URLs replaced by ***."""
    return _SECRET_PARAMS.sub(r"\1***", text)


class WeChatAPIError(Exception):
    def __init__(self, errcode: int, errmsg: str, path: str, *, retryable: bool = False) -> None:
        self.errcode, self.errmsg, self.path, self.retryable = (
            errcode,
            redact(errmsg),
            path,
            retryable,
        )
        super().__init__(f"{path}: errcode {errcode}: {self.errmsg}")


class WindowClosed(WeChatAPIError):
    """The customer-service window is closed (48 h elapsed or reply quota spent): not retried."""


class RateLimited(WeChatAPIError):
    """45009 after the retries are spent."""


@dataclass(frozen=True, slots=True)
class Media:
    data: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    content_type: str
    body: bytes
    payload: dict[str, Any] | None  # the JSON object, when the body is one

    @property
    def errcode(self) -> int:
        if self.payload is None:
            return 0
        code = self.payload.get("errcode", 0)
        return code if isinstance(code, int) else ERR_BAD_RESPONSE


class BaseAPI:
    """HTTP, token and retry handling shared by `OfficialAPI` and `KfAPI`."""

    # errcode -> exception class; subclasses extend it.
    ERRORS: ClassVar[Mapping[int, type[WeChatAPIError]]] = {
        45009: RateLimited,
        45015: WindowClosed,  # response out of time limit (48 h)
        45047: WindowClosed,  # out of response count limit
    }

    def __init__(
        self,
        *,
        base_url: str,
        token_key: str,
        tokens: TokenStore | None,
        session: aiohttp.ClientSession | None,
        retries: int,
        backoff: float,
        timeout: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries, self.backoff = retries, backoff
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session, self._owns_session = session, session is None
        self.token = AccessToken(token_key, self._fetch_token, tokens or MemoryTokenStore())

    async def _fetch_token(self) -> tuple[str, int]:
        raise NotImplementedError

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        auth: bool = True,
    ) -> dict[str, Any]:
        """The JSON object answered by `path`; raises `WeChatAPIError` unless errcode is 0."""
        reply = await self._send(method, path, params, json, auth)
        if reply.payload is None:
            raise WeChatAPIError(
                ERR_BAD_RESPONSE, f"not a JSON object ({reply.content_type})", path
            )
        return reply.payload

    async def download(self, path: str, params: Mapping[str, str], *, auth: bool = True) -> Media:
        """A file answered by GET `path` (a JSON body is an error, handled as by `call`)."""
        reply = await self._send("GET", path, params, None, auth)
        if reply.payload is not None:  # a JSON "errcode": 0 is no file either
            raise WeChatAPIError(ERR_BAD_RESPONSE, "JSON instead of a file", path)
        return Media(reply.body, reply.content_type)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Mapping[str, Any] | None,
        auth: bool,
    ) -> _Reply:
        refreshed, attempt = False, 0
        token = await self.token.get() if auth else None
        while True:
            error: WeChatAPIError
            try:
                reply = await self._once(method, path, params, json, token)
            except (TimeoutError, aiohttp.ClientError) as exc:
                detail = redact(str(exc)) or type(exc).__name__
                error = WeChatAPIError(ERR_NETWORK, detail, path, retryable=True)
            else:
                code = reply.errcode
                if reply.status >= 500 or reply.status == 429:
                    error = WeChatAPIError(
                        reply.status, f"HTTP {reply.status}", path, retryable=True
                    )
                elif reply.status >= 400:
                    raise WeChatAPIError(reply.status, f"HTTP {reply.status}", path)
                elif code == 0:
                    return reply
                elif code in TOKEN_CODES and token is not None and not refreshed:
                    log.info("wechat %s: errcode %s, refreshing the access token", path, code)
                    refreshed = True
                    token = await self.token.refresh(token)
                    continue
                elif code in BACKOFF_CODES:
                    error = self._error(reply, path, retryable=True)
                else:
                    raise self._error(reply, path, retryable=False)
            if attempt >= self.retries:
                raise error
            delay = self.backoff * 2**attempt
            attempt += 1
            log.warning(
                "wechat %s: errcode %s (%s), retry %d/%d in %.2fs",
                path,
                error.errcode,
                error.errmsg,
                attempt,
                self.retries,
                delay,
            )
            await asyncio.sleep(delay)

    def _error(self, reply: _Reply, path: str, *, retryable: bool) -> WeChatAPIError:
        payload = reply.payload or {}
        code = reply.errcode
        cls = self.ERRORS.get(code, WeChatAPIError)
        return cls(code, str(payload.get("errmsg", "")), path, retryable=retryable)

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Mapping[str, Any] | None,
        token: str | None,
    ) -> _Reply:
        query = dict(params or {})
        if token is not None:
            query["access_token"] = token
        data: bytes | None = None
        headers: dict[str, str] = {}
        if json is not None:
            # WeChat rejects \uXXXX escapes (40033): send UTF-8 as is.
            data = jsonlib.dumps(json, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        session = self._client()
        async with session.request(
            method,
            self.base_url + path,
            params=query,
            data=data,
            headers=headers,
            timeout=self._timeout,
        ) as response:
            body = await response.read()
            content_type = response.headers.get("Content-Type", "")
            return _Reply(response.status, content_type, body, _json_object(content_type, body))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created lazily: needs a running loop
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        return self._session


def _json_object(content_type: str, body: bytes) -> dict[str, Any] | None:
    """The JSON object in `body` if it is one (WeChat often labels JSON as text/plain)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind not in {"application/json", "text/plain", "text/json", ""}:
        return None
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        value = jsonlib.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def secret_tag(secret: str) -> str:
    """A short digest naming a secret in cache keys without revealing it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


class OfficialAPI(BaseAPI):
    """The Official Account API: access token, 客服消息 (text, news), typing, media."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        base_url: str = "https://api.weixin.qq.com",
        tokens: TokenStore | None = None,
        session: aiohttp.ClientSession | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 5.0,
    ) -> None:
        self.app_id, self._secret = app_id, app_secret
        super().__init__(
            base_url=base_url,
            token_key=f"oa:{app_id}:{secret_tag(app_secret)}",
            tokens=tokens,
            session=session,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
        )

    async def _fetch_token(self) -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        payload = await self.call("GET", "/cgi-bin/token", params=params, auth=False)
        return parse_token(payload, "/cgi-bin/token")

    async def send_text(self, openid: str, text: str) -> None:
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self.call("POST", "/cgi-bin/message/custom/send", json=body)

    async def send_news(
        self, openid: str, title: str, description: str, url: str, pic_url: str
    ) -> None:
        article = {"title": title, "description": description, "url": url, "picurl": pic_url}
        body = {"touser": openid, "msgtype": "news", "news": {"articles": [article]}}
        await self.call("POST", "/cgi-bin/message/custom/send", json=body)

    async def typing(self, openid: str, on: bool = True) -> None:
        body = {"touser": openid, "command": "Typing" if on else "CancelTyping"}
        await self.call("POST", "/cgi-bin/message/custom/typing", json=body)

    async def get_media(self, media_id: str) -> Media:
        return await self.download("/cgi-bin/media/get", {"media_id": media_id})


def parse_token(payload: Mapping[str, Any], path: str) -> tuple[str, int]:
    """(access_token, expires_in) of a token endpoint's answer."""
    token, expires_in = payload.get("access_token"), payload.get("expires_in", 7200)
    if not isinstance(token, str) or not token or not isinstance(expires_in, int):
        raise WeChatAPIError(ERR_BAD_RESPONSE, "no access_token in the answer", path)
    return token, expires_in
