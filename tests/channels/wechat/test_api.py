"""OfficialAPI against the fake WeChat server over real HTTP: tokens, retries, errors, media."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.server.live import LiveServer, free_port
from bot.testing.wechat_server import FakeWeChat
from channels.wechat.api import (
    ERR_NETWORK,
    OfficialAPI,
    RateLimited,
    WeChatAPIError,
    WindowClosed,
    redact,
)
from channels.wechat.tokens import SQLiteTokenStore

SEND = "/cgi-bin/message/custom/send"
TOKEN = "/cgi-bin/token"


@pytest.fixture
async def api(fake: FakeWeChat, server: LiveServer) -> AsyncIterator[OfficialAPI]:
    fake.reset()
    client = OfficialAPI(fake.app_id, fake.app_secret, base_url=server.url, retries=3, backoff=0.01)
    yield client
    await client.close()


async def test_token_fetched_once_for_many_calls(api: OfficialAPI, fake: FakeWeChat) -> None:
    for i in range(5):
        await api.send_text("openid-1", f"您好，第{i}条")
    assert fake.token_fetches["oa"] == 1
    assert [b["text"]["content"] for b in fake.sent] == [f"您好，第{i}条" for i in range(5)]
    assert fake.sent[0] == {
        "touser": "openid-1",
        "msgtype": "text",
        "text": {"content": "您好，第0条"},
    }


async def test_concurrent_calls_fetch_one_token(api: OfficialAPI, fake: FakeWeChat) -> None:
    await asyncio.gather(*(api.send_text(f"openid-{i}", "在的") for i in range(20)))
    assert fake.token_fetches["oa"] == 1
    assert len(fake.sent) == 20


async def test_expired_token_is_refetched_once(api: OfficialAPI, fake: FakeWeChat) -> None:
    await api.send_text("openid-1", "一")
    fake.expire_tokens()
    await asyncio.gather(*(api.send_text("openid-1", "二") for _ in range(10)))
    assert fake.token_fetches["oa"] == 2
    assert len(fake.sent) == 11


async def test_expiry_retry_sequence(api: OfficialAPI, fake: FakeWeChat) -> None:
    await api.send_text("openid-1", "一")
    fake.expire_tokens()
    await api.send_text("openid-1", "二")
    assert fake.calls == [TOKEN, SEND, SEND, TOKEN, SEND]


async def test_rate_limited_then_success(
    api: OfficialAPI, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="channels.wechat.api")
    await api.send_text("openid-1", "预热")  # token fetched
    fake.fail(SEND, errcode=45009, times=2)
    await api.send_text("openid-1", "再试")
    assert fake.calls.count(SEND) == 4
    assert [b["text"]["content"] for b in fake.sent] == ["预热", "再试"]
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert all("45009" in m and SEND in m for m in retries)


async def test_rate_limited_forever(api: OfficialAPI, fake: FakeWeChat) -> None:
    fake.fail(SEND, errcode=45009, times=100)
    with pytest.raises(RateLimited) as caught:
        await api.send_text("openid-1", "在吗")
    assert caught.value.errcode == 45009 and caught.value.retryable
    assert caught.value.path == SEND
    assert fake.calls.count(SEND) == 4  # first try + 3 retries


async def test_system_busy_and_5xx_then_success(api: OfficialAPI, fake: FakeWeChat) -> None:
    fake.fail(SEND, errcode=-1)
    fake.fail(SEND, status=502)
    fake.fail(SEND, status=503)
    await api.send_text("openid-1", "好的")
    assert fake.calls.count(SEND) == 4
    assert len(fake.sent) == 1


async def test_5xx_forever_is_retryable_error(api: OfficialAPI, fake: FakeWeChat) -> None:
    fake.fail(SEND, status=500, times=100)
    with pytest.raises(WeChatAPIError) as caught:
        await api.send_text("openid-1", "好的")
    assert caught.value.errcode == 500 and caught.value.retryable
    assert not isinstance(caught.value, RateLimited)


@pytest.mark.parametrize("errcode", [45015, 45047])
async def test_window_closed_is_not_retried(
    api: OfficialAPI, fake: FakeWeChat, errcode: int
) -> None:
    fake.fail(SEND, errcode=errcode, times=5)
    with pytest.raises(WindowClosed) as caught:
        await api.send_text("openid-1", "您好")
    assert caught.value.errcode == errcode and not caught.value.retryable
    assert fake.calls.count(SEND) == 1


async def test_body_errors_are_raised_as_is(api: OfficialAPI, fake: FakeWeChat) -> None:
    with pytest.raises(WeChatAPIError) as caught:
        await api.send_text("", "您好")
    assert caught.value.errcode == 40003
    assert fake.calls.count(SEND) == 1


@pytest.mark.parametrize(
    ("app_id", "secret", "errcode"),
    [("wx_other", "fake-app-secret", 40013), ("wx_fake_app", "wrong", 40125)],
)
async def test_bad_credentials(
    fake: FakeWeChat, server: LiveServer, app_id: str, secret: str, errcode: int
) -> None:
    fake.reset()
    api = OfficialAPI(app_id, secret, base_url=server.url, backoff=0.01)
    try:
        with pytest.raises(WeChatAPIError) as caught:
            await api.send_text("openid-1", "您好")
    finally:
        await api.close()
    assert caught.value.errcode == errcode and caught.value.path == TOKEN
    assert secret not in str(caught.value)
    assert fake.calls == [TOKEN]


async def test_news_and_typing(api: OfficialAPI, fake: FakeWeChat) -> None:
    await api.typing("openid-1")
    await api.send_news(
        "openid-1", "套餐介绍", "本月优惠", "https://e.com/a", "https://e.com/p.jpg"
    )
    await api.typing("openid-1", on=False)
    assert [t["command"] for t in fake.typing] == ["Typing", "CancelTyping"]
    article = {
        "title": "套餐介绍",
        "description": "本月优惠",
        "url": "https://e.com/a",
        "picurl": "https://e.com/p.jpg",
    }
    assert fake.sent == [{"touser": "openid-1", "msgtype": "news", "news": {"articles": [article]}}]


async def test_media_download_and_error(api: OfficialAPI, fake: FakeWeChat) -> None:
    fake.add_media("m1", b"\x89PNG fake image", "image/png")
    media = await api.get_media("m1")
    assert media.data == b"\x89PNG fake image"
    assert media.content_type == "image/png"
    with pytest.raises(WeChatAPIError) as caught:
        await api.get_media("missing")
    assert caught.value.errcode == 40007
    assert fake.calls.count("/cgi-bin/media/get") == 2


async def test_media_token_expiry_refreshes(api: OfficialAPI, fake: FakeWeChat) -> None:
    fake.add_media("v1", b"voice-bytes", "audio/amr")
    await api.get_media("v1")
    fake.expire_tokens()
    assert (await api.get_media("v1")).data == b"voice-bytes"
    assert fake.token_fetches["oa"] == 2


async def test_connection_errors_are_retried_then_raised(
    fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="channels.wechat.api")
    api = OfficialAPI(
        fake.app_id, "s3cr3t", base_url=f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.01
    )
    try:
        with pytest.raises(WeChatAPIError) as caught:
            await api.send_text("openid-1", "您好")
    finally:
        await api.close()
    assert caught.value.errcode == ERR_NETWORK and caught.value.retryable
    assert len([r for r in caplog.records if "retry" in r.getMessage()]) == 2
    assert "s3cr3t" not in caplog.text and "s3cr3t" not in str(caught.value)


async def test_timeouts_are_retried_then_raised(fake: FakeWeChat) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        api = OfficialAPI(fake.app_id, "s3cr3t", base_url=url, retries=1, backoff=0.01, timeout=0.1)
        try:
            with pytest.raises(WeChatAPIError) as caught:
                await api.send_text("openid-1", "您好")
        finally:
            await api.close()
    assert caught.value.errcode == ERR_NETWORK and caught.value.retryable


async def test_access_token_never_logged(
    api: OfficialAPI, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await api.send_text("openid-1", "预热")
    token = await api.token.get()
    fake.expire_tokens()
    fake.fail(SEND, errcode=45009)
    await api.send_text("openid-1", "再试")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("channels"))
    assert "45009" in ours and "42001" in ours  # the retries were logged …
    assert token not in ours and (await api.token.get()) not in ours  # … without the tokens


async def test_given_session_is_not_closed(fake: FakeWeChat, server: LiveServer) -> None:
    fake.reset()
    async with aiohttp.ClientSession() as session:
        api = OfficialAPI(fake.app_id, fake.app_secret, base_url=server.url, session=session)
        await api.send_text("openid-1", "您好")
        await api.close()
        assert not session.closed


async def test_two_workers_share_one_token_over_sqlite(
    fake: FakeWeChat, server: LiveServer, tmp_path: Path
) -> None:
    fake.reset()
    stores = [SQLiteTokenStore(tmp_path / "t.db"), SQLiteTokenStore(tmp_path / "t.db")]
    apis = [
        OfficialAPI(fake.app_id, fake.app_secret, base_url=server.url, tokens=s) for s in stores
    ]
    try:
        await asyncio.gather(*(apis[i % 2].send_text("openid-1", "您好") for i in range(10)))
        assert fake.token_fetches["oa"] == 1
        fake.expire_tokens()
        await asyncio.gather(*(a.send_text("openid-1", "再见") for a in apis))
        assert fake.token_fetches["oa"] == 2
    finally:
        for a in apis:
            await a.close()
        for s in stores:
            await s.close()


def test_redact() -> None:
    url = "https://api.weixin.qq.com/cgi-bin/token?appid=wx1&secret=abc&access_token=T0K"
    assert redact(url) == (
        "https://api.weixin.qq.com/cgi-bin/token?appid=wx1&secret=***&access_token=***"
    )
    assert redact("corpsecret=xyz&x=1") == "corpsecret=***&x=1"
