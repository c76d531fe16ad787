"""The `time` dimension: find parts, keep the longest, join neighbours, render Duckling JSON."""

from __future__ import annotations

from collections.abc import Iterator

from bot.nlu.duckling.base import Context, Match
from bot.nlu.duckling.resolve import longest_first
from bot.nlu.duckling.time_en import en_time_parts
from bot.nlu.duckling.time_zh import zh_time_parts
from bot.nlu.duckling.timecore import merge_parts, render


def times(text: str, ctx: Context) -> Iterator[Match]:
    finder = en_time_parts if ctx.language == "en" else zh_time_parts
    parts = longest_first(finder(text, ctx.now))
    for part in merge_parts(text, parts):
        match = render(part, ctx.now)
        if match is not None:
            yield match
