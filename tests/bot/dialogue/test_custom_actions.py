"""Custom actions: in-process (rasa_sdk executor) and over HTTP against a real action server."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot import model as model_io
from bot.dialogue.actions import ACTION_FAILED_EN, ACTION_FAILED_ZH
from bot.dialogue.custom_actions import (
    ActionRunner,
    HTTPActionRunner,
    InProcessActionRunner,
    load_actions_module,
)
from bot.dialogue.events import ActionExecuted, ActionExecutionRejected, SlotSet
from bot.engine import Engine, TurnResult
from bot.errors import ActionError
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.project.loader import load_project

PAYLOAD_ONLY = {"ZhikeNormalizer", "WhitespaceTokenizer", "JiebaTokenizer"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def action_server(en_root: Path) -> Iterator[str]:
    """`python -m rasa_sdk --actions actions` in the fixture project, as Rasa users run it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=en_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the rasa_sdk action server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
async def http_runner(action_server: str) -> AsyncIterator[HTTPActionRunner]:
    runner = HTTPActionRunner(action_server, timeout=10)
    yield runner
    await runner.close()


async def turn(engine: Engine, text: str, conv: str = "c") -> TurnResult:
    return await engine.handle_turn(InboundMessage(channel="web", conversation_id=conv, text=text))


def said(result: TurnResult) -> list[str]:
    return [m.text for m in result.messages if m.text]


def call(name: str, tracker: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "next_action": name,
        "sender_id": "s",
        "tracker": tracker or {"sender_id": "s", "slots": {}, "latest_message": {}, "events": []},
        "domain": {},
        "version": "3.6.0",
    }


# ------------------------------------------------------------------ in-process
@pytest.fixture(scope="module")
def in_process(en_root: Path) -> InProcessActionRunner:
    return InProcessActionRunner(en_root)


def test_in_process_runner_registers_the_project_actions(in_process: InProcessActionRunner) -> None:
    for name in ("action_confirm_booking", "validate_booking_form", "action_break_things"):
        assert in_process.knows(name)
    assert not in_process.knows("action_nope")


def test_load_actions_module_without_actions(tmp_path: Path) -> None:
    assert load_actions_module(tmp_path) is None


async def test_in_process_run(in_process: InProcessActionRunner) -> None:
    result = await in_process.run(call("action_confirm_booking"))
    assert result.events[0]["event"] == "slot" and result.events[0]["name"] == "booking_ref"
    assert result.responses[0]["response"] == "utter_booking_confirmed"
    assert result.responses[0]["booking_ref"] == result.events[0]["value"]


async def test_in_process_errors_become_action_errors(in_process: InProcessActionRunner) -> None:
    with pytest.raises(ActionError, match="not registered"):
        await in_process.run(call("action_nope"))
    with pytest.raises(ActionError, match="DeliberateFailure"):
        await in_process.run(call("action_break_things"))


async def test_in_process_engine_confirms_a_booking(
    en_payload_model: TrainedModel, in_process: InProcessActionRunner
) -> None:
    engine = Engine(en_payload_model, runner=in_process)
    await turn(engine, '/book_table{"cuisine": "thai", "number": 3}')
    await turn(engine, '/inform{"seating": "indoor"}')
    await turn(engine, "/deny")
    await turn(engine, "no occasion")
    done = await turn(engine, "/deny")
    assert said(done)[-1].startswith("Your table is booked. Reference: ZK-")


async def test_in_process_failure_is_polite_and_the_conversation_continues(
    en_payload_model: TrainedModel, in_process: InProcessActionRunner
) -> None:
    engine = Engine(en_payload_model, runner=in_process)
    broken = await turn(engine, "/break_things")
    assert said(broken) == [ACTION_FAILED_EN]
    assert broken.messages[0].metadata.get("error") is True
    bye = await turn(engine, "/goodbye")
    assert said(bye)[0] in {"Goodbye, enjoy your meal!", "See you soon!"}


# ------------------------------------------------------------------ HTTP, real action server
async def test_http_runner_against_the_action_server(http_runner: HTTPActionRunner) -> None:
    result = await http_runner.run(call("action_confirm_booking"))
    assert result.events[0]["name"] == "booking_ref"
    assert result.responses[0]["response"] == "utter_booking_confirmed"


async def test_http_engine_full_booking_with_validation(
    en_payload_model: TrainedModel, http_runner: HTTPActionRunner
) -> None:
    engine = Engine(en_payload_model, runner=http_runner)
    wrong = await turn(engine, '/book_table{"cuisine": "martian"}')
    assert said(wrong) == [
        "Sorry, we don't serve that cuisine. Please pick another one.",
        "Which cuisine would you like?",
    ]
    await turn(engine, '/inform{"cuisine": "Indian", "number": 2}')
    await turn(engine, '/inform{"seating": "outdoor"}')
    await turn(engine, "/affirm")
    notes = await turn(engine, "a birthday dinner")
    assert ("occasion", "birthday") in [
        (e.key, e.value) for e in notes.events if isinstance(e, SlotSet)
    ]
    done = await turn(engine, "/deny")
    texts = said(done)
    assert texts[0] == "Booking indian for 2.0, seating: outdoor, occasion: birthday."
    assert texts[1].startswith("Your table is booked. Reference: ZK-")
    tracker = await engine.load_tracker("c")
    assert tracker.get_slot("booking_ref") in texts[1]


