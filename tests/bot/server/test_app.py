"""The real server over real HTTP: Rasa-compatible routes, auth, bad input, health, metrics."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest

from bot.server.live import LiveServer
from bot.server.logging import ConversationFilter, JsonFormatter, conversation_context

ERROR_KEYS = {"error", "message_zh", "message_en"}


def is_error(response: httpx.Response, status: int, code: str) -> bool:
    body = response.json()
    return (
        response.status_code == status
        and set(body) >= ERROR_KEYS
        and body["error"] == code
        and re.search(r"[\u4e00-\u9fff]", body["message_zh"]) is not None
        and response.headers["content-type"].startswith("application/json")
    )


def talk(client: httpx.Client, sender: str, text: str, **extra: object) -> list[dict[str, object]]:
    response = client.post(
        "/webhooks/rest/webhook", json={"sender": sender, "message": text, **extra}
    )
    assert response.status_code == 200, response.text
    replies: list[dict[str, object]] = response.json()
    return replies


# ------------------------------------------------------------------ basics
def test_version_and_status(admin: httpx.Client) -> None:
    version = admin.get("/version").json()
    assert version["version"] and version["rasa_compatible"] == "3.x"
    status = admin.get("/status").json()
    assert status["model_file"].endswith(".zhike")
    assert status["language"] == "zh" and status["num_active_training_jobs"] == 0


def test_parse_understands_chinese(admin: httpx.Client) -> None:
    body = admin.post("/model/parse", json={"text": "你好"}).json()
    assert body["intent"]["name"] == "greet"
    assert body["intent_ranking"][0]["name"] == "greet"
    assert body["text"] == "你好"


def test_rest_turns_then_tracker(admin: httpx.Client) -> None:
    replies = talk(admin, "app-1", "你好", metadata={"source": "test"})
    assert replies and replies[0]["recipient_id"] == "app-1" and "您好" in str(replies[0]["text"])
    tracker = admin.get("/conversations/app-1/tracker").json()
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert [u["text"] for u in users] == ["你好"]
    assert users[0]["metadata"] == {"source": "test"}
    assert tracker["latest_message"]["intent"]["name"] == "greet"
    none = admin.get("/conversations/app-1/tracker", params={"include_events": "NONE"}).json()
    assert none["events"] is None and none["sender_id"] == "app-1"


def test_add_message_does_not_run_the_bot(admin: httpx.Client) -> None:
    body = admin.post("/conversations/app-2/messages", json={"text": "再见", "sender": "user"})
    assert body.status_code == 200
    events = body.json()["events"]
    assert events[-1]["event"] == "user" and events[-1]["parse_data"]["intent"]["name"] == "goodbye"
    assert not any(e["event"] == "bot" for e in events)
    refused = admin.post("/conversations/app-2/messages", json={"text": "x", "sender": "bot"})
    assert is_error(refused, 422, "invalid_request")


def test_trigger_intent_runs_the_bot(admin: httpx.Client) -> None:
    response = admin.post("/conversations/app-3/trigger_intent", json={"name": "greet"})
    assert response.status_code == 200
    body = response.json()
    assert "您好" in body["messages"][0]["text"]
    assert body["tracker"]["latest_message"]["intent"]["name"] == "greet"
    unknown = admin.post("/conversations/app-3/trigger_intent", json={"name": "no_such_intent"})
    assert is_error(unknown, 404, "intent_not_found")


def test_trigger_intent_with_entities_fills_slots(admin: httpx.Client) -> None:
    admin.post("/conversations/app-4/trigger_intent", json={"name": "order_drink"})
    body = admin.post(
        "/conversations/app-4/trigger_intent",
        json={"name": "inform", "entities": {"drink": "珍珠奶茶"}},
    ).json()
    assert body["tracker"]["slots"]["drink"] == "珍珠奶茶"
    assert any(b["title"] == "大杯" for m in body["messages"] for b in m.get("buttons", []))


def test_health_reports_model_and_store(secured_server: LiveServer) -> None:
    for path in ("/health", "/health/ready", "/health/live"):
        body = httpx.get(secured_server.url + path).json()
        assert body["status"] == "ok" and body["model_loaded"] and body["store"]["reachable"]


# -------------------------------------------------------------------- auth
@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/status", "GET", None),
        ("/model/parse", "POST", {"text": "你好"}),
        ("/conversations/app-1/tracker", "GET", None),
        ("/model", "PUT", {"model_file": "models/none.zhike"}),
    ],
)
def test_protected_routes_need_a_token(
    secured_server: LiveServer, path: str, method: str, body: object
) -> None:
    url = secured_server.url + path
    assert is_error(httpx.request(method, url, json=body), 401, "unauthorized")
    wrong = httpx.request(method, url, json=body, params={"token": "wrong-token"})
    assert is_error(wrong, 401, "invalid_token")
    bearer = httpx.request(method, url, json=body, headers={"Authorization": "Bearer nope"})
    assert is_error(bearer, 401, "invalid_token")


def test_roles(secured_server: LiveServer, tokens: dict[str, str]) -> None:
    url = secured_server.url

    def call(method: str, path: str, role: str, **kw: object) -> httpx.Response:
        return httpx.request(method, url + path, params={"token": tokens[role]}, **kw)  # type: ignore[arg-type]

    parse = {"json": {"text": "你好"}}
    assert call("POST", "/model/parse", "editor", **parse).status_code == 200
    assert is_error(call("POST", "/model/parse", "agent", **parse), 403, "forbidden")
    assert call("GET", "/conversations/app-1/tracker", "agent").status_code == 200
    assert is_error(call("GET", "/conversations/app-1/tracker", "editor"), 403, "forbidden")
    assert is_error(
        call("POST", "/conversations/x/trigger_intent", "agent", json={"name": "greet"}),
        403,
        "forbidden",
    )
    assert call("GET", "/status", "supervisor").status_code == 200
    assert is_error(call("PUT", "/model", "agent", json={}), 403, "forbidden")


def test_public_routes_need_no_token(secured_server: LiveServer) -> None:
    for path in ("/version", "/health", "/metrics", "/webhooks/rest/"):
        assert httpx.get(secured_server.url + path).status_code == 200


# --------------------------------------------------------------- bad input
def test_broken_json_wrong_type_and_unknown_ids(admin: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    assert is_error(
        admin.post("/model/parse", content=b'{"text": ', headers=headers), 400, "invalid_json"
    )
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert is_error(
        admin.post("/model/parse", content=b"text=hi", headers=form), 415, "unsupported_media_type"
    )
    plain = {"content-type": "text/plain"}
    webhook = admin.post("/webhooks/rest/webhook", content=b"hello", headers=plain)
    assert is_error(webhook, 415, "unsupported_media_type")
    assert is_error(admin.post("/model/parse", json={"txt": 1}), 422, "invalid_request")
    assert is_error(admin.post("/model/parse", json=["text"]), 422, "invalid_request")
    assert is_error(admin.get("/conversations/never-seen/tracker"), 404, "conversation_not_found")
    assert is_error(admin.get("/no/such/route"), 404, "not_found")
    assert is_error(admin.delete("/model/parse"), 405, "method_not_allowed")
    bad_enum = admin.get("/conversations/app-1/tracker", params={"include_events": "SOME"})
    assert is_error(bad_enum, 422, "invalid_request")


def test_oversized_bodies_and_messages(admin: httpx.Client) -> None:
    big = json.dumps({"text": "话" * 40_000}).encode()
    assert is_error(
        admin.post("/model/parse", content=big, headers={"content-type": "application/json"}),
        413,
        "payload_too_large",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        yield b'{"sender": "big", "message": "'
        for _ in range(100):
            yield b"a" * 1000
        yield b'"}'

    streamed = admin.post(
        "/webhooks/rest/webhook", content=chunks(), headers={"content-type": "application/json"}
    )
    assert is_error(streamed, 413, "payload_too_large")
    long = admin.post("/webhooks/rest/webhook", json={"sender": "big", "message": "话" * 6000})
    assert is_error(long, 413, "message_too_long")
    assert is_error(admin.get("/conversations/big/tracker"), 404, "conversation_not_found")


def test_odd_text_is_answered_not_crashed(admin: httpx.Client) -> None:
    for text in ("", "\ud800孤立代理", "\x00\x01", "😀" * 50, "/inform{broken"):
        body = json.dumps({"sender": "odd", "message": text})
        response = admin.post(
            "/webhooks/rest/webhook", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 200, (text, response.text)


# ----------------------------------------------------------------- metrics
def test_metrics_count_turns_stages_and_confidence(admin: httpx.Client) -> None:
    def sample(text: str, name: str) -> float:
        match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    before = admin.get("/metrics").text
    talk(admin, "metrics-1", "你好")
    talk(admin, "metrics-1", "再见")
    after = admin.get("/metrics").text
    turns = 'zhike_turns_total{channel="rest"}'
    assert sample(after, turns) - sample(before, turns) == 2
    for stage in ("queue", "lock", "load", "parse", "predict", "store"):
        assert f'zhike_turn_stage_seconds_count{{stage="{stage}"}}' in after
    confident = 'zhike_nlu_intent_confidence_bucket{channel="rest",le="1.0"}'
    assert sample(after, confident) - sample(before, confident) == 2
    assert 'route="/webhooks/rest/webhook"' in after


def test_turn_logs_are_json_with_the_conversation_id(admin: httpx.Client) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ConversationFilter())
    logger = logging.getLogger("zhike.turn")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        talk(admin, "log-conv-7", "你好")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    turn = [line for line in lines if line["message"] == "turn"]
    assert turn and turn[-1]["conversation_id"] == "log-conv-7"
    assert turn[-1]["channel"] == "rest" and turn[-1]["intent"] == "greet"
    assert set(turn[-1]["stages_ms"]) == {"queue", "lock", "load", "parse", "predict", "store"}


def test_conversation_context_is_scoped() -> None:
    record = logging.makeLogRecord({"msg": "x"})
    with conversation_context("c-1"):
        ConversationFilter().filter(record)
    assert json.loads(JsonFormatter().format(record))["conversation_id"] == "c-1"
    ConversationFilter().filter(record)
    assert record.conversation_id is None  # type: ignore[attr-defined]


# ----------------------------------------------------------------- openapi
def test_openapi_describes_every_route(secured_server: LiveServer) -> None:
    schema = httpx.get(secured_server.url + "/openapi.json").json()
    paths = schema["paths"]
    expected = {
        ("/model/parse", "post"),
        ("/conversations/{conversation_id}/tracker", "get"),
        ("/conversations/{conversation_id}/messages", "post"),
        ("/conversations/{conversation_id}/trigger_intent", "post"),
        ("/status", "get"),
        ("/version", "get"),
        ("/model", "put"),
        ("/webhooks/rest/webhook", "post"),
        ("/health", "get"),
        ("/metrics", "get"),
    }
    assert expected <= {(p, m) for p, ops in paths.items() for m in ops}
    parse = paths["/model/parse"]["post"]
    assert parse["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ParseResponse"
    )
    for code in ("401", "403", "413", "415", "422"):
        assert parse["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith(
            "ErrorBody"
        )
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    assert httpx.get(secured_server.url + "/docs").status_code == 200
