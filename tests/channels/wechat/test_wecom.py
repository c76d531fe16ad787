"""The WeCom 微信客服 channel over real HTTP: a real Zhike server (trained zh_mini project) with
the `wecom` channel, the fake WeCom API server, callbacks encrypted with wechatpy."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from defusedxml.ElementTree import fromstring
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.engine import Engine
from bot.messages import OutboundMessage
from bot.model import TrainedModel
from bot.server.app import create_app
from bot.server.holder import EngineHolder
from bot.server.live import LiveServer
from bot.testing.wechat_server import FakeWeChat, wait_for
from channels.wechat.api import WeChatAPIError
from channels.wechat.kf_api import KfAPI
from channels.wechat.state import ChannelState
from channels.wechat.wecom import WeComChannel
from channels.wechat.wecom_config import WeComConfig
from channels.wechat.wecom_inbound import TEXTS
from tests.bot.server.conftest import settings_for, trained_copy
from tests.channels.wechat import samples
from tests.voice.test_decode import amr_nb
from voice.asr.models import whisper_test_model
from voice.audio import read_wav

KFID = "wkZhikeTestKf0001"
AUDIO = Path(__file__).parents[2] / "fixtures" / "audio"
TOKEN, AES_KEY = samples.TOKEN, samples.AES_KEY
GREETS = (
    "您好，欢迎光临小知茶饮！请问今天想喝点什么？",
    "您好！我是小知，可以帮您点饮品，也可以解答门店的常见问题。",
)
TRANSFER = "正在为您转接人工客服，请稍候。"
SEND, ON_EVENT, SYNC = (
    "/cgi-bin/kf/send_msg",
    "/cgi-bin/kf/send_msg_on_event",
    "/cgi-bin/kf/sync_msg",
)


# ------------------------------------------------------------------ fixtures and helpers
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
def fake_url(fake_server: tuple[FakeWeChat, LiveServer]) -> str:
    return fake_server[1].url


@pytest.fixture(scope="module")
def project(
    zh_root: Path, zh_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return trained_copy(zh_root, zh_model, tmp_path_factory.mktemp("wecom") / "zh_mini")


def wecom_config(fake: FakeWeChat, fake_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "corp_id": fake.corp_id,
        "secret": fake.kf_secret,
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
        "open_kfid": KFID,
        "api_base_url": fake_url,
        **extra,
    }


def zhike(project: Path, tmp: Path, fake: FakeWeChat, fake_url: str, **extra: Any) -> LiveServer:
    """A real server with the rest and wecom channels; its stores live in `tmp`."""
    s = settings_for(
        project,
        channels=("rest", "wecom"),
        channel_config={"wecom": wecom_config(fake, fake_url, **extra)},
        tracker_store=f"sqlite:///{tmp}/trackers.db",
        handoff={"hours": "00:00-24:00"},
    )
    return LiveServer(create_app(s))


class WeCom:
    """What WeCom does: keep the customers' messages (in the fake) and post callbacks."""

    def __init__(self, fake: FakeWeChat, url: str, corp_id: str) -> None:
        self.fake, self.url = fake, url
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, corp_id)
        self.http = httpx.Client(base_url=url, timeout=30)

    def encrypted(self, inner: str, timestamp: str | None = None) -> tuple[dict[str, str], str]:
        timestamp = timestamp or str(int(time.time()))
        envelope = self.crypto.encrypt_message(inner, "nonce123", timestamp)
        root = fromstring(envelope)
        encrypt, signature = root.findtext("Encrypt"), root.findtext("MsgSignature")
        query = {"msg_signature": signature, "timestamp": timestamp, "nonce": "nonce123"}
        body = f"<xml><ToUserName><![CDATA[{self.fake.corp_id}]]></ToUserName>"
        body += f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID>1</AgentID></xml>"
        return query, body

    def callback(self, token: str = samples.KF_TOKEN) -> httpx.Response:
        inner = samples.kf_msg_or_event(token, KFID, to_user=self.fake.corp_id)
        query, body = self.encrypted(inner)
        return self.post(query, body)

    def post(self, query: dict[str, str], body: str | bytes) -> httpx.Response:
        return self.http.post("/webhooks/wecom", params=query, content=body)

    def says(self, user: str, text: str, menu_id: str | None = None) -> str:
        body = {"content": text, **({"menu_id": menu_id} if menu_id else {})}
        msgid = self.fake.push_kf(KFID, user, body=body)
        response = self.callback()
        assert response.status_code == 200 and response.text == "", response.text
        return msgid


