"""Overlap resolution: the longest span wins; ties go to the earlier start, then priority."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar


class Span(Protocol):
    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


S = TypeVar("S", bound=Span)


def longest_first(items: Iterable[S], priority: Callable[[S], int] = lambda _: 0) -> list[S]:
    """Keep non-overlapping items, preferring longer ones; result sorted by start."""
    ranked = sorted(
        (i for i in items if i.end > i.start),
        key=lambda i: (i.start - i.end, i.start, priority(i)),
    )
    kept: list[S] = []
    taken: set[int] = set()
    for item in ranked:
        if not any(p in taken for p in range(item.start, item.end)):
            kept.append(item)
            taken.update(range(item.start, item.end))
    kept.sort(key=lambda i: i.start)
    return kept
