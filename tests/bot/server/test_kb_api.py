"""/api/kb over real HTTP: live edits answer the next message, roles, imports, exports."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bot.server.app import create_app
from bot.server.live import LiveServer
from tests.bot.server.conftest import ADMIN, AGENT, EDITOR, clone, settings_for

TEA = Path(__file__).parents[2] / "fixtures" / "kb" / "tea_faq.yml"
PARKING = {
    "question": "门口可以停车吗？",
    "similar": ["有没有停车位", "车可以停在哪里", "停车方便吗"],
    "answer": {"text": "门店后方有免费停车位，欢迎您开车过来。"},
    "category": "门店/停车",
}


@pytest.fixture(scope="module")
def kb_server(server_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    project = clone(server_project, tmp_path_factory.mktemp("kbapi") / "zh_mini")
    (project / "kb").mkdir()
    shutil.copy(TEA, project / "kb" / "faq.yml")
    (project / "credentials.yml").write_text(
        "rest:\nzhike:\n  api_tokens:\n"
        f"    - {{token: {EDITOR}, role: editor}}\n"
        f"    - {{token: {AGENT}, role: agent}}\n",
        encoding="utf-8",
    )
    settings = settings_for(project, auth_token=ADMIN)
    with LiveServer(create_app(settings)) as server:
        yield server.url


def client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def chat(url: str, sender: str, text: str) -> list[dict[str, object]]:
    reply = httpx.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert reply.status_code == 200
    messages: list[dict[str, object]] = reply.json()
    return messages


def test_live_edit_answers_the_next_message(kb_server: str) -> None:
    before = " ".join(str(m.get("text")) for m in chat(kb_server, "kb-live-1", "停车方便吗"))
    assert "免费停车位" not in before
    with client(kb_server, EDITOR) as editor:
        created = editor.put("/api/kb/entries/faq_parking", json=PARKING)
        assert created.status_code == 200, created.text
        assert created.json()["id"] == "faq_parking" and created.json()["updated_at"] > 0
    after = chat(kb_server, "kb-live-2", "停车方便吗")
    assert any("免费停车位" in str(m.get("text")) for m in after)
    with client(kb_server, EDITOR) as editor:
        changed = {**PARKING, "answer": "停车场已改为收费，每小时5元。"}
        assert editor.put("/api/kb/entries/faq_parking", json=changed).status_code == 200
        assert any(
            "每小时5元" in str(m.get("text")) for m in chat(kb_server, "kb-live-3", "停车方便吗")
        )
        assert editor.delete("/api/kb/entries/faq_parking").status_code == 204
        assert editor.get("/api/kb/entries/faq_parking").status_code == 404
    gone = " ".join(str(m.get("text")) for m in chat(kb_server, "kb-live-4", "停车方便吗"))
    assert "每小时5元" not in gone


def test_search_shows_scores_and_decision(kb_server: str) -> None:
    with client(kb_server, AGENT) as agent:
        found = agent.get("/api/kb/search", params={"q": "积分能换什么东西", "k": 3})
    assert found.status_code == 200
    body = found.json()
    assert body["hits"][0]["id"] == "faq_points" and body["decision"] in ("answer", "clarify")
    assert 0 <= body["hits"][0]["score"] <= 1


def test_roles_and_tokens(kb_server: str) -> None:
    with client(kb_server, AGENT) as agent:
        assert agent.get("/api/kb/entries").json()["total"] >= 7
        denied = agent.put("/api/kb/entries/faq_x", json=PARKING)
        assert denied.status_code == 403 and denied.json()["message_zh"]
    assert httpx.get(f"{kb_server}/api/kb/entries").status_code == 401
    with client(kb_server, "wrong-token-000") as stranger:
        assert stranger.get("/api/kb/entries").status_code == 401


def test_bad_entries_get_clear_errors(kb_server: str) -> None:
    with client(kb_server, EDITOR) as editor:
        missing = editor.put("/api/kb/entries/faq_bad", json={"question": "只有问题？"})
        assert missing.status_code == 422
        bad_date = {
            **PARKING,
            "question": "日期错了吗？",
            "similar": [],
            "valid_from": "2026-13-01",
        }
        assert editor.put("/api/kb/entries/faq_bad", json=bad_date).status_code == 422
        clash = {**PARKING, "question": "会员积分怎么用？", "similar": []}
        conflict = editor.put("/api/kb/entries/faq_clash", json=clash)
        assert conflict.status_code == 409 and "faq_points" in conflict.json()["message_en"]
        broken = editor.put(
            "/api/kb/entries/faq_bad",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert broken.status_code in (400, 422)


def test_export_then_import_round_trips_and_bad_files_change_nothing(kb_server: str) -> None:
    with client(kb_server, EDITOR) as editor:
        exported = editor.get("/api/kb/export", params={"format": "yaml"})
        assert exported.status_code == 200
        doc = yaml.safe_load(exported.text)
        ids = sorted(item["id"] for item in doc["faq"])
        xlsx = editor.get("/api/kb/export", params={"format": "xlsx"})
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
        broken = editor.post(
            "/api/kb/import",
            params={"format": "csv"},
            content=b"id,question\nfaq_a,\n",
            headers={"Content-Type": "text/csv"},
        )
        assert broken.status_code == 422 and broken.json()["error"] == "invalid_entry"
        assert (
            sorted(e["id"] for e in editor.get("/api/kb/entries?limit=1000").json()["entries"])
            == ids
        )
        restored = editor.post(
            "/api/kb/import",
            params={"format": "xlsx"},
            content=io.BytesIO(xlsx.content).read(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert restored.status_code == 200, restored.text
        assert restored.json()["imported"] == len(ids)
        assert editor.get("/api/kb/export", params={"format": "pdf"}).status_code == 400


def test_feedback_listing(kb_server: str) -> None:
    chat(kb_server, "kb-fb", "积分能换什么东西")
    chat(kb_server, "kb-fb", "没有解决")
    with client(kb_server, EDITOR) as editor:
        rows = editor.get("/api/kb/feedback", params={"entry_id": "faq_points"}).json()
    assert any(r["kind"] == "unsolved" and r["conversation_id"] == "kb-fb" for r in rows)
