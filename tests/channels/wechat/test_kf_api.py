"""KfAPI against the fake WeChat server over real HTTP: sync paging, sending, session states."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.server.live import LiveServer
from bot.testing.wechat_server import FakeWeChat
from channels.wechat.api import RateLimited, WeChatAPIError, WindowClosed
from channels.wechat.kf_api import KfAPI, KfMessage, SessionStateInvalid

KF = "wkFAKEkf01"
SEND = "/cgi-bin/kf/send_msg"
SYNC = "/cgi-bin/kf/sync_msg"


@pytest.fixture
async def api(fake: FakeWeChat, server: LiveServer) -> AsyncIterator[KfAPI]:
    fake.reset()
    client = KfAPI(fake.corp_id, fake.kf_secret, base_url=server.url, retries=3, backoff=0.01)
    yield client
    await client.close()


async def test_sync_pages_with_cursors(api: KfAPI, fake: FakeWeChat) -> None:
    ids = [fake.push_kf(KF, "wmUser1", f"问题{i}") for i in range(5)]
    fake.push_kf("wkOTHER", "wmUser2", "别的客服账号")
    pages, cursor = [], None
    while True:
        page = await api.sync_msg(cursor=cursor, token="cb-token", open_kfid=KF, limit=2)
        pages.append(page)
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert [len(p.messages) for p in pages] == [2, 2, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [m.msgid for p in pages for m in p.messages] == ids
    first = pages[0].messages[0]
    assert (first.text, first.origin, first.msgtype) == ("问题0", 3, "text")
    assert (first.open_kfid, first.external_userid) == (KF, "wmUser1")
    assert first.send_time > 0
    # nothing new: same position; a new message shows up after the saved cursor
    again = await api.sync_msg(cursor=cursor, token=None, open_kfid=KF)
    assert again.messages == [] and not again.has_more
    new_id = fake.push_kf(KF, "wmUser1", "还有一个问题")
    later = await api.sync_msg(cursor=again.next_cursor, token=None, open_kfid=KF)
    assert [m.msgid for m in later.messages] == [new_id]
    assert fake.token_fetches["kf"] == 1


async def test_sync_parses_events_menus_and_media(api: KfAPI, fake: FakeWeChat) -> None:
    fake.push_kf(KF, "wmUser1", event={"event_type": "enter_session", "scene": "qr"})
    fake.push_kf(KF, "wmUser1", msgtype="text", body={"content": "查话费", "menu_id": "/check"})
    fake.push_kf(KF, "wmUser1", msgtype="image", body={"media_id": "MEDIA1"})
    fake.push_kf(
        KF,
        "wmUser1",
        msgtype="location",
        body={"latitude": 23.1, "longitude": 113.3, "name": "广州塔", "address": "阅江西路"},
    )
    page = await api.sync_msg(cursor=None, token=None, open_kfid=KF)
    enter, menu, image, location = page.messages
    assert (enter.msgtype, enter.event_type, enter.origin) == ("event", "enter_session", 4)
    assert (enter.open_kfid, enter.external_userid) == (KF, "wmUser1")  # from the event
    assert enter.event["scene"] == "qr" and enter.event["welcome_code"]
    assert (menu.text, menu.menu_id) == ("查话费", "/check")
    assert image.raw["image"] == {"media_id": "MEDIA1"} and image.text == ""
    assert location.raw["location"]["name"] == "广州塔"


async def test_servicer_messages_carry_the_servicer(api: KfAPI, fake: FakeWeChat) -> None:
    fake.set_service_state(KF, "wmUser1", 3, servicer="zhangsan")
    fake.push_kf(KF, "wmUser1", "人工回复", origin=5)
    (msg,) = (await api.sync_msg(cursor=None, token=None, open_kfid=KF)).messages
    assert (msg.origin, msg.servicer_userid) == (5, "zhangsan")


async def test_unknown_cursor_is_an_error(api: KfAPI, fake: FakeWeChat) -> None:
    with pytest.raises(WeChatAPIError) as caught:
        await api.sync_msg(cursor="not-a-cursor", token=None, open_kfid=KF)
    assert caught.value.errcode == 95007 and caught.value.path == SYNC
    assert fake.calls.count(SYNC) == 1


async def test_send_msg_bodies(api: KfAPI, fake: FakeWeChat) -> None:
    msgid = await api.send_msg("wmUser1", KF, "text", {"content": "您好，请问有什么可以帮您？"})
    menu = {
        "head_content": "请选择：",
        "list": [{"type": "click", "click": {"id": "/check", "content": "查话费"}}],
        "tail_content": "",
    }
    given = await api.send_msg("wmUser1", KF, "msgmenu", menu, msgid="my_id-1")
    assert msgid and given == "my_id-1"
    first, second = fake.kf_sent
    assert first.endpoint == "send_msg" and first.msgid == msgid
    assert first.body == {
        "touser": "wmUser1",
        "open_kfid": KF,
        "msgtype": "text",
        "text": {"content": "您好，请问有什么可以帮您？"},
    }
    assert second.body["msgmenu"] == menu and second.body["msgid"] == "my_id-1"


async def test_send_msg_on_event(api: KfAPI, fake: FakeWeChat) -> None:
    fake.push_kf(KF, "wmUser1", event="enter_session")
    (enter,) = (await api.sync_msg(cursor=None, token=None, open_kfid=KF)).messages
    code = enter.event["welcome_code"]
    msgid = await api.send_msg_on_event(code, "text", {"content": "欢迎光临！"})
    (sent,) = fake.kf_sent
    assert sent.endpoint == "send_msg_on_event" and sent.msgid == msgid
    assert sent.body == {"code": code, "msgtype": "text", "text": {"content": "欢迎光临！"}}


async def test_service_state_get_and_trans(api: KfAPI, fake: FakeWeChat) -> None:
    assert await api.service_state(KF, "wmUser1") == (0, "")
    assert await api.trans_state(KF, "wmUser1", 1) == ""
    code = await api.trans_state(KF, "wmUser1", 3, servicer_userid="lisi")
    assert code  # msg_code for the handover notice
    assert await api.service_state(KF, "wmUser1") == (3, "lisi")
    assert fake.trans[-1] == {
        "open_kfid": KF,
        "external_userid": "wmUser1",
        "service_state": 3,
        "servicer_userid": "lisi",
    }
    with pytest.raises(SessionStateInvalid) as caught:
        await api.send_msg("wmUser1", KF, "text", {"content": "机器人不能插话"})
    assert caught.value.errcode == 95018 and not caught.value.retryable
    assert fake.calls.count(SEND) == 1 and fake.kf_sent == []
    # the msg_code answers the event of the transfer
    await api.send_msg_on_event(code, "text", {"content": "正在为您转接人工客服"})


async def test_trans_to_human_needs_a_servicer(api: KfAPI) -> None:
    with pytest.raises(WeChatAPIError) as caught:
        await api.trans_state(KF, "wmUser1", 3)
    assert caught.value.errcode == 40058


async def test_token_errors_refresh_once_per_call(api: KfAPI, fake: FakeWeChat) -> None:
    await api.send_msg("wmUser1", KF, "text", {"content": "一"})
    fake.fail(SEND, errcode=40014, times=2)
    with pytest.raises(WeChatAPIError) as caught:
        await api.send_msg("wmUser1", KF, "text", {"content": "二"})
    assert caught.value.errcode == 40014  # refreshed once, then the error surfaces
    assert fake.token_fetches["kf"] == 2 and fake.calls.count(SEND) == 3
    await api.send_msg("wmUser1", KF, "text", {"content": "三"})
    assert [s.body["text"]["content"] for s in fake.kf_sent] == ["一", "三"]
    assert fake.token_fetches["kf"] == 2


async def test_expired_token_concurrent_sends(api: KfAPI, fake: FakeWeChat) -> None:
    await api.service_state(KF, "wmUser1")
    fake.expire_tokens()
    await asyncio.gather(
        *(api.send_msg(f"wmUser{i}", KF, "text", {"content": "您好"}) for i in range(10))
    )
    assert fake.token_fetches["kf"] == 2 and len(fake.kf_sent) == 10


@pytest.mark.parametrize("errcode", [95001, 95002, 95013])
async def test_window_closed_codes(api: KfAPI, fake: FakeWeChat, errcode: int) -> None:
    fake.fail(SEND, errcode=errcode, times=3)
    with pytest.raises(WindowClosed):
        await api.send_msg("wmUser1", KF, "text", {"content": "您好"})
    assert fake.calls.count(SEND) == 1


async def test_rate_limit_backoff(api: KfAPI, fake: FakeWeChat) -> None:
    fake.fail(SYNC, errcode=45009, times=2)
    page = await api.sync_msg(cursor=None, token=None, open_kfid=KF)
    assert page.messages == [] and fake.calls.count(SYNC) == 3
    fake.fail(SYNC, errcode=45009, times=10)
    with pytest.raises(RateLimited):
        await api.sync_msg(cursor=None, token=None, open_kfid=KF)


async def test_wrong_secret_is_not_retried(fake: FakeWeChat, server: LiveServer) -> None:
    fake.reset()
    api = KfAPI(fake.corp_id, "wrong-secret", base_url=server.url, backoff=0.01)
    try:
        with pytest.raises(WeChatAPIError) as caught:
            await api.service_state(KF, "wmUser1")
    finally:
        await api.close()
    assert caught.value.errcode == 40001 and caught.value.path == "/cgi-bin/gettoken"
    assert fake.calls == ["/cgi-bin/gettoken"] and fake.token_fetches["kf"] == 0


def test_kf_message_from_raw_tolerates_junk() -> None:
    msg = KfMessage.from_raw({"msgid": 5, "msgtype": "text", "text": "not a dict", "origin": "3"})
    assert (msg.msgid, msg.text, msg.origin, msg.event) == ("", "", 0, {})