async def test_http_action_raising_gives_a_polite_reply_and_continues(
    en_payload_model: TrainedModel, http_runner: HTTPActionRunner
) -> None:
    engine = Engine(en_payload_model, runner=http_runner)
    broken = await turn(engine, "/break_things")
    assert said(broken) == [ACTION_FAILED_EN]
    assert "action_break_things" in [e.name for e in broken.events if isinstance(e, ActionExecuted)]
    thanks = await turn(engine, "/thank")
    assert said(thanks)[0] in {"You're welcome.", "Happy to help."}


@pytest.fixture(scope="module")
def zh_with_actions(zh_root: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """zh_mini plus a rule that calls the action server's failing action."""
    root = tmp_path_factory.mktemp("zh") / "zh_actions"
    shutil.copytree(zh_root, root)
    (root / "domain" / "actions.yml").write_text(
        'version: "3.1"\nintents:\n  - break_things\nactions:\n  - action_break_things\n',
        encoding="utf-8",
    )
    (root / "data" / "break.yml").write_text(
        'version: "3.1"\nrules:\n  - rule: 故意出错\n    steps:\n      - intent: break_things\n'
        "      - action: action_break_things\n",
        encoding="utf-8",
    )
    project = load_project(root)
    config = project.config
    config.pipeline = [s for s in config.pipeline if s.name in PAYLOAD_ONLY]
    return model_io.train(project)


async def test_http_failure_reply_is_polite_chinese_for_a_chinese_bot(
    zh_with_actions: TrainedModel, http_runner: HTTPActionRunner
) -> None:
    engine = Engine(zh_with_actions, runner=http_runner)
    broken = await turn(engine, "/break_things")
    assert said(broken) == [ACTION_FAILED_ZH]
    assert "抱歉" in said(broken)[0] and "人工" in said(broken)[0]
    greet = await turn(engine, "/bot_challenge")
    assert said(greet) == ["您好，我是小知茶饮的智能客服助手，不是真人哦。"]


async def test_unreachable_action_server_gives_a_polite_reply(
    zh_with_actions: TrainedModel,
) -> None:
    runner = HTTPActionRunner(f"http://127.0.0.1:{free_port()}/webhook", timeout=5)
    engine = Engine(zh_with_actions, runner=runner)
    try:
        with pytest.raises(ActionError, match="unreachable"):
            await runner.run(call("action_break_things"))
        result = await turn(engine, "/break_things")
        assert said(result) == [ACTION_FAILED_ZH]
        assert said(await turn(engine, "/goodbye")) == ["感谢您的光临，祝您生活愉快，再见！"]
    finally:
        await runner.close()


# ------------------------------------------------------------------ HTTP, odd servers
@pytest.fixture
async def odd_server() -> AsyncIterator[str]:
    """A local web server that is slow, rejects, or answers garbage, depending on the path."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({"events": [], "responses": []})

    async def reject(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"action_name": body["next_action"], "error": "no"}, status=400)

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="<html>oops</html>", status=502)

    app = web.Application()
    app.router.add_post("/slow", slow)
    app.router.add_post("/reject", reject)
    app.router.add_post("/garbage", garbage)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def run_once(runner: ActionRunner, name: str) -> Any:
    try:
        return await runner.run(call(name))
    finally:
        await runner.close()


async def test_http_timeout(odd_server: str, zh_with_actions: TrainedModel) -> None:
    started = time.monotonic()
    with pytest.raises(ActionError, match="timed out"):
        await run_once(HTTPActionRunner(f"{odd_server}/slow", timeout=0.3), "action_x")
    assert time.monotonic() - started < 0.9
    runner = HTTPActionRunner(f"{odd_server}/slow", timeout=0.3)
    engine = Engine(zh_with_actions, runner=runner)
    try:
        result = await turn(engine, "/break_things")
        assert said(result) == [ACTION_FAILED_ZH]
    finally:
        await runner.close()


async def test_http_400_with_action_name_is_a_rejection(odd_server: str) -> None:
    result = await run_once(HTTPActionRunner(f"{odd_server}/reject"), "action_x")
    assert result.events == [{"event": "action_execution_rejected", "name": "action_x"}]


async def test_http_rejection_through_the_engine(
    odd_server: str, zh_with_actions: TrainedModel
) -> None:
    runner = HTTPActionRunner(f"{odd_server}/reject")
    engine = Engine(zh_with_actions, runner=runner)
    try:
        result = await turn(engine, "/break_things")
    finally:
        await runner.close()
    assert any(isinstance(e, ActionExecutionRejected) for e in result.events)
    rejections = [e for e in result.events if isinstance(e, ActionExecutionRejected)]
    assert len(rejections) == 1  # not retried for the same message
    assert (
        isinstance(result.events[-1], ActionExecuted) and result.events[-1].name == "action_listen"
    )


async def test_http_non_json_error_is_an_action_error(odd_server: str) -> None:
    with pytest.raises(ActionError):
        await run_once(HTTPActionRunner(f"{odd_server}/garbage"), "action_x")