def sent_to(fake: FakeWeChat, user: str) -> list[dict[str, Any]]:
    return [s.body for s in fake.kf_sent if s.body.get("touser") == user]


def texts(bodies: list[dict[str, Any]]) -> list[str]:
    out = []
    for body in bodies:
        part = body[body["msgtype"]]
        out.append(str(part.get("content") or part.get("head_content") or ""))
    return out


def answered(fake: FakeWeChat, user: str, count: int, timeout: float = 20.0) -> list[str]:
    assert wait_for(lambda: len(sent_to(fake, user)) >= count, timeout), sent_to(fake, user)
    return texts(sent_to(fake, user))


def settle(fake: FakeWeChat) -> None:
    """Wait until the server has stopped calling the fake (pulls and turns done)."""
    seen = -1
    while seen != len(fake.calls):
        seen = len(fake.calls)
        time.sleep(0.25)


@pytest.fixture
def served(project: Path, tmp_path: Path, fake: FakeWeChat, fake_url: str) -> Iterator[WeCom]:
    with zhike(project, tmp_path, fake, fake_url) as server:
        yield WeCom(fake, server.url, fake.corp_id)


# ------------------------------------------------------------------ URL verification
def test_url_verification_echoes_the_decrypted_echostr(served: WeCom) -> None:
    now = str(int(time.time()))
    good = samples.wecom_verify("8213701940521", corp_id=served.fake.corp_id, timestamp=now)
    r = served.http.get("/webhooks/wecom", params=good.query)
    assert r.status_code == 200 and r.text == "8213701940521"
    assert r.headers["content-type"].startswith("text/plain")

    forged = {**good.query, "msg_signature": "0" * 40}
    assert served.http.get("/webhooks/wecom", params=forged).status_code == 403
    old = str(int(time.time()) - 3600)
    stale = samples.wecom_verify("8213701940521", corp_id=served.fake.corp_id, timestamp=old)
    r = served.http.get("/webhooks/wecom", params=stale.query)
    assert r.status_code == 403 and r.json()["error"] == "stale_timestamp"


# ------------------------------------------------------------------ conversations
def test_customer_text_is_answered_through_send_msg(served: WeCom) -> None:
    started = time.monotonic()
    served.says("wm_alice", "你好")
    assert time.monotonic() - started < 2  # answered before the turn ran
    replies = answered(served.fake, "wm_alice", 1)
    assert replies[0] in GREETS
    body = sent_to(served.fake, "wm_alice")[0]
    assert body["open_kfid"] == KFID and body["msgtype"] == "text"
    assert served.fake.kf_sent[0].endpoint == "send_msg"


def test_buttons_become_a_msgmenu_and_a_click_runs_its_payload(served: WeCom) -> None:
    served.says("wm_bob", "来一杯杨枝甘露")
    answered(served.fake, "wm_bob", 1)
    menu = sent_to(served.fake, "wm_bob")[-1]
    assert menu["msgtype"] == "msgmenu", menu
    assert "大杯、中杯还是小杯" in menu["msgmenu"]["head_content"]
    items = {i["click"]["content"]: i["click"]["id"] for i in menu["msgmenu"]["list"]}
    assert items["中杯"] == '/inform{"size": "中杯"}'

    served.says("wm_bob", "中杯", menu_id=items["中杯"])  # the customer clicks 中杯
    replies = answered(served.fake, "wm_bob", 2)
    assert replies[1] == "请问甜度需要全糖、半糖、少糖还是无糖？"


