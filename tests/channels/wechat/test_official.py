"""The Official Account channel over real HTTP: a real Zhike server, WeChat's real XML and
crypto (wechatpy), and the fake WeChat API server for 客服消息, in plain, compatible and safe
modes; the 5-second rule with a custom action that sleeps 6 s; retries; handoff; bad input."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from wechatpy.crypto import WeChatCrypto

from bot.runtime import train_project
from bot.server.app import create_app
from bot.server.live import LiveServer
from bot.server.settings import load_settings
from bot.testing.wechat_server import FakeWeChat, wait_for
from channels.wechat.xmlmsg import parse_xml
from tests.voice.test_decode import amr_nb
from voice.asr.models import whisper_test_model
from voice.audio import read_wav

from . import samples as s

GREETINGS = {
    "您好，欢迎光临小知茶饮！请问今天想喝点什么？",
    "您好！我是小知，可以帮您点饮品，也可以解答门店的常见问题。",
}
SLOW_TEXT = "让您久等了，查询完成：您是小知茶饮的老朋友啦。"
SLOW_ACTION = f'''
import asyncio

from rasa_sdk import Action


class ActionSlowLookup(Action):
    def name(self):
        return "action_slow_lookup"

    async def run(self, dispatcher, tracker, domain):
        await asyncio.sleep(6)
        dispatcher.utter_message(text="{SLOW_TEXT}")
        return []
'''
ZH_MINI = Path(__file__).parents[2] / "fixtures" / "projects" / "zh_mini"
AUDIO = Path(__file__).parents[2] / "fixtures" / "audio"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zh_mini where "你是机器人吗" runs a custom action that takes 6 s."""
    root = tmp_path_factory.mktemp("oa") / "zh_mini"
    shutil.copytree(ZH_MINI, root, ignore=shutil.ignore_patterns("models", ".zhike", "tests"))
    (root / "actions.py").write_text(SLOW_ACTION, encoding="utf-8")
    (root / "domain" / "slow.yml").write_text(
        'version: "3.1"\nactions:\n  - action_slow_lookup\n', encoding="utf-8"
    )
    rules = root / "data" / "rules.yml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace("action: utter_iamabot", "action: action_slow_lookup"), "utf-8")
    train_project(root)
    return root


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChat]:
    fake = FakeWeChat(app_id=s.APP_ID)
    with LiveServer(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


def channel_config(fake: FakeWeChat, **extra: Any) -> dict[str, Any]:
    return {
        "token": s.TOKEN,
        "app_id": s.APP_ID,
        "app_secret": fake.app_secret,
        "encoding_aes_key": s.AES_KEY,
        "api_base_url": fake.url,  # type: ignore[attr-defined]
        **extra,
    }


def serve(project: Path, tmp: Path, config: dict[str, Any]) -> LiveServer:
    settings = load_settings(
        project,
        env={},
        overrides={
            "tracker_store": f"sqlite:///{tmp / 'tracker.db'}",
            "model_poll_seconds": 0,
            "log_format": "text",
            "channels": ("rest", "wechat"),
            "channel_config": {"wechat": config},
            "max_body_bytes": 64 * 1024,
        },
    )
    return LiveServer(create_app(settings))


@pytest.fixture(scope="module", params=["plain", "compatible", "safe"])
def server(
    request: pytest.FixtureRequest,
    project: Path,
    fake: FakeWeChat,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, LiveServer]]:
    mode = str(request.param)
    tmp = tmp_path_factory.mktemp(mode)
    with serve(project, tmp, channel_config(fake, mode=mode)) as live:
        yield mode, live


def now() -> str:
    return str(int(time.time()))


def compatible(inner_xml: str, timestamp: str) -> s.SignedRequest:
    """兼容模式: the plaintext fields and the <Encrypt> envelope in one body."""
    safe = s.oa_encrypted(inner_xml, timestamp=timestamp)
    encrypt = parse_xml(safe.body)["Encrypt"]
    body = inner_xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n</xml>")
    return s.SignedRequest(safe.query, body)


def signed(mode: str, inner_xml: str) -> s.SignedRequest:
    stamp = now()
    if mode == "plain":
        return s.oa_plain(inner_xml, timestamp=stamp)
    return (
        compatible(inner_xml, stamp)
        if mode == "compatible"
        else s.oa_encrypted(inner_xml, timestamp=stamp)
    )


def post(url: str, request: s.SignedRequest, timeout: float = 10) -> httpx.Response:
    return httpx.post(
        url + "/webhooks/wechat",
        params=request.query,
        content=request.body.encode("utf-8"),
        headers={"Content-Type": "text/xml"},
        timeout=timeout,
    )


