"""The IVR's SIP endpoint under bad input, load, recording and outbound calls, end to end.

Two servers of the reference bot run one after the other (one SIP runtime per process), both
with `asr: none` (keys only: cheap; in-band key tones are the probe for foreign RTP):

- `TestBadInput`, `max_calls: 3`: garbage datagrams, truncated and malformed INVITEs, codecs
  we do not speak, OPTIONS, an INVITE flood beyond the limit next to a live baresip call, RTP
  from a foreign source, SIP INFO keys. A normal call is placed after each attack. RTP
  injected while the caller is quiet IS heard (no source latching in baresip): strict xfail.
- `TestLoadAndRecording`, `max_calls: 12`, recording on with a 1-day retention: the start-up
  sweep, a stereo recording, 10 baresip callers at once.

`zhike voice call` runs as a subprocess (its own SIP agent) against baresip phones that
answer, decline or never pick up. Calls run in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.channels.voice.sip_support import (
    AUDIO,
    Ivr,
    audible_seconds,
    audible_seconds_of,
    call,
    conversation,
    ended,
    first_audible,
    hang_up,
    logged,
    mic,
    serve,
    session_stats,
    speaking,
    stereo,
    turned,
    until,
    user_texts,
)
from tests.voice.telephony.harness import fixtures
from tests.voice.telephony.harness.phone import Phone, PhoneFactory, baresip_missing
from tests.voice.telephony.harness.rawsip import (
    Dialog,
    build_invite,
    invite,
    options,
    sdp_offer,
    send_garbage,
    send_rtp,
)
from voice.audio import read_wav, silence, split_frames, tone, ulaw_encode, write_wav

pytestmark = [
    pytest.mark.sip,
    pytest.mark.slow,
    pytest.mark.skipif(baresip_missing() is not None, reason=baresip_missing() or ""),
]
phones = fixtures.phones  # the baresip phones fixture

HOST = "127.0.0.1"
RATE = 8000
PCMU_SILENCE = b"\xff" * 160
# three presses of key 5 (770 + 1336 Hz) and 1 s of a loud 440 Hz tone, as PCMU frames
KEY_5_THEN_TONE = [
    ulaw_encode(frame)
    for frame in split_frames(
        (tone([770, 1336], 200, RATE, -6.0) + silence(100, RATE)) * 3
        + tone([440], 1000, RATE, -3.0),
        RATE,
    )
]


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prompt cache for every server and subprocess of this module."""
    return tmp_path_factory.mktemp("prompts")


async def a_normal_call_still_works(ivr: Ivr) -> None:
    """No call is left behind, and an INVITE is answered, served and ended cleanly."""
    await until(lambda: not ivr.channel.calls, 10, "every earlier call to end")
    call_id = uuid.uuid4().hex
    replies = await invite(HOST, ivr.port, call_id=call_id, timeout=5)
    assert replies and replies[-1].status == 200, [r.start for r in replies]
    await ended(ivr, conversation(call_id))
    assert ("turn", "/greet") in [(k, d) for _, k, d in logged(ivr, conversation(call_id))]


def rejected_busy() -> float:
    from voice.telephony.metrics import METRICS

    value = METRICS.registry.get_sample_value("zhike_sip_rejected_total", {"reason": "busy"})
    return value or 0.0