def test_enter_session_is_welcomed_with_the_welcome_code(served: WeCom) -> None:
    msgid = served.fake.push_kf(KFID, "wm_carol", event={"event_type": "enter_session"})
    served.callback()
    assert wait_for(lambda: bool(served.fake.kf_sent), 20)
    code = next(
        e.raw["event"]["welcome_code"] for e in served.fake.kf.log if e.raw["msgid"] == msgid
    )
    first = served.fake.kf_sent[0]
    assert first.endpoint == "send_msg_on_event"
    assert first.body["code"] == code and first.body["text"]["content"] in GREETS


def test_messages_too_old_to_answer_are_skipped(served: WeCom) -> None:
    old = served.fake.push_kf(KFID, "wm_old", "你好", sent_at=time.time() - 3 * 24 * 3600)
    served.says("wm_old", "你好")  # a new message: answered; the 3-day-old one is not
    assert len(answered(served.fake, "wm_old", 1)) == 1
    settle(served.fake)
    assert len(sent_to(served.fake, "wm_old")) == 1 and old


def test_a_callback_delivered_three_times_answers_each_message_once(served: WeCom) -> None:
    served.fake.push_kf(KFID, "wm_dave", "你好")
    served.fake.push_kf(KFID, "wm_erin", "你好")
    inner = samples.kf_msg_or_event(samples.KF_TOKEN, KFID, to_user=served.fake.corp_id)
    query, body = served.encrypted(inner)
    for _ in range(3):  # WeCom's retries: the same signed request
        assert served.post(query, body).status_code == 200
    answered(served.fake, "wm_dave", 1)
    answered(served.fake, "wm_erin", 1)
    settle(served.fake)
    assert len(sent_to(served.fake, "wm_dave")) == 1
    assert len(sent_to(served.fake, "wm_erin")) == 1


def test_messages_sent_while_down_are_pulled_once_at_the_next_start(
    project: Path, tmp_path: Path, fake: FakeWeChat, fake_url: str
) -> None:
    with zhike(project, tmp_path, fake, fake_url) as a:
        WeCom(fake, a.url, fake.corp_id).says("wm_early", "你好")
        answered(fake, "wm_early", 1)
        settle(fake)
    users = ["wm_down1", "wm_down2", "wm_down3"]
    for user in users:  # no callback: the server is down
        fake.push_kf(KFID, user, "你好")
    with zhike(project, tmp_path, fake, fake_url):
        for user in users:
            assert answered(fake, user, 1)[0] in GREETS
        settle(fake)
    for user in ["wm_early", *users]:
        assert len(sent_to(fake, user)) == 1, user
    assert len(fake.kf_sent) == 4


def test_wecom_handoff_mode_transfers_and_stays_silent_until_the_session_ends(
    project: Path, tmp_path: Path, fake: FakeWeChat, fake_url: str
) -> None:
    user = "wm_frank"
    with zhike(project, tmp_path, fake, fake_url, handoff="wecom") as server:
        wecom = WeCom(fake, server.url, fake.corp_id)
        wecom.says(user, "转人工")
        assert answered(fake, user, 1) == [TRANSFER]
        assert wait_for(lambda: bool(fake.trans), 10)
        assert fake.trans[0]["service_state"] == 2 and fake.trans[0]["external_userid"] == user
        settle(fake)

        sends, syncs = fake.calls.count(SEND), fake.calls.count(SYNC)
        wecom.says(user, "你好")  # a WeCom servicer is talking now
        assert wait_for(lambda: fake.calls.count(SYNC) > syncs, 10)
        settle(fake)
        assert fake.calls.count(SEND) == sends

        fake.set_service_state(KFID, user, 4)  # the servicer ends the session
        end = {"event_type": "session_status_change", "change_type": 3, "msg_code": "MC1"}
        fake.push_kf(KFID, user, event=end)
        wecom.says(user, "你好")
        assert answered(fake, user, 2)[1] in GREETS


