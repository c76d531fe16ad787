"""One error shape for every 4xx/5xx the server sends:

    {"error": "<machine code>", "message_zh": "…", "message_en": "…", "details": [...]?}

`error` is stable (clients branch on it); the messages are for people. Request validation
problems carry `details` (location, message, type — never the rejected input itself).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi import HTTPException as FastAPIHTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.stores.base import ConcurrencyConflict, StoreError
from bot.stores.locks import LockTimeout

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, error: str, zh: str, en: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(en)
        self.status, self.error, self.zh, self.en, self.details = status, error, zh, en, details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "message_zh": self.zh, "message_en": self.en}
        if self.details is not None:
            out["details"] = self.details
        return out

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


class BodyTooLarge(FastAPIHTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI passes it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413)
        self.limit = limit


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"请求内容过大，最多 {limit} 字节，请精简后再试。",
        f"request body too large (limit {limit} bytes)",
    )


_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    404: ("not_found", "您访问的地址不存在。", "not found"),
    405: ("method_not_allowed", "该地址不支持此请求方法。", "method not allowed"),
}


def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    return too_large(exc.limit).response()


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code, zh, en = _HTTP_CODES.get(
        exc.status_code, ("http_error", "请求无法处理。", str(exc.detail))
    )
    return ApiError(exc.status_code, code, zh, en).response(getattr(exc, "headers", None))


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return ApiError(
            400, "invalid_json", "请求内容不是有效的 JSON。", "request body is not valid JSON"
        ).response()
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")), "type": e.get("type")}
        for e in errors[:20]
    ]
    return ApiError(
        422, "invalid_request", "请求参数不正确，请检查后再试。", "invalid request", details
    ).response()


def _store_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoreError)
    if isinstance(exc, LockTimeout):
        return ApiError(503, "conversation_busy", exc.zh, exc.en).response({"Retry-After": "1"})
    if isinstance(exc, ConcurrencyConflict):
        return ApiError(409, "conflict", exc.zh, exc.en).response()
    log.error("store error: %s", exc)
    return ApiError(503, "store_unavailable", exc.zh, exc.en).response({"Retry-After": "5"})


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return ApiError(
        500, "internal_error", "系统开小差了，请稍后再试。", "internal server error"
    ).response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(Exception, _unexpected)


class BodyLimitMiddleware:
    """Refuses request bodies over `limit` bytes, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await too_large(self.limit).response()(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)
