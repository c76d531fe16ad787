"""The reference bot on WeChat: a WeChat user bound to a phone number is that customer (no
number asked, the agent sees the profile), and a handoff to our console works end to end with
the agent's messages going out as 客服消息."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from bot.server.app import create_app
from bot.server.live import LiveServer
from bot.server.settings import load_settings
from bot.testing.wechat_server import FakeWeChat, wait_for
from channels.wechat.xmlmsg import parse_xml

from . import samples as s

BOUND_OPENID, BOUND_PHONE = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "13912345678"  # actions/demo_db.py


@pytest.fixture(scope="module")
def live(
    reference_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, FakeWeChat]]:
    tmp = tmp_path_factory.mktemp("wechat-reference")
    fake = FakeWeChat(app_id=s.APP_ID)
    with pytest.MonkeyPatch.context() as patch, LiveServer(fake.app) as api:
        patch.setenv("ZHIKE_DEMO_DB", str(tmp / "demo.db"))
        wechat = {
            "token": s.TOKEN,
            "app_id": s.APP_ID,
            "app_secret": fake.app_secret,
            "encoding_aes_key": s.AES_KEY,
            "mode": "safe",
            "api_base_url": api.url,
        }
        settings = load_settings(
            reference_root,
            env={},
            overrides={
                "tracker_store": f"sqlite:///{tmp / 'trackers.db'}",
                "model_poll_seconds": 0,
                "log_format": "text",
                "channels": ("rest", "wechat"),
                "channel_config": {"wechat": wechat},
                "handoff": {"db": str(tmp / "handoff.db"), "hours": "00:00-24:00"},
            },
        )
        with LiveServer(create_app(settings)) as server:
            yield server, fake


def say(url: str, text: str, user: str = BOUND_OPENID) -> str:
    """The customer writes on WeChat (safe mode); the passive reply's text, or "success"."""
    stamp = str(int(time.time()))
    request = s.oa_encrypted(
        s.oa_text(text, from_user=user, msg_id=str(time.time_ns())), timestamp=stamp
    )
    response = httpx.post(
        url + "/webhooks/wechat", params=request.query, content=request.body, timeout=10
    )
    assert response.status_code == 200, response.text
    if response.text == "success":
        return "success"
    from wechatpy.crypto import WeChatCrypto

    envelope = parse_xml(response.text)
    inner = WeChatCrypto(s.TOKEN, s.AES_KEY, s.APP_ID).decrypt_message(
        response.text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    return parse_xml(inner).get("Content", "")


def sent_to(fake: FakeWeChat, user: str) -> list[str]:
    return [m["text"]["content"] for m in fake.sent if m["touser"] == user and "text" in m]


def test_bound_wechat_user_is_recognised_without_a_phone_number(
    live: tuple[LiveServer, FakeWeChat],
) -> None:
    server, _ = live
    answer = say(server.url, "帮我查一下话费")
    assert "320.00" in answer and "手机号" not in answer  # 王芳's balance, nothing asked
    stranger = say(server.url, "帮我查一下话费", user="oUnboundStranger000000000001")
    assert "手机号" in stranger


def test_handoff_to_our_console_and_agent_messages_as_customer_service_messages(
    live: tuple[LiveServer, FakeWeChat],
) -> None:
    server, fake = live
    with httpx.Client(base_url=server.url, timeout=30) as client:
        login = client.post("/api/agent/login", json={"agent_id": "a1001", "password": "demo1001"})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        with connect(server.url.replace("http", "ws") + "/api/agent/ws") as ws:
            ws.send(json.dumps({"type": "auth", "token": login.json()["token"]}))
            assert '"ready"' in ws.recv(timeout=10)
            notice = say(server.url, "转人工")
            assert "人工" in notice
            hid = offered(client, headers)
            assert client.post(f"/api/agent/handoffs/{hid}/accept", headers=headers).is_success
            detail = client.get(f"/api/agent/handoffs/{hid}", headers=headers).json()
            profile: dict[str, Any] = detail["context"]["profile"]
            assert profile["姓名"] == "王芳" and profile["会员等级"] == "钻石"
            assert detail["customer_id"] == "phone:139****5678"  # masked for this agent
            reply = {"text": "您好，我是人工客服小王，请问有什么可以帮您？"}
            assert client.post(
                f"/api/agent/handoffs/{hid}/messages", headers=headers, json=reply
            ).is_success
            assert wait_for(lambda: reply["text"] in sent_to(fake, BOUND_OPENID))
            assert say(server.url, "我的流量怎么用得这么快") == "success"  # the bot is silent
            lines = client.get(f"/api/agent/handoffs/{hid}", headers=headers).json()
            assert lines["context"]["transcript"][-1]["text"] == "我的流量怎么用得这么快"


def offered(client: httpx.Client, headers: dict[str, str]) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for h in client.get("/api/agent/handoffs", headers=headers).json()["mine"]:
            if h["conversation_id"] == BOUND_OPENID and h["state"] == "assigned":
                return str(h["handoff_id"])
        time.sleep(0.05)
    raise AssertionError("the WeChat customer was not offered to a1001")
