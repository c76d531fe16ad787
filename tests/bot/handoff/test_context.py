"""The handoff context packet: transcript, summary, ranking, KB suggestions, masking, JSON."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.dialogue.events import (
    ActionExecuted,
    BotUttered,
    Event,
    KnowledgeBaseAnswered,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from bot.dialogue.tracker import Tracker
from bot.handoff.context import (
    ContextPacket,
    KBSuggestion,
    build_context,
    kb_suggester,
    mask_packet,
)
from bot.handoff.types import ChatLine, Reason
from bot.kb.service import KnowledgeBase
from bot.project.domain import Slot

MakeUser = Callable[..., UserUttered]
TEA = Path(__file__).parents[2] / "fixtures" / "kb" / "tea_faq.yml"
SLOTS = {
    "phone_number": Slot("phone_number", "text"),
    "drink": Slot("drink", "text"),
    "vip": Slot("vip", "bool", initial_value=False),
    "requested_slot": Slot("requested_slot", "any", influence_conversation=False),
    "_attempts": Slot("_attempts", "any"),
    "kb_last_entry": Slot("kb_last_entry", "any"),
}
RANKING = [
    ("ask_hours", 0.05),
    ("ask_bill", 0.41),
    ("change_plan", 0.2),
    ("greet", 0.01),
    ("nlu_fallback", 0.3),
    ("goodbye", 0.02),
    ("complain", 0.01),
]
TITLES = {"ask_bill": "查话费", "change_plan": "办套餐"}


def bot(text: str, **metadata: str) -> BotUttered:
    return BotUttered(text=text, metadata=dict(metadata))


def conversation(user: MakeUser) -> list[Event]:
    click = user("human", text="/human")
    click.metadata = {"display_text": "转人工"}
    return [
        ActionExecuted(name="action_session_start"),
        SessionStarted(),
        user("ask_bill", text="帮我查一下话费"),
        bot("好的，请提供您的手机号。"),
        user("inform", text="13812345678"),
        SlotSet(key="phone_number", value="13812345678"),
        SlotSet(key="requested_slot", value="phone_number"),
        SlotSet(key="_attempts", value=2),
        SlotSet(key="kb_last_entry", value="faq_points"),
        SlotSet(key="drink", value="奶茶"),
        user("ask_bill", text="话费多少"),
        user("change_plan", text="我想办套餐"),
        bot("请问您想办哪种套餐？", buttons="x"),
        user("nlu_fallback", text="那个宽带提速怎么收费的啊，我上个月花了128.50元"),
        KnowledgeBaseAnswered(outcome="clarify", query="那个宽带提速怎么收费的啊"),
        BotUttered(text="您是想问以下哪个问题？", data={"buttons": [{"title": "宽带资费"}]}),
        click,
        user("faq", text="转人工", ranking=RANKING),
        bot("正在为您转接人工客服，请稍候。", handoff_notice="1"),
        bot("您好，我是客服小王。", agent_id="a7"),
    ]


@pytest.fixture
def tracker(make_user: MakeUser) -> Tracker:
    return Tracker("c1", SLOTS, conversation(make_user))


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    (tmp_path / "kb").mkdir()
    shutil.copy(TEA, tmp_path / "kb" / "faq.yml")
    base = KnowledgeBase.open(tmp_path)
    yield base
    base.close()


def test_transcript_attributes_every_line(tracker: Tracker) -> None:
    lines = build_context(tracker, Reason.CUSTOMER_REQUEST).transcript
    assert [line.role for line in lines] == [
        *["user", "bot", "user", "user", "user", "bot", "user", "bot", "user", "user"],
        *["system", "agent"],
    ]
    assert lines[7].text == "您是想问以下哪个问题？ [选项：宽带资费]"
    assert lines[8].text == "转人工"  # the clicked button's title, not its payload
    assert lines[-1].agent_id == "a7" and lines[-2].agent_id is None
    assert lines[0].text == "帮我查一下话费"


def test_summary(tracker: Tracker) -> None:
    packet = build_context(tracker, Reason.CUSTOMER_REQUEST, intent_titles=TITLES)
    summary = packet.summary
    assert summary.intent_path == ["ask_bill", "inform", "ask_bill", "change_plan", "human", "faq"]
    assert summary.slots == {"phone_number": "13812345678", "drink": "奶茶"}
    assert summary.unanswered == "那个宽带提速怎么收费的啊，我上个月花了128.50元"
    assert packet.reason_text == "客户主动要求转人工"
    assert summary.text == (
        "客户先后咨询了：查话费 → inform → 查话费 → 办套餐 → human → faq；"
        "已提供手机号 13812345678、drink 奶茶；"
        "机器人未能回答：“那个宽带提速怎么收费的啊，我上个月花了128.50元”；"
        "转人工原因：客户主动要求转人工。"
    )


def test_summary_with_a_custom_request_detector_and_titles(tracker: Tracker) -> None:
    packet = build_context(
        tracker,
        Reason.FALLBACK,
        is_request=lambda text: False,
        slot_titles={"drink": "饮品"},
    )
    assert packet.summary.unanswered == "转人工"
    assert "饮品 奶茶" in packet.summary.text
    assert packet.summary.text.endswith("转人工原因：机器人两次未能理解。")


def test_intent_path_keeps_the_last_ten(make_user: MakeUser) -> None:
    events: list[Event] = [make_user(f"i{n}", text=f"问题{n}") for n in range(14)]
    tracker = Tracker("c1", SLOTS, events)
    path = build_context(tracker, Reason.RULE).summary.intent_path
    assert path == [f"i{n}" for n in range(4, 14)]


def test_ranking_is_the_top_five_of_the_latest_message(tracker: Tracker) -> None:
    ranking = build_context(tracker, Reason.CUSTOMER_REQUEST).nlu_ranking
    assert [r.name for r in ranking] == [
        "ask_bill",
        "nlu_fallback",
        "change_plan",
        "ask_hours",
        "goodbye",
    ]
    assert ranking[0].confidence == pytest.approx(0.41)


def test_transcript_spans_sessions_and_is_capped(make_user: MakeUser) -> None:
    events: list[Event] = [make_user("greet", text="上一次的会话"), Restarted(), SessionStarted()]
    for n in range(200):
        events += [make_user("ask", text=f"第{n}问"), bot(f"第{n}答")]
    tracker = Tracker("c1", SLOTS, events)
    lines = build_context(tracker, Reason.RULE).transcript
    assert len(lines) == 300
    assert lines[0].text == "第50问" and lines[-1].text == "第199答"
    short = Tracker("c2", SLOTS, events[:5])
    texts = [line.text for line in build_context(short, "rule").transcript]
    assert texts == ["上一次的会话", "第0问", "第0答"]  # the restart does not hide it


def test_kb_suggestions_for_the_unanswered_question(make_user: MakeUser, kb: KnowledgeBase) -> None:
    events: list[Event] = [
        make_user("nlu_fallback", text="会员积分怎么用？"),
        make_user("human", text="我要人工客服"),
    ]
    packet = build_context(Tracker("c1", SLOTS, events), "kb_clarify", suggest=kb_suggester(kb))
    best = packet.kb_suggestions[0]
    assert best.entry_id == "faq_points" and best.question == "会员积分怎么用？"
    assert best.answer.startswith("每消费1元积1分")
    assert 0 < len(packet.kb_suggestions) <= 3 and 0.0 <= best.score <= 1.0
    assert packet.reason_text == "知识库连续多次未能确定问题"


def test_no_suggestions_without_an_unanswered_question(make_user: MakeUser) -> None:
    asked: list[str] = []

    def suggest(query: str) -> list[KBSuggestion]:
        asked.append(query)
        return []

    tracker = Tracker("c1", SLOTS, [make_user("human", text="转人工")])
    packet = build_context(tracker, Reason.CUSTOMER_REQUEST, suggest=suggest)
    assert packet.summary.unanswered is None and asked == []
    assert "机器人未能回答" not in packet.summary.text


def test_round_trip_through_json(tracker: Tracker) -> None:
    packet = build_context(
        tracker,
        Reason.COMPLAINT,
        profile={"姓名": "张三", "手机号": "13812345678", "会员等级": "金卡", "备注": ""},
        suggest=lambda q: [KBSuggestion("faq_x", "问题", "答案", 0.72)],
    )
    assert packet.profile == {"姓名": "张三", "手机号": "13812345678", "会员等级": "金卡"}
    data = json.loads(json.dumps(packet.to_dict(), ensure_ascii=False))
    again = ContextPacket.from_dict(data)
    assert again == packet
    assert isinstance(again.transcript[0], ChatLine)
    assert data["nlu_ranking"][0] == {"name": "ask_bill", "confidence": 0.41}


def test_mask_packet_hides_pii_and_keeps_the_original(make_user: MakeUser) -> None:
    events: list[Event] = [
        make_user("inform", text="我的卡号是4111 1111 1111 1111，身份证后四位1234"),
        SlotSet(key="phone_number", value="13812345678"),
        SlotSet(key="id_tail", value="1234"),
        make_user("ask_refund", text="退款128.50元什么时候到？2026-11-23下的单"),
        bot("请问是尾号5678的手机13812345678吗？"),
    ]
    tracker = Tracker("c1", {**SLOTS, "id_tail": Slot("id_tail", "text")}, events)
    profile = {"姓名": "张三", "手机号": "+86 13812345678", "身份证": "110101199003071234"}
    packet = build_context(tracker, Reason.CUSTOMER_REQUEST, profile=profile)
    masked = mask_packet(packet)

    assert masked.profile == {
        "姓名": "张三",
        "手机号": "138****5678",
        "身份证": "110***********1234",
    }
    assert masked.summary.slots == {"phone_number": "138****5678", "id_tail": "****"}
    texts = [line.text for line in masked.transcript]
    assert texts == [
        "我的卡号是**** **** **** 1111，身份证后四位****",
        "退款128.50元什么时候到？2026-11-23下的单",
        "请问是尾号5678的手机138****5678吗？",
    ]
    assert "13812345678" not in masked.summary.text and "138****5678" in masked.summary.text
    assert "身份证后四位 ****" in masked.summary.text
    assert masked.summary.unanswered == "退款128.50元什么时候到？2026-11-23下的单"
    # the original is untouched
    assert packet.profile["手机号"] == "+86 13812345678"
    assert packet.summary.slots["id_tail"] == "1234"
    assert packet.transcript[0].text.startswith("我的卡号是4111 1111 1111 1111")
    assert "13812345678" in packet.summary.text
