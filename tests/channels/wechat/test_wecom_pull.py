"""Pulling 微信客服 messages against the fake WeCom server: one answer per message even with two
workers pulling at once, and no pull request lost while a pull runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.server.live import LiveServer
from bot.testing.wechat_server import FakeWeChat
from channels.wechat.kf_api import KfAPI, KfMessage
from channels.wechat.state import ChannelState
from channels.wechat.wecom_pull import Puller, cursor_scope

KFID = "wkPullTest0001"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[FakeWeChat, LiveServer]]:
    fake = FakeWeChat()
    with LiveServer(fake.app) as server:
        yield fake, server


@pytest.fixture
def fake(fake_server: tuple[FakeWeChat, LiveServer]) -> FakeWeChat:
    fake_server[0].reset()
    return fake_server[0]


@pytest.fixture
async def api(fake: FakeWeChat, fake_server: tuple[FakeWeChat, LiveServer]) -> AsyncIterator[KfAPI]:
    client = KfAPI(fake.corp_id, fake.kf_secret, base_url=fake_server[1].url, backoff=0.01)
    yield client
    await client.close()


async def test_two_workers_pulling_at_once_handle_each_message_once(
    fake: FakeWeChat, api: KfAPI, tmp_path: Path
) -> None:
    for i in range(30):
        fake.push_kf(KFID, f"wm_{i % 7}", f"第{i}条")
    seen: list[tuple[str, str]] = []

    def worker(name: str) -> Puller:
        async def handle(msg: KfMessage) -> None:
            await asyncio.sleep(0.005)  # a turn
            seen.append((name, msg.text))

        state = ChannelState(tmp_path / "wechat.db")  # one file, two connections
        return Puller(api, state, handle, sync_limit=4, lease_poll=0.01)

    one, two = worker("one"), worker("two")
    # the file exists (in WAL mode) before the second connection opens it: two connections
    # creating it at the same instant can fail in `PRAGMA journal_mode = WAL` (SQLiteExecutor)
    await one.state.cursor(cursor_scope(KFID))
    await asyncio.gather(one.pull(KFID), two.pull(KFID), one.pull(KFID))
    texts = sorted(text for _, text in seen)
    assert texts == sorted(f"第{i}条" for i in range(30))
    assert await one.state.cursor(cursor_scope(KFID)) is not None
    for puller in (one, two):
        await puller.close(1)
        await puller.state.close()


async def test_a_pull_asked_for_while_one_runs_is_not_lost(
    fake: FakeWeChat, api: KfAPI, tmp_path: Path
) -> None:
    state = ChannelState(tmp_path / "wechat.db")
    seen: list[str] = []
    puller: Puller

    async def handle(msg: KfMessage) -> None:
        seen.append(msg.text)
        if msg.text == "first":  # a new message and its callback arrive mid-pull
            fake.push_kf(KFID, "wm_late", "second")
            puller.schedule(KFID, "TOKEN2")

    puller = Puller(api, state, handle)
    fake.push_kf(KFID, "wm_early", "first")
    puller.schedule(KFID, "TOKEN1")
    await asyncio.wait_for(puller.idle(), 10)
    assert seen == ["first", "second"]
    await puller.close(1)
    await state.close()


async def test_a_failing_message_is_logged_and_does_not_block_the_cursor(
    fake: FakeWeChat, api: KfAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = ChannelState(tmp_path / "wechat.db")
    seen: list[str] = []

    async def handle(msg: KfMessage) -> None:
        if msg.text == "boom":
            raise RuntimeError("turn failed")
        seen.append(msg.text)

    puller = Puller(api, state, handle)
    bad = fake.push_kf(KFID, "wm_a", "boom")
    fake.push_kf(KFID, "wm_a", "after")
    assert await puller.pull(KFID) == 2
    assert seen == ["after"]
    assert any(bad in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert await puller.pull(KFID) == 0  # not repeated (claimed before it was handled)
    await puller.close(1)
    await state.close()


async def test_close_waits_for_the_turn_under_way_and_leaves_the_rest(
    fake: FakeWeChat, api: KfAPI, tmp_path: Path
) -> None:
    state = ChannelState(tmp_path / "wechat.db")
    started, seen = asyncio.Event(), []

    async def handle(msg: KfMessage) -> None:
        started.set()
        await asyncio.sleep(0.2)
        seen.append(msg.text)

    puller = Puller(api, state, handle)
    for text in ("一", "二", "三"):
        fake.push_kf(KFID, "wm_same", text)
    puller.schedule(KFID)
    await started.wait()
    await puller.close(5)
    assert seen == ["一"]  # finished; the others stay unclaimed for the next start
    again: list[str] = []

    async def later(msg: KfMessage) -> None:
        again.append(msg.text)

    assert await Puller(api, state, later).pull(KFID) == 2
    assert again == ["二", "三"]
    await state.close()
