"""Agent Rating: agents rate the customer at the end (满意度, 难应付程度), and ratings from
several agents accumulate into the customer attribute "difficult".

Rule (configurable): a customer is difficult when at least `min_agents` different agents
rated 难应付程度 ≥ `min_difficulty` within the last `window_days`; the flag clears again when
that stops being true (ratings age out, or later agents found the customer easy). A flagged
customer's next handoff goes straight to the expert group.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.handoff.types import Rating

SCALE = range(1, 6)
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class DifficultRule:
    min_difficulty: int = 4
    min_agents: int = 2
    window_days: float = 180.0
    # a later rating with 难应付程度 ≤ this from another agent cancels one earlier hard rating
    easy_at_most: int = 2

    def since(self, now: float) -> float:
        return now - self.window_days * DAY

    def is_difficult(self, ratings: Iterable[Rating], now: float) -> bool:
        """True when enough different agents found the customer hard (recent ratings only)."""
        hard: dict[str, float] = {}
        easy: list[float] = []
        cutoff = self.since(now)
        for rating in sorted(ratings, key=lambda r: r.created_at):
            if rating.created_at < cutoff or rating.difficulty is None:
                continue
            if rating.difficulty >= self.min_difficulty:
                hard[rating.agent_id] = rating.created_at
            elif rating.difficulty <= self.easy_at_most:
                easy.append(rating.created_at)
        for when in easy:  # each later easy rating outweighs the oldest earlier hard one
            earlier = sorted((t, a) for a, t in hard.items() if t < when)
            if earlier:
                del hard[earlier[0][1]]
        return len(hard) >= self.min_agents


def valid_score(value: int | None) -> bool:
    return value is None or value in SCALE