def reply_fields(mode: str, response: httpx.Response, request: s.SignedRequest) -> dict[str, str]:
    """The passive reply as WeChat reads it (decrypted with wechatpy in the AES modes)."""
    assert response.status_code == 200, response.text
    if mode == "plain":
        return parse_xml(response.text)
    envelope = parse_xml(response.text)
    crypto = WeChatCrypto(s.TOKEN, s.AES_KEY, s.APP_ID)
    inner = crypto.decrypt_message(
        response.text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    assert envelope["Nonce"] == request.query["nonce"]
    return parse_xml(inner)


def ask(mode: str, url: str, inner_xml: str) -> dict[str, str]:
    request = signed(mode, inner_xml)
    return reply_fields(mode, post(url, request), request)


_ids = iter(range(10**15, 10**16))


def msg_id() -> str:
    return str(next(_ids))


# ------------------------------------------------------------------ verification
def test_url_verification(server: tuple[str, LiveServer]) -> None:
    _, live = server
    check = s.oa_verify(timestamp=now(), echostr="4827493274")
    assert httpx.get(live.url + "/webhooks/wechat", params=check.query).text == "4827493274"
    bad = {**check.query, "signature": "0" * 40}
    assert httpx.get(live.url + "/webhooks/wechat", params=bad).status_code == 403
    stale = s.oa_verify(timestamp=str(int(time.time()) - 3600))
    assert httpx.get(live.url + "/webhooks/wechat", params=stale.query).status_code == 403


# ------------------------------------------------------------------ every type, every mode
def test_text_is_answered_passively(server: tuple[str, LiveServer]) -> None:
    mode, live = server
    user = f"o-text-{mode}"
    reply = ask(mode, live.url, s.oa_text("你好", from_user=user, msg_id=msg_id()))
    assert reply["MsgType"] == "text" and reply["Content"] in GREETINGS
    assert reply["ToUserName"] == user and reply["FromUserName"] == s.OA_ID


def test_voice_uses_wechat_recognition(server: tuple[str, LiveServer]) -> None:
    mode, live = server
    inner = s.oa_voice(recognition="你好", from_user=f"o-asr-{mode}", msg_id=msg_id())
    assert ask(mode, live.url, inner)["Content"] in GREETINGS


def test_voice_without_recognition_asks_again(server: tuple[str, LiveServer]) -> None:
    mode, live = server
    reply = ask(mode, live.url, s.oa_voice(from_user=f"o-voice-{mode}", msg_id=msg_id()))
    assert "没有听清" in reply["Content"]


@pytest.mark.parametrize(
    "name", ["oa_image", "oa_video", "oa_shortvideo", "oa_location", "oa_link"]
)
def test_media_is_kept_and_the_customer_asked_for_words(
    server: tuple[str, LiveServer], name: str
) -> None:
    mode, live = server
    user = f"o-{name}-{mode}"
    reply = ask(mode, live.url, s.SAMPLES[name](from_user=user, msg_id=msg_id()))
    assert "文字" in reply["Content"]
    tracker = httpx.get(f"{live.url}/conversations/{user}/tracker").json()
    texts = [e.get("text") for e in tracker["events"] if e["event"] == "user"]
    assert texts and texts[-1].startswith("[")  # "[图片]", "[位置] …", "[链接] …"


def test_subscribe_greets_and_click_runs_the_key(server: tuple[str, LiveServer]) -> None:
    mode, live = server
    user = f"o-follow-{mode}"
    greet = ask(mode, live.url, s.oa_subscribe(from_user=user, create_time=int(time.time())))
    assert greet["Content"] in GREETINGS
    click = s.oa_click(event_key="/greet", from_user=user, create_time=int(time.time()) + 1)
    assert ask(mode, live.url, click)["Content"] in GREETINGS


@pytest.mark.parametrize("name", ["oa_unsubscribe", "oa_scan", "oa_location_event", "oa_view"])
def test_events_without_an_answer_get_success(server: tuple[str, LiveServer], name: str) -> None:
    mode, live = server
    inner = s.SAMPLES[name](from_user=f"o-{name}-{mode}", create_time=int(time.time()))
    response = post(live.url, signed(mode, inner))
    assert response.status_code == 200 and response.text == "success"


def test_unknown_message_type_gets_a_polite_reply(server: tuple[str, LiveServer]) -> None:
    mode, live = server
    inner = s.oa_text("x", msg_id=msg_id()).replace(
        "<![CDATA[text]]>", "<![CDATA[miniprogrampage]]>"
    )
    assert "暂时还不支持" in ask(mode, live.url, inner)["Content"]


def test_buttons_become_a_numbered_menu_answered_by_number(server: tuple[str, LiveServer]) -> None:
    mode, live = server
    user = f"o-menu-{mode}"
    first = ask(mode, live.url, s.oa_text("我要一杯珍珠奶茶", from_user=user, msg_id=msg_id()))
    if "大杯" not in first["Content"]:  # the form asked for the drink first
        first = ask(mode, live.url, s.oa_text("珍珠奶茶", from_user=user, msg_id=msg_id()))
    assert "1. 大杯" in first["Content"] and "2. 中杯" in first["Content"]
    ask(mode, live.url, s.oa_text("2", from_user=user, msg_id=msg_id()))
    tracker = httpx.get(f"{live.url}/conversations/{user}/tracker").json()
    assert tracker["slots"]["size"] == "中杯"


# ------------------------------------------------------------------ bad input
def test_bad_requests_are_rejected_not_crashed(server: tuple[str, LiveServer]) -> None:
    mode, live = server
    good = signed(mode, s.oa_text("你好", msg_id=msg_id()))
    forged = {**good.query, "signature": "f" * 40, "msg_signature": "f" * 40}
    assert post(live.url, s.SignedRequest(forged, good.body)).status_code == 403
    stale = {**good.query, "timestamp": str(int(time.time()) - 3600)}
    assert post(live.url, s.SignedRequest(stale, good.body)).status_code == 403
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
        '"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><xml><Content>&lol2;</Content></xml>'
    )
    assert post(live.url, s.oa_plain(bomb, timestamp=now())).status_code in (400, 403)
    garbage = s.oa_plain("not xml at all", timestamp=now())
    assert post(live.url, garbage).status_code in (400, 403)
    huge = s.oa_plain(s.oa_text("好" * 40_000), timestamp=now())
    assert post(live.url, huge).status_code == 413
    assert httpx.get(live.url + "/health").status_code == 200


