"""The fake WeChat server on the wire: credentials, token checks, body checks, faults, paging."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.server.live import LiveServer
from bot.testing.wechat_server import FakeWeChat, wait_for

KF = "wkFAKEkf01"


@pytest.fixture(scope="module")
def fake() -> FakeWeChat:
    return FakeWeChat(token_ttl=3600)


@pytest.fixture(scope="module")
def live(fake: FakeWeChat) -> Iterator[LiveServer]:
    with LiveServer(fake.app) as server:
        yield server


@pytest.fixture(scope="module")
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url) as client:
        yield client


@pytest.fixture
def http(fake: FakeWeChat, client: httpx.Client) -> httpx.Client:
    fake.reset()
    return client


def oa_token(http: httpx.Client, fake: FakeWeChat) -> str:
    params = {"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}
    answer = http.get("/cgi-bin/token", params=params).json()
    assert answer["expires_in"] == fake.token_ttl
    token: str = answer["access_token"]
    return token


def kf_token(http: httpx.Client, fake: FakeWeChat) -> str:
    params = {"corpid": fake.corp_id, "corpsecret": fake.kf_secret}
    answer = http.get("/cgi-bin/gettoken", params=params).json()
    assert (answer["errcode"], answer["errmsg"]) == (0, "ok")
    token: str = answer["access_token"]
    return token


def post(http: httpx.Client, path: str, token: str | None, body: Any) -> dict[str, Any]:
    params = {} if token is None else {"access_token": token}
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    response = http.post(path, params=params, content=raw)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"grant_type": "client_credential", "appid": "wx_nope", "secret": "x"}, 40013),
        ({"grant_type": "client_credential", "appid": "wx_fake_app", "secret": "x"}, 40125),
        ({"grant_type": "password", "appid": "wx_fake_app", "secret": "fake-app-secret"}, 40002),
    ],
)
def test_oa_token_credentials(
    http: httpx.Client, fake: FakeWeChat, params: dict[str, str], errcode: int
) -> None:
    assert http.get("/cgi-bin/token", params=params).json()["errcode"] == errcode
    assert fake.token_fetches == {"oa": 0, "kf": 0}


def test_kf_token_credentials(http: httpx.Client, fake: FakeWeChat) -> None:
    wrong_corp = {"corpid": "ww_nope", "corpsecret": fake.kf_secret}
    wrong_secret = {"corpid": fake.corp_id, "corpsecret": "nope"}
    assert http.get("/cgi-bin/gettoken", params=wrong_corp).json()["errcode"] == 40013
    assert http.get("/cgi-bin/gettoken", params=wrong_secret).json()["errcode"] == 40001
    kf_token(http, fake)
    assert fake.token_fetches == {"oa": 0, "kf": 1}


def test_access_token_checks(http: httpx.Client, fake: FakeWeChat) -> None:
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "hi"}}
    send = "/cgi-bin/message/custom/send"
    assert post(http, send, None, body)["errcode"] == 41001
    assert post(http, send, "bogus", body)["errcode"] == 40001
    kf = kf_token(http, fake)
    assert post(http, send, kf, body)["errcode"] == 40001  # a WeCom token is no OA token
    assert post(http, "/cgi-bin/kf/service_state/get", "bogus", {})["errcode"] == 40014
    oa = oa_token(http, fake)
    assert post(http, send, oa, body) == {"errcode": 0, "errmsg": "ok"}
    fake.expire_tokens()
    assert post(http, send, oa, body)["errcode"] == 42001
    assert post(http, "/cgi-bin/kf/service_state/get", kf, {})["errcode"] == 42001
    assert len(fake.sent) == 1


def test_tokens_expire_with_the_clock() -> None:
    now = [1000.0]
    fake = FakeWeChat(token_ttl=60, clock=lambda: now[0])
    with LiveServer(fake.app) as server, httpx.Client(base_url=server.url) as http:
        token = oa_token(http, fake)
        body = {"touser": "o1", "command": "Typing"}
        assert post(http, "/cgi-bin/message/custom/typing", token, body)["errcode"] == 0
        now[0] += 61
        assert post(http, "/cgi-bin/message/custom/typing", token, body)["errcode"] == 42001


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"msgtype": "text", "text": {"content": "hi"}}, 40003),
        ({"touser": "o1", "msgtype": "fax", "fax": {}}, 40008),
        ({"touser": "o1", "msgtype": "text", "text": {"content": ""}}, 44004),
        ({"touser": "o1", "msgtype": "news", "news": {"articles": []}}, 44003),
        (b"", 44002),
        (b"{not json", 47001),
        (b'{"touser":"o1","msgtype":"text","text":{"content":"\\u60a8\\u597d"}}', 40033),
    ],
)
def test_oa_body_checks(http: httpx.Client, fake: FakeWeChat, body: Any, errcode: int) -> None:
    token = oa_token(http, fake)
    assert post(http, "/cgi-bin/message/custom/send", token, body)["errcode"] == errcode
    assert fake.sent == []


def test_escaped_backslash_is_not_a_unicode_escape(http: httpx.Client, fake: FakeWeChat) -> None:
    token = oa_token(http, fake)
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "路径 C:\\users\\u1234"}}
    assert post(http, "/cgi-bin/message/custom/send", token, body)["errcode"] == 0


def test_faults(http: httpx.Client, fake: FakeWeChat) -> None:
    token = oa_token(http, fake)
    path = "/cgi-bin/message/custom/typing"
    body = {"touser": "o1", "command": "Typing"}
    fake.fail(path, errcode=45009, times=2)
    fake.fail(path, status=503)
    assert post(http, path, token, body)["errcode"] == 45009
    assert post(http, path, token, body)["errcode"] == 45009
    response = http.post(path, params={"access_token": token}, json=body)
    assert response.status_code == 503
    assert post(http, path, token, body)["errcode"] == 0
    assert fake.calls.count(path) == 4 and len(fake.typing) == 1
    with pytest.raises(ValueError):
        fake.fail(path)


def test_media(http: httpx.Client, fake: FakeWeChat) -> None:
    token = oa_token(http, fake)
    fake.add_media("m1", b"RIFF....", "audio/amr")
    got = http.get("/cgi-bin/media/get", params={"access_token": token, "media_id": "m1"})
    assert (got.content, got.headers["content-type"]) == (b"RIFF....", "audio/amr")
    missing = http.get("/cgi-bin/media/get", params={"access_token": token, "media_id": "x"})
    assert missing.headers["content-type"].startswith("text/plain")
    assert missing.json()["errcode"] == 40007


def test_sync_msg_paging_on_the_wire(http: httpx.Client, fake: FakeWeChat) -> None:
    token = kf_token(http, fake)
    ids = [fake.push_kf(KF, "wmU", f"m{i}") for i in range(3)]
    first = post(http, "/cgi-bin/kf/sync_msg", token, {"open_kfid": KF, "limit": 2})
    assert first["has_more"] == 1 and [m["msgid"] for m in first["msg_list"]] == ids[:2]
    body = {"open_kfid": KF, "limit": 2, "cursor": first["next_cursor"]}
    second = post(http, "/cgi-bin/kf/sync_msg", token, body)
    assert second["has_more"] == 0 and [m["msgid"] for m in second["msg_list"]] == ids[2:]
    other_kf = {"open_kfid": "wkOTHER", "cursor": first["next_cursor"]}
    assert post(http, "/cgi-bin/kf/sync_msg", token, other_kf)["errcode"] == 95007
    too_many = {"open_kfid": KF, "limit": 1001}
    assert post(http, "/cgi-bin/kf/sync_msg", token, too_many)["errcode"] == 40058


def test_kf_send_checks(http: httpx.Client, fake: FakeWeChat) -> None:
    token = kf_token(http, fake)
    text = {"msgtype": "text", "text": {"content": "您好"}}
    send = "/cgi-bin/kf/send_msg"
    assert post(http, send, token, {"open_kfid": KF, **text})["errcode"] == 40003
    assert post(http, send, token, {"touser": "wmU", **text})["errcode"] == 95000
    bad_type = {"touser": "wmU", "open_kfid": KF, "msgtype": "fax", "fax": {}}
    assert post(http, send, token, bad_type)["errcode"] == 40008
    bad_id = {"touser": "wmU", "open_kfid": KF, "msgid": "含中文", **text}
    assert post(http, send, token, bad_id)["errcode"] == 40058
    for state, errcode in [(0, 0), (1, 0), (2, 95018), (3, 95018), (4, 95018)]:
        fake.set_service_state(KF, "wmU", state, servicer="zs" if state == 3 else None)
        assert post(http, send, token, {"touser": "wmU", "open_kfid": KF, **text})["errcode"] == (
            errcode
        )
    assert len(fake.kf_sent) == 2
    assert post(http, "/cgi-bin/kf/send_msg_on_event", token, text)["errcode"] == 40058


def test_customer_message_reopens_an_ended_session(fake: FakeWeChat, http: httpx.Client) -> None:
    fake.set_service_state(KF, "wmU", 4)
    fake.push_kf(KF, "wmU", "我又来了")
    assert fake.service_state_of(KF, "wmU") == (0, "")


def test_wait_for(fake: FakeWeChat, http: httpx.Client) -> None:
    token = oa_token(http, fake)

    def later() -> None:
        time.sleep(0.1)
        body = {"touser": "o1", "command": "Typing"}
        post(http, "/cgi-bin/message/custom/typing", token, body)

    thread = threading.Thread(target=later)
    thread.start()
    assert wait_for(lambda: len(fake.typing) == 1, timeout=5)
    thread.join()
    assert not wait_for(lambda: len(fake.typing) == 2, timeout=0.05)
