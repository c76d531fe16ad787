"""The SIP boundary's helpers: who is calling, call quality, Refer-To targets."""

from __future__ import annotations

import pytest

from voice.telephony.backend import CallQuality, DialFailed, caller_number
from voice.telephony.transfer import target_uri


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("sip:13812345678@10.0.0.1", "13812345678"),
        ("<sip:+8613812345678@carrier.example;user=phone>", "13812345678"),
        ('"张伟" <sip:8613812345678@pbx>;tag=abc', "13812345678"),
        ("tel:+8613812345678", "13812345678"),
        ("sip:01062345678@pbx", "01062345678"),  # a landline keeps its area code
        ("sips:1001@pbx.example.com:5061", "1001"),  # an extension
        ("sip:agent-7@pbx", "agent-7"),  # not a number: the user part as it is
        ("sip:anonymous@anonymous.invalid", ""),
        ("<sip:Restricted@pbx>", ""),
        ("not a uri", ""),
        ("", ""),
    ],
)
def test_caller_number(value: str, number: str) -> None:
    assert caller_number(value) == number


def test_loss_ratio() -> None:
    assert CallQuality().loss_ratio == 0.0
    assert CallQuality(rx_packets=950, rx_lost=50).loss_ratio == pytest.approx(0.05)


def test_dial_failures_speak_both_languages() -> None:
    exc = DialFailed("busy", "486 Busy Here")
    assert exc.outcome == "busy" and "对方忙" in str(exc) and "busy: 486 Busy Here" in str(exc)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:queue@pbx.example.com", "<sip:queue@pbx.example.com?X-Zhike-Handoff=h1>"),
        ("<sip:q@pbx;transport=tcp>", "<sip:q@pbx;transport=tcp?X-Zhike-Handoff=h1>"),
        ("sip:q@pbx?Priority=urgent", "<sip:q@pbx?Priority=urgent&X-Zhike-Handoff=h1>"),
    ],
)
def test_refer_to_carries_the_handoff_id(uri: str, expected: str) -> None:
    assert target_uri(uri, "X-Zhike-Handoff", "h1") == expected


class _Runtime:
    """What the binding's call object needs of a runtime to follow its events."""

    def __init__(self) -> None:
        self.listeners: list[object] = []

    def subscribe(self, listener: object) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener: object) -> None:
        self.listeners.remove(listener)


async def test_an_answer_before_the_call_object_existed_is_not_lost() -> None:
    pytest.importorskip("baresip", reason="the SIP extra is not installed")
    from baresip.call import Call, CallState
    from baresip.events import Event, StackEvent

    from voice.telephony.baresip_backend import BaresipCall, _replay

    def answered(call: int) -> StackEvent:
        return StackEvent(event=Event.CALL_ESTABLISHED, handle=call, ua=1, call=call)

    early = [answered(7), answered(8)]  # dispatched while `dial` was still returning
    raw = Call(_Runtime(), handle=7, ua_handle=1, state=CallState.OUTGOING)
    assert raw.state is CallState.OUTGOING
    _replay(raw, early)
    assert raw.state is CallState.ESTABLISHED
    await BaresipCall(raw).wait_established(0.1)  # returns at once: no wait for a lost answer
    other = Call(_Runtime(), handle=9, ua_handle=1, state=CallState.OUTGOING)
    _replay(other, early)
    assert other.state is CallState.OUTGOING, "only the call's own events"
