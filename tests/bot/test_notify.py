"""After-call notices: notifiers against a real local HTTP gateway, config, and `flush` on the
reference bot's engine (international roaming asked on the phone)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import model as model_io
from bot.dialogue.custom_actions import InProcessActionRunner
from bot.engine import Engine
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.notify import (
    HttpGatewayNotifier,
    LogNotifier,
    Notice,
    NotifyError,
    flush,
    notifier_for_project,
    notifier_from_config,
    pending_notices,
)

CALLER = "13812345678"
TOKEN = "s3cret-gateway-token"
NOTICE = Notice(CALLER, "sms", "【小知】国际漫游资费详情：", "https://h5.example/r?c=JP", "call-1")


# ------------------------------------------------------------------ LogNotifier
async def test_log_notifier_logs_one_masked_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.notify"):
        await LogNotifier().send(NOTICE)
    [record] = caplog.records
    assert "not sent" in record.getMessage()
    assert record.to == "138****5678"  # type: ignore[attr-defined]
    assert record.url == NOTICE.url and record.notice_channel == "sms"  # type: ignore[attr-defined]
    assert CALLER not in str(vars(record))


# ------------------------------------------------------------------ HTTP gateway
@dataclass
class Gateway:
    """A local SMS gateway: answers the scripted statuses in turn (then 200), records calls."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    calls: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.json()))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"code": status}, status=status)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()
    app = web.Application()
    app.router.add_post("/send", gw.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    gw.url = str(server.make_url("/send"))
    yield gw
    await server.close()


def http(gw: Gateway, **kw: Any) -> HttpGatewayNotifier:
    return HttpGatewayNotifier(gw.url, token=TOKEN, backoff=0.01, **kw)


async def test_gateway_gets_the_notice_as_json_with_the_bearer_token(gateway: Gateway) -> None:
    await http(gateway).send(NOTICE)
    [(headers, body)] = gateway.calls
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert body == {
        "to": CALLER,
        "channel": "sms",
        "text": NOTICE.text,
        "url": NOTICE.url,
        "conversation_id": "call-1",
    }


async def test_gateway_5xx_is_retried_and_the_token_never_logged(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.statuses = [500, 503]
    with caplog.at_level(logging.DEBUG):
        await http(gateway, retries=2).send(NOTICE)
    assert len(gateway.calls) == 3
    assert "retry 1/2" in caplog.text and "HTTP 500" in caplog.text
    assert TOKEN not in caplog.text and CALLER not in caplog.text
    assert TOKEN not in repr(http(gateway))


async def test_gateway_gives_up_after_the_retries(gateway: Gateway) -> None:
    gateway.statuses = [502, 502, 502]
    with pytest.raises(NotifyError, match="HTTP 502") as caught:
        await http(gateway, retries=1).send(NOTICE)
    assert caught.value.retryable and len(gateway.calls) == 2


async def test_gateway_4xx_fails_at_once(gateway: Gateway) -> None:
    gateway.statuses = [400]
    with pytest.raises(NotifyError, match="HTTP 400") as caught:
        await http(gateway, retries=2).send(NOTICE)
    assert not caught.value.retryable and len(gateway.calls) == 1


async def test_gateway_timeout_is_retried_then_fails(gateway: Gateway) -> None:
    gateway.delay = 0.5
    with pytest.raises(NotifyError, match="unreachable"):
        await http(gateway, timeout=0.1, retries=1).send(NOTICE)
    assert len(gateway.calls) == 2


async def test_gateway_down_is_a_notify_error() -> None:
    from bot.server.live import free_port

    notifier = HttpGatewayNotifier(f"http://127.0.0.1:{free_port()}/send", retries=0)
    with pytest.raises(NotifyError, match="unreachable"):
        await notifier.send(NOTICE)


# ------------------------------------------------------------------ configuration
def test_config_defaults_to_logging() -> None:
    assert isinstance(notifier_from_config(None), LogNotifier)
    assert isinstance(notifier_from_config({"type": "log"}), LogNotifier)


def test_config_http_with_token_from_the_environment() -> None:
    raw = {"type": "http", "url": "https://sms.example/send", "token_env": "GW", "timeout": 2}
    notifier = notifier_from_config(raw, env={"GW": f" {TOKEN} "})
    assert isinstance(notifier, HttpGatewayNotifier)
    assert (notifier.url, notifier.timeout, notifier.retries) == ("https://sms.example/send", 2, 2)
    assert notifier._token == TOKEN


def test_config_lists_every_problem() -> None:
    raw = {
        "type": "http",
        "url": "ftp://x",
        "token": "a",
        "token_env": "MISSING",
        "timeout": 0,
        "retries": -1,
        "sender": "x",
    }
    with pytest.raises(ValueError) as caught:
        notifier_from_config(raw, env={})
    message = str(caught.value)
    for part in ("sender", "notify.url", "not both", "MISSING", "timeout", "retries"):
        assert part in message
    assert "通知配置有误" in message and message.count("\n- ") == 6


def test_config_rejects_an_unknown_type_and_a_non_mapping() -> None:
    with pytest.raises(ValueError, match=r"notify\.type"):
        notifier_from_config({"type": "pigeon"})
    with pytest.raises(ValueError, match="mapping"):
        notifier_from_config(["http"])  # type: ignore[arg-type]


def test_notifier_for_project_reads_endpoints(tmp_path: Path) -> None:
    assert isinstance(notifier_for_project(tmp_path), LogNotifier)
    (tmp_path / "endpoints.yml").write_text(
        "notify:\n  type: http\n  url: http://127.0.0.1:9/send\n  token: t\n", encoding="utf-8"
    )
    notifier = notifier_for_project(tmp_path)
    assert isinstance(notifier, HttpGatewayNotifier) and notifier.url.endswith("/send")


# ------------------------------------------------------------------ flush on a real engine
class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Notice] = []
        self.fail = fail

    async def send(self, notice: Notice) -> None:
        if self.fail:
            raise NotifyError("网关拒绝", "gateway refused")
        self.sent.append(notice)


@pytest.fixture(scope="module")
def reference_model(reference_root: Path) -> TrainedModel:
    return model_io.load(model_io.latest(reference_root / "models"))


@pytest.fixture
async def engine(
    reference_root: Path,
    reference_model: TrainedModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Engine]:
    monkeypatch.setenv("ZHIKE_DEMO_DB", str(tmp_path / "demo.db"))
    engine = Engine(reference_model, runner=InProcessActionRunner(reference_root))
    yield engine
    await engine.close()


async def ask_roaming(engine: Engine, channel: str, conversation: str = "call-1") -> list[str]:
    message = InboundMessage(
        channel=channel,
        conversation_id=conversation,
        sender_id=CALLER,
        text='/international_roaming{"country": "日本"}',
        metadata={"caller": CALLER, "call_id": conversation},
    )
    return [m.text for m in await engine.handle(message) if m.text]


async def test_flush_sends_the_queued_link_once_and_clears_the_slot(engine: Engine) -> None:
    said = await ask_roaming(engine, "voice")
    assert any("挂机后我们会把资费详情链接通过短信发到您的手机上" in s for s in said)
    [queued] = pending_notices(await engine.load_tracker("call-1"))
    assert (queued.to, queued.channel, queued.conversation_id) == (CALLER, "sms", "call-1")
    assert queued.url == "https://h5.example-telecom.cn/roaming?country=JP"
    recorder = Recorder()
    assert await flush(engine, "call-1", recorder) == 1
    assert recorder.sent == [queued]
    tracker = await engine.load_tracker("call-1")
    assert tracker.get_slot("after_call_notices") is None and pending_notices(tracker) == []
    assert await flush(engine, "call-1", recorder) == 0
    assert len(recorder.sent) == 1


async def test_flush_logs_and_drops_a_failed_notice(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    await ask_roaming(engine, "voice", "call-2")
    with caplog.at_level(logging.ERROR, logger="bot.notify"):
        assert await flush(engine, "call-2", Recorder(fail=True)) == 0
    assert "dropped: gateway refused" in caplog.text
    assert await flush(engine, "call-2", Recorder()) == 0  # dropped, not kept


async def test_web_conversation_shows_the_link_and_queues_nothing(engine: Engine) -> None:
    said = await ask_roaming(engine, "web", "web-1")
    assert any("roaming?country=JP" in s for s in said)
    recorder = Recorder()
    assert await flush(engine, "web-1", recorder) == 0 and recorder.sent == []
    assert await flush(engine, "never-seen", recorder) == 0


def test_pending_notices_fall_back_to_the_caller_and_skip_malformed_items(
    reference_model: TrainedModel,
) -> None:
    from bot.dialogue.events import SlotSet
    from bot.dialogue.tracker import Tracker

    events = [
        SlotSet(key="session_started_metadata", value={"caller": "+86 138-1234-5678"}),
        SlotSet(
            key="after_call_notices",
            value=[
                {"channel": "sms", "text": "a", "url": None},
                {"channel": "fax", "text": "b"},
                "junk",
                {"channel": "wechat", "to": "openid-1", "text": "c", "url": "https://x"},
            ],
        ),
    ]
    notices = pending_notices(Tracker("c9", reference_model.domain.slots, events))
    assert [(n.to, n.channel, n.url) for n in notices] == [
        ("+8613812345678", "sms", None),
        ("openid-1", "wechat", "https://x"),
    ]
