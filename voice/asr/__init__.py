"""Speech recognition: the `AsrEngine` interface, Vosk and faster-whisper engines, the
project's domain vocabulary and model locations. Engine modules load lazily (their
third-party packages are optional)."""

from voice.asr.base import (
    METRICS,
    AsrEngine,
    AsrError,
    AsrMetrics,
    AsrResult,
    AsrStream,
    BufferedStream,
    Hypothesis,
)
from voice.asr.models import load_engine, models_help, voice_settings

__all__ = [
    "METRICS",
    "AsrEngine",
    "AsrError",
    "AsrMetrics",
    "AsrResult",
    "AsrStream",
    "BufferedStream",
    "Hypothesis",
    "load_engine",
    "models_help",
    "voice_settings",
]
