"""Self-tests of the SIP test harness: real baresip phones calling each other on 127.0.0.1,
and the raw SIP/RTP tools against a baresip phone that answers by itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from tests.voice.telephony.harness import rawsip
from tests.voice.telephony.harness.phone import Phone, PhoneFactory
from voice.audio import read_wav, rms_dbfs, silence, tone, write_wav

pytestmark = pytest.mark.sip
HANDOFF = "X-Zhike-Handoff"


def caller_wav(tmp_path: Path) -> Path:
    """0.3 s of silence then 1.5 s of 440 Hz at -10 dBFS, at 16 kHz (the harness resamples)."""
    path = tmp_path / "caller-16k.wav"
    write_wav(path, silence(300, 16000) + tone([440.0], 1500, 16000), 16000)
    return path


def dominant_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


async def connect(caller: Phone, callee: Phone, uri: str | None = None) -> None:
    await caller.dial(uri or callee.uri)
    await caller.wait_event("CALL_ESTABLISHED", 5)
    await callee.wait_event("CALL_ESTABLISHED", 5)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_call_with_audio_dtmf_and_hangup(
    phones: PhoneFactory, tmp_path: Path, transport: str
) -> None:
    caller = await phones("caller", wav=caller_wav(tmp_path), transport=transport)
    agent = await phones("agent", answer="auto", transport=transport)
    await connect(caller, agent)
    started = time.monotonic()
    assert agent.request_uris() == [agent.uri]
    assert (";transport=tcp" in agent.uri) is (transport == "tcp")

    await asyncio.sleep(1.2)
    await caller.dtmf("1#*", gap_s=0.2)
    for _ in range(3):
        await agent.wait_event("CALL_DTMF_END", 3)
    assert [e.param for e in agent.events("CALL_DTMF_START")] == ["1", "#", "*"]

    await caller.hangup()
    closed = [await p.wait_event("CALL_CLOSED", 5) for p in (caller, agent)]
    length = time.monotonic() - started
    assert closed[1].param == "Connection reset by peer"
    assert closed[0].call_id == closed[1].call_id != ""

    pcm, rate = read_wav(await agent.wait_heard())
    assert rate == 8000
    assert abs(len(pcm) / 2 / rate - length) < 0.6
    loud = pcm[int(0.5 * rate) * 2 : int(1.6 * rate) * 2]
    assert rms_dbfs(loud) > -16
    assert abs(dominant_hz(loud, rate) - 440) < 10
    heard_by_caller, _ = read_wav(await caller.wait_heard())
    assert rms_dbfs(heard_by_caller) < -60  # the agent's microphone is silence


async def test_manual_answer(phones: PhoneFactory) -> None:
    caller = await phones("caller")
    agent = await phones("agent")
    await caller.dial(agent.uri)
    incoming = await agent.wait_event("CALL_INCOMING", 5)
    assert incoming.param == caller.uri
    assert incoming.direction == "incoming"
    await caller.wait_event("CALL_RINGING", 5)
    assert not agent.events("CALL_ESTABLISHED")
    await agent.accept()
    await caller.wait_event("CALL_ESTABLISHED", 5)
    await agent.wait_event("CALL_ESTABLISHED", 5)
    await agent.hangup()
    assert (await caller.wait_event("CALL_CLOSED", 5)).param == "Connection reset by peer"
    await agent.wait_event("CALL_CLOSED", 5)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_refer_makes_the_caller_dial_the_handoff_uri(
    phones: PhoneFactory, transport: str
) -> None:
    caller = await phones("caller", transport=transport)
    agent = await phones("agent", answer="auto", transport=transport)
    desk = await phones("desk", answer="auto", transport=transport)
    await connect(caller, agent)

    target = f"{desk.uri}?{HANDOFF}=abc"
    await agent.transfer(target)
    assert (await caller.wait_event("TRANSFER", 5)).param == target
    assert (await agent.wait_event("CALL_CLOSED", 5)).param == "Call transfered"
    await desk.wait_event("CALL_ESTABLISHED", 5)
    assert (await caller.wait_event("CALL_ESTABLISHED", 5)).peer_uri == target

    # baresip 1.0.0 keeps the URI header in the Request-URI and To; it adds no header
    assert desk.request_uris() == [target]
    invite = desk.received("INVITE")[0]
    assert f"To: <{target}>" in invite
    assert f"\n{HANDOFF}:" not in invite

    await caller.hangup()
    await desk.wait_event("CALL_CLOSED", 5)


# --------------------------------------------------------------------------- raw tools


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_raw_options_and_invite(phones: PhoneFactory, transport: str) -> None:
    agent = await phones("agent", answer="auto", transport=transport)
    reply = await rawsip.options("127.0.0.1", agent.sip_port, transport=transport, user="agent")
    assert reply.status == 200
    assert "INVITE" in reply.header("Allow")

    responses = await rawsip.invite(
        "127.0.0.1", agent.sip_port, transport=transport, user="agent", from_user="13912345678"
    )
    assert responses[-1].status == 200
    assert "m=audio" in responses[-1].body
    established = await agent.wait_event("CALL_ESTABLISHED", 5)
    assert established.peer_uri == "sip:13912345678@127.0.0.1"
    assert (await agent.wait_event("CALL_CLOSED", 5)).param == "Connection reset by peer"


async def test_g729_only_offer_gets_488(phones: PhoneFactory) -> None:
    agent = await phones("agent", answer="auto")
    responses = await rawsip.invite("127.0.0.1", agent.sip_port, codecs=("18",), user="agent")
    assert [r.status for r in responses] == [488]
    assert not agent.events("CALL_ESTABLISHED")


async def test_garbage_is_ignored_and_a_call_still_works(phones: PhoneFactory) -> None:
    agent = await phones("agent", answer="auto")
    port = agent.sip_port
    truncated = rawsip.build_invite("127.0.0.1", port, local_port=9, user="agent")[:150]
    for junk in (b"\x00\xff" * 40, b"NOT SIP AT ALL\r\n\r\n", truncated, b"INVITE\r\n\r\n"):
        rawsip.send_garbage("127.0.0.1", port, junk)
    responses = await rawsip.invite("127.0.0.1", port, user="agent")
    assert responses[-1].status == 200
    await agent.wait_event("CALL_CLOSED", 5)
    assert agent.running()


async def test_info_dtmf_and_rtp_inside_a_raw_dialog(phones: PhoneFactory) -> None:
    agent = await phones("agent", answer="auto")
    async with await rawsip.Dialog.open("127.0.0.1", agent.sip_port, user="agent") as dialog:
        assert dialog.established
        assert (await dialog.info_dtmf("5")).status == 200
        assert (await agent.wait_event("CALL_DTMF_START", 3)).param == "5"
        assert dialog.remote_rtp is not None
        sent = await rawsip.send_rtp(*dialog.remote_rtp, 0, 0x1234, 40, sock=dialog.rtp)
        assert sent == 40
    await agent.wait_event("CALL_CLOSED", 5)
    pcm, rate = read_wav(await agent.wait_heard())
    assert rms_dbfs(pcm) > -15  # 0.8 s of loud PCMU 440 Hz
    assert 0.5 < len(pcm) / 2 / rate < 2.0


async def test_flood_hits_the_call_limit(phones: PhoneFactory) -> None:
    agent = await phones("agent", answer="auto", extra_config="call_max_calls 3\n")
    codes = await rawsip.flood("127.0.0.1", agent.sip_port, 5, user="agent")
    assert sorted(codes) == [200, 200, 200, 486, 486]
    assert len(agent.events("CALL_CLOSED")) <= 3
