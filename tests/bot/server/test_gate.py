"""`TurnGate`: first come first served, bounded waits, no lost slots."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.server.gate import TurnGate


async def _turn(gate: TurnGate, name: str, log: list[str], hold: float = 0.0) -> float:
    async with gate.slot() as waited:
        log.append(f"+{name}")
        await asyncio.sleep(hold)
        await asyncio.sleep(0)  # a turn yields (store, actions) while it holds its slot
        log.append(f"-{name}")
    return waited


async def test_one_slot_runs_turns_to_completion_in_arrival_order() -> None:
    gate, log = TurnGate(slots=1, max_wait=5.0), []
    await asyncio.gather(*(_turn(gate, n, log) for n in "abc"))
    assert log == ["+a", "-a", "+b", "-b", "+c", "-c"]
    assert gate.busy == 0 and gate.waiting == 0 and gate.bypassed == 0


async def test_two_slots_let_two_turns_overlap() -> None:
    gate, log = TurnGate(slots=2, max_wait=5.0), []
    await asyncio.gather(*(_turn(gate, n, log) for n in "abc"))
    assert log[:2] == ["+a", "+b"] and log.index("+c") > min(log.index("-a"), log.index("-b"))
    assert gate.busy == 0


async def test_a_turn_stuck_in_its_slot_holds_the_others_up_only_max_wait() -> None:
    gate, log = TurnGate(slots=1, max_wait=0.05), []
    stuck = asyncio.ensure_future(_turn(gate, "slow", log, hold=1.0))
    await asyncio.sleep(0)
    waited = await asyncio.wait_for(_turn(gate, "next", log), 0.5)
    assert 0.04 <= waited < 0.5 and gate.bypassed == 1
    assert log[-2:] == ["+next", "-next"] and gate.busy == 1  # still the stuck turn's
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert gate.busy == 0


async def test_a_cancelled_waiter_loses_no_slot() -> None:
    gate, log = TurnGate(slots=1, max_wait=5.0), []
    first = asyncio.ensure_future(_turn(gate, "a", log, hold=0.02))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(_turn(gate, "gone", log))
    await asyncio.sleep(0)
    gone.cancel()
    await first
    await _turn(gate, "c", log)
    assert "+gone" not in log and log[-2:] == ["+c", "-c"]
    assert gate.busy == 0 and gate.waiting == 0


async def test_a_slot_handed_to_a_cancelled_turn_is_passed_on() -> None:
    gate, log = TurnGate(slots=1, max_wait=5.0), []
    first = asyncio.ensure_future(_turn(gate, "a", log, hold=0.01))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(_turn(gate, "b", log))
    third = asyncio.ensure_future(_turn(gate, "c", log))
    await first  # "b" is handed the slot...
    second.cancel()  # ...but is cancelled before it runs
    await asyncio.gather(second, third, return_exceptions=True)
    assert log[-2:] == ["+c", "-c"] and gate.busy == 0


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        TurnGate(slots=0)
    with pytest.raises(ValueError):
        TurnGate(max_wait=-1)


def test_automatic_slots_follow_where_actions_run(tmp_path: Path) -> None:
    from bot.dialogue.custom_actions import HTTPActionRunner
    from bot.server.gate import REMOTE_ACTION_SLOTS, turn_slots
    from bot.server.settings import Settings

    class Engine:
        runner: object = None

    local, remote = Engine(), Engine()
    remote.runner = HTTPActionRunner("http://127.0.0.1:5055/webhook", None)
    automatic = Settings(project=tmp_path)
    assert turn_slots(automatic, local) == 1  # type: ignore[arg-type]
    assert turn_slots(automatic, remote) == REMOTE_ACTION_SLOTS  # type: ignore[arg-type]
    fixed = Settings(project=tmp_path, turn_concurrency=3)
    assert turn_slots(fixed, remote) == 3  # type: ignore[arg-type]