def test_bad_callbacks_are_refused_with_4xx(served: WeCom) -> None:
    settle(served.fake)  # the pull at start
    calls = served.fake.calls
    inner = samples.kf_msg_or_event(samples.KF_TOKEN, KFID, to_user=served.fake.corp_id)
    query, body = served.encrypted(inner)
    forged = {**query, "msg_signature": "f" * 40}
    assert served.post(forged, body).status_code == 403
    stale_query, stale_body = served.encrypted(inner, str(int(time.time()) - 3600))
    assert served.post(stale_query, stale_body).status_code == 403
    assert served.post(query, b"this is not xml <<<").status_code == 400
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><xml><Encrypt>&lol2;</Encrypt></xml>'
    )
    assert served.post(query, bomb).status_code == 400
    oversized = served.post(query, b"<xml>" + b"a" * 200_000 + b"</xml>")
    assert oversized.status_code == 413
    # signed correctly, but the ciphertext is not AES of anything
    garbage = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w"
    now = str(int(time.time()))
    signed = {
        "msg_signature": samples.sign(TOKEN, now, "n1", garbage),
        "timestamp": now,
        "nonce": "n1",
    }
    r = served.post(signed, f"<xml><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>")
    assert r.status_code == 400 and r.json()["error"] == "decrypt_failed"
    assert served.http.post("/webhooks/wecom", content=body).status_code == 422  # no query
    time.sleep(0.3)
    assert served.fake.calls == calls  # nothing was pulled


def test_wecom_routes_match_their_openapi_description(served: WeCom) -> None:
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    tested = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if operation.path != "/webhooks/wecom":
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=10,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                response = case.call(base_url=served.url, timeout=30)
                case.validate_response(response, checks=checks)

            check()
        tested += 1
    assert tested == 2


# ------------------------------------------------------------------ send() outside turns
@pytest.fixture
async def channel(
    fake: FakeWeChat, fake_url: str, zh_model: TrainedModel, tmp_path: Path
) -> AsyncIterator[WeComChannel]:
    state = ChannelState(tmp_path / "wechat.db")
    api = KfAPI(fake.corp_id, fake.kf_secret, base_url=fake_url, retries=3, backoff=0.01)
    engine = Engine(zh_model)
    config = WeComConfig.from_mapping(wecom_config(fake, fake_url))
    wecom = WeComChannel(EngineHolder(engine), config, state, api)
    yield wecom
    await wecom.close()
    await state.close()
    await engine.close()


AGENT_LINE = OutboundMessage(kind="text", text="您好，我是人工客服王芳，很高兴为您服务。")


async def test_an_agent_message_from_the_console_reaches_send_msg(
    channel: WeComChannel, fake: FakeWeChat
) -> None:
    await channel.send("wm_grace", [AGENT_LINE, OutboundMessage(kind="handoff")])
    assert texts(sent_to(fake, "wm_grace")) == [AGENT_LINE.text]
    assert sent_to(fake, "wm_grace")[0]["open_kfid"] == KFID


async def test_expired_token_and_rate_limit_are_retried_transparently(
    channel: WeComChannel, fake: FakeWeChat
) -> None:
    await channel.send("wm_heidi", [AGENT_LINE])
    fake.expire_tokens()
    fake.fail(SEND, errcode=45009, times=1)
    await channel.send("wm_heidi", [OutboundMessage(kind="text", text="请问还有什么可以帮您？")])
    assert texts(sent_to(fake, "wm_heidi")) == [AGENT_LINE.text, "请问还有什么可以帮您？"]
    assert fake.token_fetches["kf"] == 2