def test_safe_mode_refuses_plaintext_and_bad_ciphertext(
    project: Path, fake: FakeWeChat, tmp_path: Path
) -> None:
    with serve(project, tmp_path, channel_config(fake, mode="safe")) as live:
        plain = s.oa_plain(s.oa_text("你好", msg_id=msg_id()), timestamp=now())
        assert post(live.url, plain).status_code == 403
        other_key = "A" * 43
        wrong = s.oa_encrypted(
            s.oa_text("你好", msg_id=msg_id()), timestamp=now(), aes_key=other_key
        )
        assert post(live.url, wrong).status_code == 400  # signed right, decrypts to garbage


# ------------------------------------------------------------------ the 5-second rule
def test_slow_turn_answers_success_at_once_and_one_async_message(
    project: Path, fake: FakeWeChat, tmp_path: Path
) -> None:
    user = "o-slow-customer-000000000001"
    with serve(project, tmp_path, channel_config(fake, mode="safe")) as live:
        before = [m for m in fake.sent if m["touser"] == user]
        request = s.oa_encrypted(
            s.oa_text("你是机器人吗", from_user=user, msg_id=msg_id()), timestamp=now()
        )
        started = time.monotonic()
        first = post(live.url, request)
        waited = time.monotonic() - started
        assert first.status_code == 200 and first.text == "success"
        assert waited < 4.9, f"WeChat gives up after 5 s; answered after {waited:.2f} s"
        fake.expire_tokens()  # the async send must survive a token expiry (42001 → refetch)
        retries = [post(live.url, request) for _ in range(3)]  # WeChat's retries
        assert all(r.status_code == 200 and r.text == "success" for r in retries)
        mine = lambda: [m for m in fake.sent if m["touser"] == user]  # noqa: E731
        assert wait_for(lambda: len(mine()) > len(before), timeout=10)
        time.sleep(1.0)  # nothing else may follow
        sent = mine()[len(before) :]
        assert [m["text"]["content"] for m in sent] == [SLOW_TEXT]
        assert any(t["touser"] == user for t in fake.typing)  # "对方正在输入…"
        tracker = httpx.get(f"{live.url}/conversations/{user}/tracker").json()
        ran = [e for e in tracker["events"] if e.get("name") == "action_slow_lookup"]
        assert len(ran) == 1