# ====================================================================== bad input
class TestBadInput:
    @pytest.fixture(scope="class")
    @classmethod
    def ivr(
        cls, reference_root: Path, tmp_path_factory: pytest.TempPathFactory, prompts: Path
    ) -> Iterator[Ivr]:
        tmp = tmp_path_factory.mktemp("sip-bad")
        voice = {"asr": "none", "tts": "espeak", "prompt_cache": str(prompts), "max_calls": 3}
        with serve(reference_root, tmp, voice) as live:
            yield live

    async def test_garbage_and_truncated_messages_are_ignored(self, ivr: Ivr) -> None:
        whole = build_invite(HOST, ivr.port, local_port=9)
        junk = [
            b"",
            random.Random(7).randbytes(1400),
            b"\r\n\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID: stray\r\n\r\n",  # a response nobody asked for
            whole[: len(whole) // 2],  # cut inside the headers
            whole[:-40],  # the SDP shorter than its Content-Length
            whole.replace(b" SIP/2.0\r\n", b" SIP/7.0\r\n", 1),
            b"INVITE sip:ivr@127.0.0.1 SIP/2.0\r\nX: " + b"a" * 60_000 + b"\r\n\r\n",
        ]
        known = len(ivr.channel.sip.last_logs)
        for data in junk:
            send_garbage(HOST, ivr.port, data)
        _, writer = await asyncio.open_connection(HOST, ivr.port)  # and over TCP
        writer.write(random.Random(8).randbytes(3000) + whole[:300])
        await writer.drain()
        writer.close()
        await asyncio.sleep(0.5)
        assert not ivr.channel.calls and len(ivr.channel.sip.last_logs) == known
        assert (await options(HOST, ivr.port)).status == 200
        await a_normal_call_still_works(ivr)

    @pytest.mark.parametrize(
        ("transport", "sdp"),
        [
            ("udp", "this is not SDP at all\r\n"),
            ("udp", sdp_offer(["0"], 4000).replace("m=audio 4000", "m=audio port")),
            ("udp", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"),  # no media
            ("tcp", "v=0\r\nm=audio\r\n"),
        ],
        ids=["junk", "bad-port", "no-media", "tcp-cut"],
    )
    async def test_a_malformed_invite_gets_an_error_not_a_hang(
        self, ivr: Ivr, transport: str, sdp: str
    ) -> None:
        started = time.monotonic()
        replies = await invite(HOST, ivr.port, transport=transport, sdp=sdp, timeout=3)
        assert replies, "no answer to a malformed INVITE"
        final = replies[-1]
        assert 400 <= final.status < 600, final.start
        assert time.monotonic() - started < 2.0
        await a_normal_call_still_works(ivr)

    @pytest.mark.parametrize(
        ("transport", "codecs"),
        [("udp", ["18"]), ("tcp", ["18"]), ("udp", ["96 opus/48000/2", "9"])],
        ids=["g729", "g729-tcp", "opus-g722"],
    )
    async def test_an_offer_without_g711_gets_488(
        self, ivr: Ivr, transport: str, codecs: list[str]
    ) -> None:
        replies = await invite(HOST, ivr.port, transport=transport, codecs=codecs, timeout=3)
        assert [r.status for r in replies][-1:] == [488], [r.start for r in replies]
        await a_normal_call_still_works(ivr)

    @pytest.mark.parametrize("transport", ["udp", "tcp"])
    async def test_options_keep_alive_gets_200(self, ivr: Ivr, transport: str) -> None:
        reply = await options(HOST, ivr.port, transport=transport)
        assert reply.status == 200, reply.start

    async def test_an_invite_flood_is_refused_while_a_live_call_goes_on(
        self, ivr: Ivr, phones: PhoneFactory
    ) -> None:
        phone = await phones("13900000001")
        cid = await call(ivr, phone)
        await speaking(ivr, cid, 1)
        await asyncio.sleep(1.0)  # the greeting is playing
        before = rejected_busy()
        flood = await asyncio.gather(*(Dialog.open(HOST, ivr.port, timeout=5) for _ in range(6)))
        try:
            statuses = sorted(d.final.status if d.final else 0 for d in flood)
            assert statuses == [200, 200, 486, 486, 486, 486], statuses  # max_calls: 3
            await until(lambda: len(ivr.channel.calls) == 3, 5, "the two flood calls to start")
            await phone.dtmf("5")  # the live call still hears its caller's keys
            await turned(ivr, cid, "5", 10)
        finally:
            for dialog in flood:
                await dialog.__aexit__(None, None, None)
        assert rejected_busy() - before == 4
        await speaking(ivr, cid, 2)  # the answer to the key
        await asyncio.sleep(1.5)
        await hang_up(phone, ivr, cid)
        assert user_texts(ivr.tracker(cid))[:2] == ["/greet", "5"]
        heard = audible_seconds(await phone.wait_heard(5))
        assert heard > 1.5, f"the live call heard {heard:.1f} s of the bot"
        await a_normal_call_still_works(ivr)

    async def test_a_foreign_stream_does_not_take_over_a_streaming_call(self, ivr: Ivr) -> None:
        """RTP from another port with another SSRC (key tones, a loud tone) while the caller
        streams: no foreign key or barge-in, and the caller's own keys work afterwards. (The
        stack has no source filter: each SSRC switch flushes its jitter buffer, which is what
        keeps the interleaved foreign packets from ever playing.)"""
        dialog = await Dialog.open(HOST, ivr.port, from_user="13900000002")
        cid, target = conversation(dialog.call_id), dialog.remote_rtp
        assert dialog.established and target is not None
        script = {"at": 0, "keys_at": 1 << 30}

        def caller(index: int) -> bytes:  # silence, then the key tones when asked
            script["at"] = index
            keys = index - script["keys_at"]
            return KEY_5_THEN_TONE[keys] if 0 <= keys < len(KEY_5_THEN_TONE) else PCMU_SILENCE

        own = asyncio.create_task(
            send_rtp(*target, 0, 0x1234, 600, sock=dialog.rtp, payload=caller)
        )
        try:
            await turned(ivr, cid, "/greet")
            await asyncio.sleep(0.4)
            await send_rtp(*target, 0, 0x5EED, len(KEY_5_THEN_TONE), payload=_key_tone)
            await asyncio.sleep(0.5)
            cut = ivr.channel.calls[cid].now
            script["keys_at"] = script["at"] + 1  # the same sound from the caller is heard
            await turned(ivr, cid, "5", 5)
        finally:
            own.cancel()
            await dialog.__aexit__(None, None, None)
        await ended(ivr, cid)
        early = [(kind, detail) for t, kind, detail in logged(ivr, cid) if t < cut]
        assert not [e for e in early if e[0] in ("dtmf", "barge-in")], early
        assert [detail for kind, detail in early if kind == "turn"] == ["/greet"], early
        assert user_texts(ivr.tracker(cid))[:2] == ["/greet", "5"]
        await a_normal_call_still_works(ivr)

    @pytest.mark.xfail(
        strict=True,
        reason="baresip 4 (rtprecv) takes RTP from any address and adopts a new SSRC: no "
        "source latching; keep the RTP range firewalled to the PBX (docs/channels/phone.md §7)",
    )
    async def test_rtp_injected_while_the_caller_is_quiet_is_not_heard(self, ivr: Ivr) -> None:
        """The caller streams, then pauses (silence suppression, hold); a foreign source sends
        key tones to the call's RTP port meanwhile."""
        dialog = await Dialog.open(HOST, ivr.port, from_user="13900000004")
        cid, target = conversation(dialog.call_id), dialog.remote_rtp
        assert dialog.established and target is not None
        try:
            await turned(ivr, cid, "/greet")
            await send_rtp(*target, 0, 0x1234, 25, sock=dialog.rtp, payload=lambda i: PCMU_SILENCE)
            await send_rtp(*target, 0, 0x5EED, len(KEY_5_THEN_TONE), payload=_key_tone)
            await asyncio.sleep(0.5)
        finally:
            await dialog.__aexit__(None, None, None)
        await ended(ivr, cid)
        kinds = [kind for _, kind, _ in logged(ivr, cid)]
        assert "dtmf" not in kinds and "barge-in" not in kinds, logged(ivr, cid)

    async def test_sip_info_keys_reach_the_tracker(self, ivr: Ivr) -> None:
        dialog = await Dialog.open(HOST, ivr.port, from_user="13900000003")
        cid = conversation(dialog.call_id)
        try:
            assert dialog.established
            await turned(ivr, cid, "/greet")
            reply = await dialog.info_dtmf("0")  # key 0: an agent
            assert reply.status == 200, reply.start
            await turned(ivr, cid, "0", 10)
            await until(lambda: "handoff" in [k for _, k, _ in logged(ivr, cid)], 15, "handoff")
        finally:
            await dialog.__aexit__(None, None, None)
        await ended(ivr, cid)
        events = ivr.tracker(cid)["events"]
        assert user_texts({"events": events})[:2] == ["/greet", "0"]
        assert any(e["event"] == "handoff" for e in events), [e["event"] for e in events]
        assert ("dtmf", "0") in [(k, d) for _, k, d in logged(ivr, cid)]


def _key_tone(index: int) -> bytes:
    return KEY_5_THEN_TONE[index]


# ====================================================================== load and recording
def old_file(path: Path, days: float, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".wav":
        write_wav(path, silence(100, RATE), RATE)
    else:
        path.write_bytes(data)
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))
    return path


class TestLoadAndRecording:
    @pytest.fixture(scope="class")
    @classmethod
    def ivr(
        cls, reference_root: Path, tmp_path_factory: pytest.TempPathFactory, prompts: Path
    ) -> Iterator[Ivr]:
        tmp = tmp_path_factory.mktemp("sip-load")
        folder = tmp / "recordings"
        old_file(folder / "2020-01-01" / "090000-old.wav", days=3)  # past the retention
        old_file(folder / "2020-01-01" / "notes.txt", days=3, data=b"not a recording")
        old_file(folder / "recent" / "120000-recent.wav", days=0.5)
        recording = {"enabled": True, "dir": str(folder), "retention_days": 1}
        voice = {
            "asr": "none",
            "tts": "espeak",
            "prompt_cache": str(prompts),
            "max_calls": 12,
            "sip": {"recording": recording},
        }
        with serve(reference_root, tmp, voice) as live:
            yield live

    @staticmethod
    def recordings(ivr: Ivr) -> Path:
        sip = ivr.channel.sip
        return Path(sip.config.recording.path(sip.project))

    def recording_of(self, ivr: Ivr, cid: str) -> list[Path]:
        return sorted(self.recordings(ivr).rglob(f"*-{cid}.wav"))

    async def test_the_start_up_sweep_deletes_recordings_past_retention(self, ivr: Ivr) -> None:
        folder = self.recordings(ivr)
        old = folder / "2020-01-01" / "090000-old.wav"
        await until(lambda: not old.exists(), 10, "the start-up sweep")
        assert (folder / "2020-01-01" / "notes.txt").exists()  # only WAVs are deleted
        assert (folder / "recent" / "120000-recent.wav").exists()

    async def test_a_call_is_recorded_caller_left_bot_right(
        self, ivr: Ivr, phones: PhoneFactory, tmp_path: Path
    ) -> None:
        speech, _ = read_wav(AUDIO / "query_balance_8k.wav")
        phone = await phones("13900000100", wav=mic(tmp_path, silence(1000, RATE), speech))
        cid = await call(ivr, phone)
        await asyncio.sleep(1.0 + len(speech) / (2 * RATE) + 0.5)
        await hang_up(phone, ivr, cid)
        found = self.recording_of(ivr, cid)
        assert len(found) == 1, found
        left, right, rate = stereo(found[0])
        assert rate == RATE and len(left) / (2 * RATE) > 2.0
        caller, expected = audible_seconds_of(left, rate), audible_seconds_of(speech, RATE)
        assert abs(caller - expected) < 0.6, (caller, expected)  # the caller, and only them
        start = first_audible(left, rate) - first_audible(speech, RATE)
        assert 0.7 < start < 1.6, start  # after the caller's 1 s of silence
        bot = audible_seconds_of(right, rate)
        assert bot > 1.5, f"the greeting is not on the right channel ({bot:.1f} s audible)"
        assert 0.0 <= first_audible(right, rate) < 1.0

    async def test_ten_simultaneous_calls_complete(self, ivr: Ivr, phones: PhoneFactory) -> None:
        keys = "0123456789"
        callers: list[Phone] = list(
            await asyncio.gather(*(phones(f"1390000{200 + i}") for i in range(len(keys))))
        )
        with session_stats() as stats:
            cids = list(await asyncio.gather(*(call(ivr, p) for p in callers)))
            assert len(set(cids)) == len(keys)
            await asyncio.gather(
                *(self.press(ivr, p, c, k) for p, c, k in zip(callers, cids, keys, strict=True))
            )
            await until(lambda: not ivr.channel.calls, 15, "every call to end on our side")
            await until(lambda: set(cids) <= set(stats.calls), 5, "every session's stats")
        for phone, cid, key in zip(callers, cids, keys, strict=True):
            events = ivr.tracker(cid)["events"]
            texts = user_texts({"events": events})
            assert texts[:2] == ["/greet", key], (cid, texts)
            handoffs = [e for e in events if e["event"] == "handoff"]
            assert bool(handoffs) == (key == "0"), (key, [e["event"] for e in events])
            heard = audible_seconds(await phone.wait_heard(5))
            assert heard > 0.8, f"{phone.name} heard {heard:.1f} s of the greeting"
            assert len(self.recording_of(ivr, cid)) == 1
            frames, late, dropped, _underruns = stats.calls[cid]
            # a shared CI machine stalls the loop now and then (26 of 130 ticks late was seen);
            # real-time capacity is measured by bench/sip_bench.py (24 calls per core). Here: the
            # loop kept up with most of the call — a blocking call inside it would fail this
            assert frames > 50 and late + dropped <= frames // 2, stats.calls[cid]

    @staticmethod
    async def press(ivr: Ivr, phone: Phone, cid: str, key: str) -> None:
        """Hear the greeting for 1–2.8 s (callers do not all press at the same instant),
        press `key`, hang up once its turn started."""
        await speaking(ivr, cid, 1)
        await asyncio.sleep(1.0 + 0.2 * int(key))
        await phone.dtmf(key)
        await turned(ivr, cid, key, 15)
        await hang_up(phone, ivr, cid)


# ====================================================================== outbound
def outbound_project(reference_root: Path, folder: Path, prompts: Path) -> Path:
    """A copy of the trained reference bot that places calls (`voice: sip:`, keys only)."""
    root = folder / "project"  # not "bot": `python -m bot.cli` runs next to it
    shutil.copytree(reference_root, root, ignore=shutil.ignore_patterns(".zhike"))
    (root / "credentials.yml").write_text(
        f'voice:\n  asr: none\n  prompt_cache: {prompts}\n  sip:\n    listen: "127.0.0.1:5060"\n',
        "utf-8",
    )
    return root


async def zhike_call(project: Path, uri: str, timeout_s: float) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "ZHIKE_ACTIONS")}
    env.update(NO_COLOR="1", ZHIKE_DEMO_DB=str(project.parent / "demo.db"))
    args = ["voice", "call", uri, "--intent", "greet", "--timeout", str(timeout_s)]
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, "--project", str(project),
        cwd=project.parent, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def stop(procs: list[asyncio.subprocess.Process]) -> None:
    """Kill the CLI processes this test started that are still running."""
    for proc in procs:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()