async def test_closed_window_and_spent_retries_are_logged_not_raised(
    channel: WeComChannel, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail(SEND, errcode=95002, times=1)
    with caplog.at_level(logging.WARNING, logger="channels.wechat.wecom"):
        await channel.send("wm_ivan", [AGENT_LINE])
        fake.fail(SEND, errcode=45009, times=10)
        await channel.send("wm_ivan", [AGENT_LINE])
    assert not sent_to(fake, "wm_ivan")
    levels = {(r.levelno, "window is closed" in r.getMessage()) for r in caplog.records}
    assert (logging.WARNING, True) in levels
    assert any(
        r.levelno == logging.ERROR and "rate limited" in r.getMessage() for r in caplog.records
    )


async def test_servicer_messages_and_unknown_events_run_no_turn(
    channel: WeComChannel, fake: FakeWeChat
) -> None:
    fake.set_service_state(KFID, "wm_judy", 3, "zhangsan")
    fake.push_kf(KFID, "wm_judy", "您好，我是张三", origin=5)
    fake.push_kf(KFID, "wm_judy", event={"event_type": "servicer_status_change", "status": 1})
    fake.set_service_state(KFID, "wm_judy", 0)
    fake.push_kf(KFID, "wm_judy", msgtype="voice", body={"media_id": "MEDIA_1"})
    assert await channel.puller.pull(KFID) == 3
    assert texts(sent_to(fake, "wm_judy")) == [
        "抱歉，暂时无法收听语音消息，麻烦您用文字告诉我您的问题，谢谢。"
    ]
    assert await channel.puller.pull(KFID) == 0  # the cursor moved on


# ------------------------------------------------------------------ voice through our ASR
@pytest.fixture(scope="module")
def voice_project(
    zh_root: Path, zh_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """zh_mini with whisper-base as its ASR (endpoints.yml `voice:`)."""
    root = trained_copy(zh_root, zh_model, tmp_path_factory.mktemp("wecom-voice") / "zh_mini")
    (root / "endpoints.yml").write_text(
        f"voice:\n  asr: whisper\n  whisper_model: {whisper_test_model()}\n", encoding="utf-8"
    )
    return root


@pytest.fixture
def voice_served(
    voice_project: Path, tmp_path: Path, fake: FakeWeChat, fake_url: str
) -> Iterator[WeCom]:
    with zhike(voice_project, tmp_path, fake, fake_url) as server:
        yield WeCom(fake, server.url, fake.corp_id)


def says_voice(wecom: WeCom, user: str, media_id: str) -> None:
    wecom.fake.push_kf(KFID, user, msgtype="voice", body={"media_id": media_id})
    assert wecom.callback().status_code == 200


def test_customer_voice_is_recognised_and_answered(voice_served: WeCom) -> None:
    amr = amr_nb(*read_wav(AUDIO / "greet_16k.wav"))
    voice_served.fake.add_media("MEDIA_GREET", amr, "audio/amr")
    says_voice(voice_served, "wm_voice", "MEDIA_GREET")
    assert answered(voice_served.fake, "wm_voice", 1, timeout=60)[0] in GREETS
    assert "/cgi-bin/media/get" in voice_served.fake.calls
    tracker = voice_served.http.get("/conversations/wm_voice/tracker").json()
    said = [e for e in tracker["events"] if e["event"] == "user"]
    assert len(said) == 1 and said[0]["metadata"]["asr"] == "zhike"
    assert said[0]["metadata"]["media_id"] == "MEDIA_GREET"


def test_voice_media_that_fails_gets_a_polite_reply(voice_served: WeCom) -> None:
    voice_served.fake.add_media("MEDIA_JUNK", b"\x02#!SILK_V3" + bytes(300), "voice/silk")
    says_voice(voice_served, "wm_lost", "MEDIA_GONE")  # media/get answers 40007
    says_voice(voice_served, "wm_junk", "MEDIA_JUNK")  # not decodable
    for user in ("wm_lost", "wm_junk"):
        assert answered(voice_served.fake, user, 1) == [TEXTS["voice_unclear"]]
    settle(voice_served.fake)
    tracker = voice_served.http.get("/conversations/wm_lost/tracker").json()
    assert not [e for e in tracker.get("events", []) if e["event"] == "user"]


async def test_kf_get_media_downloads_or_raises(fake: FakeWeChat, fake_url: str) -> None:
    api = KfAPI(fake.corp_id, fake.kf_secret, base_url=fake_url, retries=0)
    try:
        fake.add_media("MEDIA_K", b"#!AMR\n\x3c" + bytes(31), "audio/amr")
        media = await api.get_media("MEDIA_K")
        assert media.data.startswith(b"#!AMR\n") and media.content_type == "audio/amr"
        with pytest.raises(WeChatAPIError) as caught:
            await api.get_media("MEDIA_NONE")
        assert caught.value.errcode == 40007
    finally:
        await api.close()
    assert fake.token_fetches == {"oa": 0, "kf": 1}
