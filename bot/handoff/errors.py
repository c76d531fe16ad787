"""The one error the handoff raises to its callers: an HTTP status, a stable code and a
message in Chinese and English (the API returns it as `{"error", "message_zh", "message_en"}`)."""

from __future__ import annotations


class HandoffError(Exception):
    def __init__(self, status: int, code: str, zh: str, en: str) -> None:
        self.status, self.code, self.zh, self.en = status, code, zh, en
        super().__init__(en)
