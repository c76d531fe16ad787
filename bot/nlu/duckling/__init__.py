"""Built-in replacement for Rasa's `DucklingEntityExtractor` (no Duckling server needed).

`extract(text)` finds numbers, ordinals, times, amounts of money, phone numbers, emails,
durations and distances in Chinese or English text and returns them as Rasa entities,
with Duckling's value object in `additional_info`.
"""

from bot.nlu.duckling.base import ALL_DIMENSIONS
from bot.nlu.duckling.component import DucklingEntityExtractor
from bot.nlu.duckling.engine import DEFAULT_TIMEZONE, extract

__all__ = ["ALL_DIMENSIONS", "DEFAULT_TIMEZONE", "DucklingEntityExtractor", "extract"]
