"""`zhike voice …`: transcribe a recording, speak a text, list the models, build the prompts,
place an outbound SIP call."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import typer

from bot.cli_common import ProjectOpt, _fail, out
from bot.errors import ZhikeError

voice_app = typer.Typer(
    help="Phone IVR: transcribe, say, models, build-prompts, call.", no_args_is_help=True
)


def _voice_section(project: Path) -> dict[str, Any]:
    """credentials.yml `voice:` (the channel's settings), {} when absent."""
    from bot.project.yamlio import read_yaml

    path = project / "credentials.yml"
    doc = read_yaml(path) if path.is_file() else None
    section = doc.get("voice") if isinstance(doc, dict) else None
    return dict(section) if isinstance(section, dict) else {}


def _tts(project: Path, engine: str | None) -> Any:
    from channels.voice.config import VoiceConfig, build_tts

    section = _voice_section(project)
    if engine:
        section["tts"] = engine
    return build_tts(VoiceConfig.from_mapping(section), project.resolve())


@voice_app.command("transcribe")
def transcribe(
    wav: Path = typer.Argument(..., help="A WAV recording (mono or stereo, any common rate)."),
    engine: str = typer.Option(
        None, "--engine", "-e", help="vosk or whisper (default: configured)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    project: Path = ProjectOpt,
) -> None:
    """Recognise a recording: the text, the n-best list and the timing."""
    from voice.asr.models import load_engine
    from voice.audio import duration, read_wav

    try:
        pcm, rate = read_wav(wav)
        asr = load_engine(engine, project.resolve())
        started = time.perf_counter()
        result = asyncio.run(asr.transcribe(pcm, rate, timeout=120.0))
        wall = time.perf_counter() - started
    except (ZhikeError, OSError, ValueError) as exc:
        _fail(exc)
        return
    audio = duration(pcm, rate)
    nbest = [{"text": h.text, "confidence": round(h.confidence, 3)} for h in result.nbest]
    report = {
        "text": result.text,
        "nbest": nbest,
        "engine": result.engine,
        "audio_seconds": round(audio, 3),
        "seconds": round(wall, 3),
        "real_time_factor": round(wall / audio, 3) if audio else None,
    }
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False))
        return
    out.print(result.text or "（没有识别到语音 / no speech recognised）", markup=False)
    for item in nbest[1:]:
        out.print(f"  候选 / alt: {item['text']} ({item['confidence']})", markup=False)
    out.print(f"[dim]{result.engine}: {audio:.2f}s audio in {wall:.2f}s[/dim]")


@voice_app.command("say")
def say(
    text: str = typer.Argument(..., help="What to say (Chinese)."),
    output: Path = typer.Option(..., "--output", "-o", help="The WAV file to write."),
    engine: str = typer.Option(None, "--engine", "-e", help="espeak (offline) or edge (online)."),
    project: Path = ProjectOpt,
) -> None:
    """Speak a text into a 16 kHz WAV file (through the prompt cache)."""
    from voice.audio import write_wav
    from voice.tts.base import Voice

    try:
        tts = _tts(project, engine)
        speech = asyncio.run(tts.synthesize(text, Voice()))
        write_wav(output, speech.pcm, speech.rate)
    except (ZhikeError, OSError, ValueError) as exc:
        _fail(exc)
        return
    cached = "（缓存 / cached）" if speech.cached else ""
    out.print(f"{output}: {speech.duration:.2f}s, {speech.engine}{cached}", markup=False)


@voice_app.command("models")
def models() -> None:
    """Which speech models to download, from where, and where to put them."""
    from voice.asr.models import models_help

    out.print(models_help(), markup=False, highlight=False)


def voice_configured(project: Path) -> bool:
    """A phone channel is configured: credentials.yml has a `voice:` section."""
    from bot.project.yamlio import read_yaml

    path = project / "credentials.yml"
    doc = read_yaml(path) if path.is_file() else None
    return isinstance(doc, dict) and "voice" in doc


def prompts_for(project: Path, engine: str | None = None) -> tuple[int, Path]:
    """Synthesise the project's static prompts; (how many were new, the cache folder)."""
    from voice.tts.cache import CachedEngine
    from voice.tts.prompts import build_prompts as build

    tts = _tts(project, engine)
    inner = tts.engine if isinstance(tts, CachedEngine) else tts
    return build(project.resolve(), inner, tts.cache), Path(tts.cache.root)


@voice_app.command("build-prompts")
def build_prompts(
    engine: str = typer.Option(None, "--engine", "-e", help="espeak (offline) or edge (online)."),
    project: Path = ProjectOpt,
) -> None:
    """Synthesise every static response and KB voice answer into the prompt cache."""
    started = time.perf_counter()
    try:
        made, cache = prompts_for(project, engine)
    except (ZhikeError, OSError, ValueError) as exc:
        _fail(exc)
        return
    out.print(
        f"已合成 {made} 条提示音 / {made} prompt(s) synthesised "
        f"({time.perf_counter() - started:.1f}s) → {cache}"
    )


@voice_app.command("call")
def call(
    uri: str = typer.Argument(..., help="Who to call: sip:13800000000@pbx.example.com"),
    intent: str = typer.Option(..., "--intent", "-i", help="The intent the bot opens with."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for an answer."),
    listen: str = typer.Option(
        "", "--listen", help="host:port for this call's SIP agent (default: a free port)."
    ),
    project: Path = ProjectOpt,
) -> None:
    """Place an outbound call (`voice: sip:` in credentials.yml); when answered, the bot starts
    the conversation with the trigger intent. The attempt (answered / busy / no_answer /
    declined / failed) is printed and appended to .zhike/outbound_calls.jsonl."""
    from voice.telephony.outbound import check, record

    try:
        check(uri, intent)
        attempt = asyncio.run(_outbound(project.resolve(), uri, intent, timeout, listen))
    except (ZhikeError, OSError, ValueError) as exc:
        _fail(exc)
    record(project.resolve() / ".zhike" / "outbound_calls.jsonl", attempt)
    print(attempt.to_json())
    if attempt.result != "answered":
        raise typer.Exit(code=3)


async def _outbound(project: Path, uri: str, intent: str, timeout: float, listen: str) -> Any:
    """One call from a process of its own: the engine, the phone channel, a SIP agent."""
    from bot.server.metrics import Metrics
    from bot.server.settings import load_settings
    from bot.server.state import ServerState
    from channels.voice.channel import create_channel
    from voice.telephony.outbound import place_call

    settings = load_settings(project)
    section = _voice_section(project)
    sip = dict(section.get("sip") or {})
    if not sip and "sip" not in section:
        raise ValueError(
            "credentials.yml 缺少 voice: sip: 配置 / credentials.yml has no voice: sip: section"
        )
    sip["listen"] = listen or _free_listen(str(sip.get("listen") or "127.0.0.1:5060"))
    state = ServerState.build(settings, Metrics())
    channel = create_channel(state, {**section, "sip": sip})
    transport = channel.sip
    assert transport is not None
    state.start()
    try:
        await channel.start()
        return await place_call(transport, uri, intent, timeout)
    finally:
        await channel.close()
        await state.close()


def _free_listen(configured: str) -> str:
    """The configured host with a port that is free for both UDP and TCP."""
    import socket

    host = configured.rsplit(":", 1)[0] or "127.0.0.1"
    bind = "0.0.0.0" if host in ("0.0.0.0", "") else host
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((bind, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((bind, port))
                except OSError:
                    continue
        return f"{host}:{port}"
    raise OSError("no free port for the SIP agent")
