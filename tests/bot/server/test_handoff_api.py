"""The handoff API over the real server: persistence across a restart, and bad input
(foreign groups, forged agent messages, double accept, expired sessions)."""

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
from tests.bot.server.conftest import clone, settings_for

AGENTS = [
    {"id": "a1", "name": "王芳", "password": "pw-a1", "groups": ["综合"]},
    {"id": "a2", "name": "李强", "password": "pw-a2", "groups": ["综合"]},
    {"id": "b1", "name": "陈静", "password": "pw-b1", "groups": ["宽带"]},
]


def handoff(tmp: Path) -> dict[str, Any]:
    return {
        "db": str(tmp / "handoff.db"),
        "hours": "00:00-24:00",
        "groups": ["综合", "宽带", "专家组"],
        "default_group": "综合",
        "agents": AGENTS,
        "timeouts": {"accept": 600, "agent_lost": 600},
    }


@pytest.fixture
def project(server_project: Path, tmp_path: Path) -> Path:
    return clone(server_project, tmp_path / "zh_mini")


def serve(project: Path, tmp: Path) -> LiveServer:
    settings = settings_for(
        project, tracker_store=f"sqlite:///{tmp}/trackers.db", handoff=handoff(tmp)
    )
    return LiveServer(create_app(settings))


def login(client: httpx.Client, agent_id: str) -> dict[str, str]:
    r = client.post("/api/agent/login", json={"agent_id": agent_id, "password": f"pw-{agent_id}"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def say(client: httpx.Client, sender: str, text: str) -> list[dict[str, Any]]:
    r = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert r.status_code == 200, r.text
    return list(r.json())


@pytest.fixture
def live(project: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    with serve(project, tmp_path) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def waiting_handoff(client: httpx.Client, sender: str) -> str:
    """A customer asks for a human while an agent of 综合 is 'online' (an open console)."""
    replies = say(client, sender, "转人工")
    custom = [m["custom"] for m in replies if m.get("custom", {}).get("type") == "handoff"]
    assert custom and custom[0]["handoff_id"], replies
    return str(custom[0]["handoff_id"])


def offered(client: httpx.Client, headers: dict[str, str], hid: str) -> None:
    """Wait until the dispatcher has offered `hid` to the agent (it runs just after queueing)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mine = client.get("/api/agent/handoffs", headers=headers).json()["mine"]
        if any(h["handoff_id"] == hid and h["state"] == "assigned" for h in mine):
            return
        time.sleep(0.05)
    raise AssertionError(f"{hid} was not offered")


def test_nobody_online_leaves_a_ticket(live: httpx.Client) -> None:
    replies = say(live, "c-ticket", "转人工")
    text = " ".join(m.get("text", "") for m in replies)
    assert "工单号 GD" in text
    found = live.get("/api/handoffs", params={"conversation_id": "c-ticket"}).json()
    assert [h["state"] for h in found["handoffs"]] == ["ticket"]
    tracker = live.get("/conversations/c-ticket/tracker").json()
    kinds = [e["event"] for e in tracker["events"]]
    assert "handoff" in kinds and "handoff_state" in kinds


def test_agents_only_touch_their_own(live: httpx.Client) -> None:
    a1, a2, b1 = (login(live, a) for a in ("a1", "a2", "b1"))
    # a queue needs a staffed group: a1 is online while its console socket is open
    ws_url = str(live.base_url).replace("http", "ws") + "/api/agent/ws"
    with connect(ws_url) as ws:
        ws.send(json.dumps({"type": "auth", "token": a1["Authorization"][7:]}))
        assert '"ready"' in ws.recv(timeout=10)
        hid = waiting_handoff(live, "c-rules")
        offered(live, a1, hid)
        # the 宽带 agent may not see or take a 综合 conversation
        assert live.get(f"/api/agent/handoffs/{hid}", headers=b1).status_code == 403
        assert live.post(f"/api/agent/handoffs/{hid}/accept", headers=b1).status_code == 403
        # a1 was offered it; a2 cannot take it over, nor write as its agent
        assert live.post(f"/api/agent/handoffs/{hid}/accept", headers=a2).status_code == 409
        forged = live.post(f"/api/agent/handoffs/{hid}/messages", headers=a2, json={"text": "hi"})
        assert forged.status_code == 403 and forged.json()["error"] == "not_your_conversation"
        assert live.post(f"/api/agent/handoffs/{hid}/accept", headers=a1).status_code == 200
        again = live.post(f"/api/agent/handoffs/{hid}/accept", headers=a1)
        assert again.status_code == 409 and again.json()["message_zh"]
        sent = live.post(f"/api/agent/handoffs/{hid}/messages", headers=a1, json={"text": "您好"})
        assert sent.status_code == 200
        tracker = live.get("/conversations/c-rules/tracker").json()
        assert any(e.get("metadata", {}).get("agent_id") == "a1" for e in tracker["events"])
    expired = {"Authorization": "Bearer not-a-session"}
    r = live.get("/api/agent/handoffs", headers=expired)
    assert r.status_code == 401 and r.json()["error"] == "session_expired"


def test_waiting_customers_survive_a_restart(project: Path, tmp_path: Path) -> None:
    with serve(project, tmp_path) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        a1 = login(c, "a1")
        ws_url = server.url.replace("http", "ws") + "/api/agent/ws"
        with connect(ws_url) as ws:
            ws.send(json.dumps({"type": "auth", "token": a1["Authorization"][7:]}))
            assert '"ready"' in ws.recv(timeout=10)
            hid = waiting_handoff(c, "c-restart")
            offered(c, a1, hid)
            assert c.post(f"/api/agent/handoffs/{hid}/accept", headers=a1).status_code == 200
            other = waiting_handoff(c, "c-restart-2")
    with serve(project, tmp_path) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        a1 = login(c, "a1")  # sessions persist too, but a fresh login is what agents do
        states = {h["handoff_id"]: h["state"] for h in c.get("/api/handoffs").json()["handoffs"]}
        assert states[hid] == "with_agent"
        assert states[other] in ("queued", "assigned")
        # the bot still knows the first customer is with an agent: it stays silent
        assert say(c, "c-restart", "还在吗") == []
        lines = c.get(f"/api/agent/handoffs/{hid}", headers=a1).json()["context"]["transcript"]
        assert lines[-1]["text"] == "还在吗"