def test_retries_of_a_fast_turn_run_it_once(
    project: Path, fake: FakeWeChat, tmp_path: Path
) -> None:
    user = "o-retry-customer-00000000001"
    with serve(project, tmp_path, channel_config(fake, mode="plain")) as live:
        request = s.oa_plain(s.oa_text("你好", from_user=user, msg_id=msg_id()), timestamp=now())
        answers = [post(live.url, request) for _ in range(3)]
        assert answers[0].status_code == 200 and "<xml>" in answers[0].text
        tracker = httpx.get(f"{live.url}/conversations/{user}/tracker").json()
        assert len([e for e in tracker["events"] if e["event"] == "user"]) == 1


# ------------------------------------------------------------------ handoff
def test_wechat_handoff_mode_transfers_to_wechat_customer_service(
    project: Path, fake: FakeWeChat, tmp_path: Path
) -> None:
    user = "o-handoff-customer-0000000001"
    config = channel_config(fake, mode="plain", handoff="wechat", kf_account="kf2001@gh_test")
    with serve(project, tmp_path, config) as live:
        request = s.oa_plain(s.oa_text("转人工", from_user=user, msg_id=msg_id()), timestamp=now())
        reply = parse_xml(post(live.url, request).text)
        assert reply["MsgType"] == "transfer_customer_service"
        assert reply["TransInfo.KfAccount"] == "kf2001@gh_test"
        assert wait_for(
            lambda: any(
                m["touser"] == user and "转接人工" in m["text"]["content"] for m in fake.sent
            )
        )
        queued = httpx.get(f"{live.url}/api/handoffs").json()
        assert all(h["conversation_id"] != user for h in queued.get("handoffs", queued))


# ------------------------------------------------------------------ voice through our ASR
@pytest.fixture(scope="module")
def voice_project(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained project with whisper-base as its ASR (endpoints.yml `voice:`)."""
    root = tmp_path_factory.mktemp("oa-voice") / "zh_mini"
    shutil.copytree(project, root)
    model = whisper_test_model()
    (root / "endpoints.yml").write_text(
        f"voice:\n  asr: whisper\n  whisper_model: {model}\n", encoding="utf-8"
    )
    return root


@pytest.fixture(scope="module")
def voice_server(
    voice_project: Path, fake: FakeWeChat, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("oa-voice-state")
    with serve(voice_project, tmp, channel_config(fake, mode="safe")) as live:
        yield live


def answer_to(live: LiveServer, fake: FakeWeChat, inner_xml: str, user: str) -> str:
    """The first answer: passive, or a 客服消息 when the turn missed the 5-second rule."""
    request = signed("safe", inner_xml)
    started = time.monotonic()
    response = post(live.url, request, timeout=30)
    assert time.monotonic() - started < 4.9
    if response.text != "success":
        return reply_fields("safe", response, request)["Content"]
    assert wait_for(lambda: any(m["touser"] == user for m in fake.sent), timeout=60)
    return str(next(m for m in fake.sent if m["touser"] == user)["text"]["content"])


def test_voice_without_recognition_goes_through_our_asr(
    voice_server: LiveServer, fake: FakeWeChat
) -> None:
    user = "o-our-asr-customer-000000001"
    fake.add_media("oa-greet-amr", amr_nb(*read_wav(AUDIO / "greet_16k.wav")), "audio/amr")
    inner = s.oa_voice(media_id="oa-greet-amr", from_user=user, msg_id=msg_id())
    assert answer_to(voice_server, fake, inner, user) in GREETINGS
    tracker = httpx.get(f"{voice_server.url}/conversations/{user}/tracker").json()
    said = [e for e in tracker["events"] if e["event"] == "user"]
    assert len(said) == 1 and said[0]["text"].rstrip("。") in ("你好", "您好")
    assert said[0]["metadata"]["asr"] == "zhike"


@pytest.mark.parametrize(
    ("media_id", "data"),
    [("oa-missing-media", None), ("oa-not-audio", b"<html>not a voice message</html>" * 4)],
)
def test_voice_that_cannot_be_fetched_or_decoded_gets_the_polite_reply(
    voice_server: LiveServer, fake: FakeWeChat, media_id: str, data: bytes | None
) -> None:
    user = f"o-{media_id}-00000001"
    if data is not None:
        fake.add_media(media_id, data, "audio/amr")
    inner = s.oa_voice(media_id=media_id, from_user=user, msg_id=msg_id())
    assert "没有听清" in answer_to(voice_server, fake, inner, user)
    tracker = httpx.get(f"{voice_server.url}/conversations/{user}/tracker").json()
    assert not [e for e in tracker.get("events", []) if e["event"] == "user"]  # no turn ran
