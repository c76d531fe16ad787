"""`DucklingEntityExtractor`: the pipeline component, configured like Rasa's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from bot.nlu.component import Component, NLUMessage
from bot.nlu.duckling.engine import DEFAULT_TIMEZONE, extract, language_of


class DucklingEntityExtractor(Component):
    """Finds numbers, times, money, phone numbers, emails and durations without a server.

    Config (as in Rasa): `dimensions` (None = all), `timezone`, `locale` ("zh_CN",
    "en_US"; defaults to the pipeline language). `url` and `timeout` are accepted and ignored.
    """

    name: ClassVar[str] = "DucklingEntityExtractor"
    defaults: ClassVar[dict[str, Any]] = {
        "dimensions": None,
        "timezone": None,
        "locale": None,
        "url": None,
        "timeout": 3,
    }

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        language: str = "zh",
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(config, language)
        self.clock = clock
        dims = self.config.get("dimensions")
        self.dimensions: set[str] | None = {str(d) for d in dims} if dims else None
        self.timezone: str = str(self.config.get("timezone") or DEFAULT_TIMEZONE)
        self.parse_language = language_of(self.config.get("locale") or language)

    def process(self, message: NLUMessage) -> None:
        now = self.clock() if self.clock is not None else None
        message.entities.extend(
            extract(message.text, self.dimensions, self.parse_language, now, self.timezone)
        )