async def outcome(proc: asyncio.subprocess.Process, project: Path) -> tuple[int, dict[str, Any]]:
    """The exit code and the printed attempt (also the one line of the project's log)."""
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    printed = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert printed and "Traceback" not in err.decode(), err.decode()[-3000:]
    logged_lines = (project / ".zhike" / "outbound_calls.jsonl").read_text("utf-8").splitlines()
    assert logged_lines == printed[-1:]
    return int(proc.returncode or 0), json.loads(printed[-1])


async def test_outbound_calls_answered_declined_and_unanswered(
    reference_root: Path, prompts: Path, phones: PhoneFactory, tmp_path: Path
) -> None:
    answers = await phones("13900000301", answer="auto")
    declines = await phones("13900000302")
    nobody = await phones("13900000303")
    plan = [(answers, 20.0), (declines, 20.0), (nobody, 3.0)]
    projects = [outbound_project(reference_root, tmp_path / p.name, prompts) for p, _ in plan]
    procs = [await zhike_call(root, p.uri, t) for root, (p, t) in zip(projects, plan, strict=True)]

    async def listen_then_hang_up() -> None:
        await answers.wait_event("CALL_ESTABLISHED", 45)
        await asyncio.sleep(4.0)  # the greeting
        await answers.hangup()

    async def decline() -> None:
        await declines.wait_event("CALL_INCOMING", 45)
        await declines.hangup()

    try:
        try:
            await asyncio.gather(listen_then_hang_up(), decline())
        except TimeoutError as exc:
            stop(procs)
            errors = [(await proc.communicate())[1].decode()[-1500:] for proc in procs]
            raise AssertionError(f"{exc}; the CLI said: {errors}") from exc
        (code_a, answered), (code_b, declined), (code_c, unanswered) = [
            await outcome(proc, root) for proc, root in zip(procs, projects, strict=True)
        ]
    finally:
        stop(procs)
    # (a) answered: the bot opened with the intent and the callee heard it
    assert code_a == 0 and answered["result"] == "answered", answered
    assert answered["intent"] == "greet" and answered["conversation_id"].startswith("sip-")
    assert any("X-Zhike-Intent: greet" in m for m in answers.received("INVITE"))
    heard = audible_seconds(await answers.wait_heard(5))
    assert heard > 1.5, f"the callee heard {heard:.1f} s of the bot"
    # (b) declined by the callee (486 from baresip's hangup)
    assert code_b == 3 and declined["result"] in ("busy", "declined"), declined
    # (c) nobody answered within --timeout 3: the attempt was cancelled
    assert code_c == 3 and unanswered["result"] == "no_answer", unanswered
    assert 2.5 < unanswered["seconds"] < 10
    await nobody.wait_event("CALL_CLOSED", 5)
