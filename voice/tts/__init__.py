"""Text to speech: one interface, an offline engine (espeak-ng), an online one (edge-tts),
a fallback between them and a prompt cache.

    engine = CachedEngine(FallbackEngine(EdgeEngine(), EspeakEngine()), PromptCache(root))
    speech = await engine.synthesize("您好，欢迎致电小知客服", Voice())   # 16 kHz PCM16 mono

The engines are imported lazily (edge-tts, miniaudio, pypinyin load on first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from voice.tts.base import Speech, TtsEngine, TtsError, TtsStats, Voice, speech_text

if TYPE_CHECKING:
    from voice.tts.cache import CachedEngine, PromptCache
    from voice.tts.edge import EdgeEngine
    from voice.tts.espeak import EspeakEngine
    from voice.tts.fallback import FallbackEngine
    from voice.tts.prompts import abuild_prompts, build_prompts

_LAZY = {
    "CachedEngine": "voice.tts.cache",
    "PromptCache": "voice.tts.cache",
    "EdgeEngine": "voice.tts.edge",
    "EspeakEngine": "voice.tts.espeak",
    "FallbackEngine": "voice.tts.fallback",
    "abuild_prompts": "voice.tts.prompts",
    "build_prompts": "voice.tts.prompts",
}

__all__ = [
    "CachedEngine",
    "EdgeEngine",
    "EspeakEngine",
    "FallbackEngine",
    "PromptCache",
    "Speech",
    "TtsEngine",
    "TtsError",
    "TtsStats",
    "Voice",
    "abuild_prompts",
    "build_prompts",
    "speech_text",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'voice.tts' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
