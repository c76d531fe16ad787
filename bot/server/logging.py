"""Structured logs: one JSON object per line, with the conversation id of the current turn.

`conversation_context(cid)` sets the id in a contextvar for the duration of a turn or request;
every record logged meanwhile (engine, stores, actions, server) carries it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

conversation_id: ContextVar[str | None] = ContextVar("zhike_conversation_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "conversation_id",
    "color_message",
}
_QUIET = ("jieba", "multipart", "watchfiles")


@contextmanager
def conversation_context(cid: str | None) -> Iterator[None]:
    token = conversation_id.set(cid)
    try:
        yield
    finally:
        conversation_id.reset(token)


class ConversationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.conversation_id = conversation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
            + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "conversation_id": getattr(record, "conversation_id", None),
        }
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(conversation_id)s] %(message)s")


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route every logger (incl. uvicorn's) through one stderr handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ConversationFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
