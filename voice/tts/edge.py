"""Online TTS through Microsoft Edge's read-aloud service, with the `edge-tts` package.

Natural neural Chinese voices (`zh-CN-XiaoxiaoNeural` …), streamed as 24 kHz MP3 and decoded
with miniaudio; the base class resamples to 16 kHz. Needs the internet, so production setups
wrap it in `FallbackEngine(EdgeEngine(), EspeakEngine())`.

`endpoint` points the engine at another server speaking the same protocol (the test fake in
`bot.testing.edge_tts_server`, a proxy …). edge-tts has no option for that: it formats its
module constant `WSS_URL` into every request URL. We replace that constant, once, by a string
whose formatting reads a context variable, so each engine's endpoint applies to its own calls
only and everything else is left untouched.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from array import array

import aiohttp
import edge_tts
import edge_tts.communicate
import edge_tts.exceptions as edge_errors
import miniaudio
import numpy as np
from edge_tts.constants import TRUSTED_CLIENT_TOKEN

from voice.tts.base import Speech, TtsEngine, TtsError, Voice, mark_first_byte, time_left

_ENDPOINT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "zhike_edge_endpoint", default=None
)


class _RoutedUrl(str):
    """edge-tts's `WSS_URL`, formatted as the current call's endpoint when one is set."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        return format(_ENDPOINT.get() or str(self), spec)


def _route_endpoints() -> bool:
    """Install the routed URL in edge-tts (idempotent); False if edge-tts has no WSS_URL."""
    current = getattr(edge_tts.communicate, "WSS_URL", None)
    if isinstance(current, _RoutedUrl):
        return True
    if not isinstance(current, str):
        return False
    edge_tts.communicate.WSS_URL = _RoutedUrl(current)
    return True


def endpoint_url(endpoint: str) -> str:
    """A full service URL from `ws(s)://host:port/path`; the client token is added if absent."""
    if not endpoint.startswith(("ws://", "wss://")):
        raise TtsError(
            f"在线语音服务地址必须以 ws:// 或 wss:// 开头：{endpoint!r}",
            f"the edge-tts endpoint must start with ws:// or wss://: {endpoint!r}",
        )
    if "?" in endpoint:
        return endpoint
    return f"{endpoint}?TrustedClientToken={TRUSTED_CLIENT_TOKEN}"


# ----------------------------------------------------------------- errors


def _handshake_error(exc: BaseException) -> TtsError | None:
    if not isinstance(exc, aiohttp.WSServerHandshakeError):
        return None
    return TtsError(
        f"在线语音服务拒绝了连接（HTTP {exc.status}）",
        f"the online speech service refused the connection (HTTP {exc.status})",
        retryable=exc.status >= 500 or exc.status == 429,
    )


_RETRYABLE: tuple[tuple[tuple[type[BaseException], ...], str, str], ...] = (
    ((TimeoutError,), "在线语音服务响应超时", "the online speech service stopped answering"),
    (
        (aiohttp.ClientConnectionError, OSError),
        "无法连接在线语音服务",
        "cannot reach the online speech service",
    ),
    (
        (edge_errors.NoAudioReceived,),
        "在线语音服务没有返回音频",
        "the online speech service returned no audio",
    ),
    (
        (edge_errors.EdgeTTSException, aiohttp.ClientError),
        "在线语音服务返回了异常数据",
        "unexpected reply from the online speech service",
    ),
)


def _translate(exc: BaseException) -> TtsError | None:
    """A `TtsError` for the library errors we know, None for anything else."""
    handshake = _handshake_error(exc)
    if handshake is not None:
        return handshake
    for types, zh, en in _RETRYABLE:
        if isinstance(exc, types):
            return TtsError(f"{zh}：{exc}", f"{en}: {type(exc).__name__}: {exc}", retryable=True)
    return None


# ----------------------------------------------------------------- decoding


def decode_mp3(data: bytes) -> tuple[bytes, int]:
    """MP3 bytes → mono PCM16 at the stream's own rate (blocking: run it in a thread)."""
    try:
        decoded = miniaudio.mp3_read_s16(data)
    except miniaudio.DecodeError as exc:
        raise TtsError(
            "在线语音服务返回的 MP3 无法解码",
            f"cannot decode the MP3 from the online speech service: {exc}",
            retryable=True,
        ) from exc
    samples: array[int] = decoded.samples
    if decoded.nchannels > 1:
        frames = np.asarray(samples, dtype=np.int16).reshape(-1, decoded.nchannels)
        return frames.mean(axis=1).astype("<i2").tobytes(), decoded.sample_rate
    return samples.tobytes(), decoded.sample_rate


# ----------------------------------------------------------------- the engine


class EdgeEngine(TtsEngine):
    """edge-tts: Microsoft's online neural voices (needs the internet)."""

    name = "edge"

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        proxy: str | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.endpoint = endpoint_url(endpoint) if endpoint else None
        if self.endpoint and not _route_endpoints():
            raise TtsError(
                "当前 edge-tts 版本不支持自定义服务地址",
                "this edge-tts version does not allow a custom endpoint",
            )
        self.proxy = proxy
        self.connect_timeout = connect_timeout

    async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
        budget = time_left(30.0)
        try:
            communicate = edge_tts.Communicate(
                text,
                voice.name,
                rate=voice.rate,
                pitch=voice.pitch,
                volume=voice.volume,
                proxy=self.proxy,
                connect_timeout=max(1, math.ceil(min(self.connect_timeout, budget))),
                receive_timeout=max(1, math.ceil(budget)),
            )
        except ValueError as exc:
            raise TtsError(f"语音参数不正确：{exc}", f"invalid voice settings: {exc}") from exc
        mp3 = await self._stream(communicate)
        _check_complete(communicate, len(mp3))
        pcm, rate = await asyncio.to_thread(decode_mp3, mp3)
        return Speech(pcm, rate, self.name)

    async def _stream(self, communicate: edge_tts.Communicate) -> bytes:
        mp3 = bytearray()
        token = _ENDPOINT.set(self.endpoint)
        try:
            async for chunk in communicate.stream():
                if chunk["type"] == "audio" and chunk.get("data"):
                    if not mp3:
                        mark_first_byte()
                    mp3 += chunk["data"]
        except Exception as exc:
            translated = _translate(exc)
            if translated is None:
                raise
            raise translated from exc
        finally:
            _ENDPOINT.reset(token)
        return bytes(mp3)


def _check_complete(communicate: edge_tts.Communicate, received: int) -> None:
    """edge-tts ends quietly when the socket closes mid-stream; its byte count, which is only
    settled at each `turn.end`, then falls short of what we received."""
    settled = communicate.state.get("cumulative_audio_bytes")
    if isinstance(settled, int) and settled != received:
        raise TtsError(
            "在线语音服务在合成中途断开了连接",
            f"the online speech service closed the stream mid-way "
            f"({received - settled} bytes after the last turn.end)",
            retryable=True,
        )
