"""The IVR over SIP, end to end: Debian's baresip phones call the reference bot on 127.0.0.1.

The server (uvicorn in a thread, `voice: sip:` configured) answers real INVITEs with the real
stack (libre/baresip through baresip-python); callers play the committed recordings as their
microphone, send RFC 4733 keys and record what they hear. whisper-base (the test model)
listens, espeak-ng speaks. Calls run in real time.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.voice.sip_support import (
    ZHANG_WEI,
    Ivr,
    audible_seconds,
    audible_seconds_of,
    call,
    hang_up,
    logged,
    mic,
    said,
    serve,
    spoken,
    until,
    user_texts,
)
from tests.voice.telephony.harness import fixtures
from tests.voice.telephony.harness.phone import Phone, PhoneFactory, baresip_missing, free_sip_port
from voice.audio import read_wav, silence, tone, write_wav

pytestmark = [
    pytest.mark.sip,
    pytest.mark.slow,
    pytest.mark.skipif(baresip_missing() is not None, reason=baresip_missing() or ""),
]
phones = fixtures.phones  # the baresip phones fixture


@pytest.fixture(scope="module")
def ivr(reference_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ivr]:
    tmp = tmp_path_factory.mktemp("sip")
    voice = {
        "asr": "whisper",
        "tts": "espeak",
        "prompt_cache": str(tmp / "prompts"),
        "max_calls": 12,
        "sip": {"transports": ["udp", "tcp"], "jitter_ms": 40},
    }
    with serve(reference_root, tmp, voice) as live:
        yield live


# ------------------------------------------------------------------ self-service
async def test_a_known_caller_asks_for_the_balance(
    ivr: Ivr, phones: PhoneFactory, tmp_path: Path
) -> None:
    phone = await phones(ZHANG_WEI, wav=mic(tmp_path, silence(5000, 8000), "query_balance_8k.wav"))
    cid = await call(ivr, phone)
    await said(ivr, cid, "余额", 40)  # 张伟 is recognised by his number: no question asked
    await asyncio.sleep(1.0)
    await hang_up(phone)
    tracker = ivr.tracker(cid)
    said_ = user_texts(tracker)
    assert said_[0] == "/greet" and "话费" in said_[1], said_
    intents = [e["parse_data"]["intent"]["name"] for e in tracker["events"] if e["event"] == "user"]
    assert "query_balance" in intents[1], intents
    meta = [e.get("metadata", {}) for e in tracker["events"] if e["event"] == "user"]
    assert {m.get("caller") for m in meta} == {ZHANG_WEI}
    heard = await phone.wait_heard(5)
    seconds = audible_seconds(heard)
    assert seconds > 3.0, f"the greeting and the balance were not heard ({seconds:.1f} s audible)"


async def test_a_menu_answered_with_a_key(ivr: Ivr, phones: PhoneFactory, tmp_path: Path) -> None:
    phone = await phones(ZHANG_WEI, wav=mic(tmp_path, silence(5000, 8000), "change_plan_8k.wav"))
    cid = await call(ivr, phone)
    await spoken(ivr, cid, "按1", 40)  # the plan menu, spoken to the end
    await phone.dtmf("1")  # RFC 4733
    await until(lambda: len(user_texts(ivr.tracker(cid))) >= 3, 15, "the key's turn")
    await hang_up(phone)
    said_ = user_texts(ivr.tracker(cid))
    assert "套餐" in said_[1] and said_[2].startswith("/inform") and "plan" in said_[2], said_


async def test_speech_over_the_greeting_interrupts_it(
    ivr: Ivr, phones: PhoneFactory, tmp_path: Path
) -> None:
    phone = await phones(ZHANG_WEI, wav=mic(tmp_path, silence(600, 8000), "query_balance_8k.wav"))
    cid = await call(ivr, phone)
    await said(ivr, cid, "余额", 40)
    await hang_up(phone, ivr, cid)
    log = ivr.channel.sip.last_logs[cid]
    kinds = [kind for _, kind, _ in log]
    assert "barge-in" in kinds, log
    said_ = user_texts(ivr.tracker(cid))
    assert "话费" in said_[1], said_


async def test_silence_escalates_to_a_human(ivr: Ivr, phones: PhoneFactory) -> None:
    channel = ivr.channel
    saved = channel.config
    channel.config = dataclasses.replace(saved, no_input_s=2.0, max_no_input=1)
    try:
        phone = await phones("anonymous01")  # says nothing
        cid = await call(ivr, phone)
        await until(
            lambda: any(e["event"] == "handoff" for e in ivr.tracker(cid)["events"]),
            40,
            "the escalation",
        )
        await hang_up(phone)
    finally:
        channel.config = saved
    shown = [
        e.get("metadata", {}).get("display_text")
        for e in ivr.tracker(cid)["events"]
        if e["event"] == "user"
    ]
    assert "（来电无应答，自动转人工）" in shown, shown


async def test_a_caller_hanging_up_mid_prompt(ivr: Ivr, phones: PhoneFactory) -> None:
    phone = await phones(ZHANG_WEI)
    cid = await call(ivr, phone)
    await asyncio.sleep(1.0)  # the greeting is playing
    await hang_up(phone, ivr, cid)
    assert cid not in ivr.channel.calls
    assert user_texts(ivr.tracker(cid))[0] == "/greet"


# ------------------------------------------------------------------ transfer to a human
async def ask_for_a_human(ivr: Ivr, cid: str, phone: Phone) -> None:
    """After the greeting, the caller presses 0 (the IVR's key for an agent)."""
    await until(lambda: "/greet" in user_texts(ivr.tracker(cid)), 10, "the greeting turn")
    await asyncio.sleep(3.0)
    await phone.dtmf("0")


async def test_a_transfer_with_refer_reaches_the_agent_phone(
    ivr: Ivr, phones: PhoneFactory, tmp_path: Path
) -> None:
    from voice.telephony.config import TransferConfig

    agent = await phones("agent", answer="auto")
    sip = ivr.channel.sip
    saved = sip.config
    sip.config = dataclasses.replace(
        saved, transfer=TransferConfig(default=agent.uri, timeout_s=10)
    )
    try:
        phone = await phones(ZHANG_WEI)
        cid = await call(ivr, phone)
        await ask_for_a_human(ivr, cid, phone)
        try:
            await agent.wait_event("CALL_ESTABLISHED", 60)  # the caller re-dialled the agent
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; {user_texts(ivr.tracker(cid))}") from exc
    finally:
        sip.config = saved
    handoffs = [e for e in ivr.tracker(cid)["events"] if e["event"] == "handoff"]
    assert handoffs, "the handoff was not recorded"
    handoff_id = handoffs[-1]["handoff_id"]
    uris = agent.request_uris()
    assert any(f"X-Zhike-Handoff={handoff_id}" in u for u in uris), uris
    # the REFER's outcome (NOTIFY 200) reaches us just after the agent answered
    await until(
        lambda: any(
            e["event"] == "handoff_state" and e.get("state") == "ended"
            for e in ivr.tracker(cid)["events"]
        ),
        10,
        "the handoff to end as handed over",
    )
    service = ivr.state.handoff
    stored = asyncio.run_coroutine_threadsafe(service.store.get(handoff_id), ivr.channel.loop)
    h = stored.result(10)
    assert h.state.value == "ended" and h.ended_by == "phone"
    await hang_up(phone)


async def test_a_failed_transfer_comes_back_with_a_ticket(
    ivr: Ivr, phones: PhoneFactory, tmp_path: Path
) -> None:
    from voice.telephony.config import TransferConfig

    sip = ivr.channel.sip
    saved = sip.config
    nobody = f"sip:nobody@127.0.0.1:{free_sip_port()};transport=tcp"  # refused at once
    sip.config = dataclasses.replace(
        saved, transfer=TransferConfig(default=nobody, mode="refer_then_bridge", timeout_s=5)
    )
    try:
        phone = await phones(ZHANG_WEI)
        cid = await call(ivr, phone)
        await ask_for_a_human(ivr, cid, phone)
        await said(ivr, cid, "工单号", 90)
    finally:
        sip.config = saved
    await hang_up(phone)
    states = [e for e in ivr.tracker(cid)["events"] if e["event"] == "handoff_state"]
    assert states[-1]["state"] == "ticket", states


async def test_a_bridge_when_refer_is_not_used(
    ivr: Ivr, phones: PhoneFactory, tmp_path: Path
) -> None:
    from voice.telephony.config import TransferConfig

    voice = tmp_path / "agent.wav"  # the agent talks: a steady tone the caller must hear
    write_wav(voice, tone([440.0], 30_000, 8000), 8000)
    agent = await phones("desk", answer="auto", wav=voice)
    sip = ivr.channel.sip
    saved = sip.config
    sip.config = dataclasses.replace(
        saved, transfer=TransferConfig(default=agent.uri, mode="bridge", timeout_s=10)
    )
    try:
        phone = await phones(ZHANG_WEI)
        cid = await call(ivr, phone)
        await ask_for_a_human(ivr, cid, phone)
        await agent.wait_event("CALL_ESTABLISHED", 60)  # we called the agent's queue ourselves
    finally:
        sip.config = saved
    handoffs = [e for e in ivr.tracker(cid)["events"] if e["event"] == "handoff"]
    (invite,) = agent.received("INVITE")
    assert f"X-Zhike-Handoff: {handoffs[-1]['handoff_id']}" in invite, invite  # a real header
    await asyncio.sleep(3.0)  # the agent talks to the caller through the bridge
    await hang_up(phone, ivr, cid)
    await agent.wait_event("CALL_CLOSED", 10)  # the caller left: the agent's leg ends too
    assert any(
        kind == "transfer" and detail.startswith("bridged") for _, kind, detail in logged(ivr, cid)
    )
    pcm, rate = read_wav(await phone.wait_heard(5))
    assert audible_seconds_of(pcm[-rate * 2 * 3 :], rate) > 2.0  # the last 3 s: the agent


async def test_the_caller_holds_and_resumes(ivr: Ivr, phones: PhoneFactory) -> None:
    phone = await phones(ZHANG_WEI)
    cid = await call(ivr, phone)
    await until(lambda: "/greet" in user_texts(ivr.tracker(cid)), 10, "the greeting turn")
    await phone.command("hold")  # re-INVITE a=sendonly: nothing comes from the caller
    await asyncio.sleep(2.0)
    await phone.command("resume")
    await asyncio.sleep(0.5)
    await phone.dtmf("0")  # the call goes on after the hold
    await until(
        lambda: any(e["event"] == "handoff" for e in ivr.tracker(cid)["events"]), 20, "key 0"
    )
    await hang_up(phone, ivr, cid)
    assert "0" in user_texts(ivr.tracker(cid))
