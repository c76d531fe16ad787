from __future__ import annotations

import pytest

from bot.handoff.detect import (
    DEFAULT,
    GONG,
    HOMOPHONE_SYLLABLES,
    REN,
    ZHUAN,
    HumanRequestDetector,
    fold,
    homophones,
)

REQUESTS = [
    "转人工",
    "人工客服",
    "人工服务",
    "找客服",
    "真人客服",
    "找个人工",
    "我要人工",
    "接人工",
    "转接人工",
    "有没有活人",
    "人工台",
    "客服小姐姐在吗",
    "让人来处理",
    "人工!!!",
    "人工！！！",
    "轉人工",
    "請幫我轉接人工客服",
    "转仁工",
    "专人工",
    "赚人工",
    "转人宫",
    "人攻客服",
    "zhuan ren gong",
    "rengong",
    "rg",
    "RG",
    "ＲＧ",
    "转~人~工",
    "人工 人工 人工",
    "请帮我转一下人工，谢谢",
    "机器人听不懂，转人工吧",
    "我要投诉，给我转人工！",
    "我不要机器人，我要人工",
    "要不转人工吧",
    "我想跟真人说话",
    "有人工吗",
    "能不能让工作人员联系我",
    "叫你们客服出来",
    "人工在哪",
    "给我接通人工",
    "请人工帮我处理",
]

NOT_REQUESTS = [
    "不用转人工",
    "不要人工",
    "不需要人工客服了",
    "先不转人工，我再试试",
    "转人工就不用了",
    "人工智能",
    "人工智慧",
    "人工费多少",
    "上门安装要收人工费吗",
    "你是真人吗",
    "你是不是真人",
    "现在是人工客服吗",
    "人工成本",
    "客服电话是多少",
    "人工客服的电话是多少",
    "人工客服几点上班",
    "刚才人工客服告诉我能退",
    "我想办个人工商户的宽带",
    "我的个人工资卡能绑定话费吗",
    "我想转个人公积金",
    "真让人来气",
    "找个人来修宽带",
    "有人吗",
    "帮我查下话费",
    "流量还剩多少",
    "宽带坏了",
    "我想携号转网",
    "你们机器人真笨",
    "请客服帮我查一下话费",
    "给我客服电话",
]


@pytest.mark.parametrize("text", REQUESTS)
def test_requests_for_a_human_match(text: str) -> None:
    assert DEFAULT.matches(text), text
    assert DEFAULT.cue(text)


@pytest.mark.parametrize("text", NOT_REQUESTS)
def test_negations_and_other_words_do_not_match(text: str) -> None:
    assert not DEFAULT.matches(text), (text, DEFAULT.cue(text))
    assert DEFAULT.cue(text) is None


def test_cue_is_the_matched_phrase() -> None:
    assert DEFAULT.cue("你好，请帮我转接人工客服。") == "转接人工客服"
    assert DEFAULT.cue("轉仁工") == "转仁工"
    assert DEFAULT.cue("wo yao zhuan ren gong") == "zhuanrengong"


@pytest.mark.parametrize("channel", ["voice", "phone", "sip", "VOICE"])
@pytest.mark.parametrize("text", ["0", "0#", " 0 ", "零"])
def test_key_zero_is_a_request_on_voice_channels_only(text: str, channel: str) -> None:
    assert DEFAULT.matches(text, channel=channel)
    assert not DEFAULT.matches(text)
    assert not DEFAULT.matches(text, channel="rest")


def test_other_keys_are_not_requests_on_voice() -> None:
    for text in ("1", "10086", "00", "按1查话费"):
        assert not DEFAULT.matches(text, channel="voice"), text


def test_extra_phrases_are_matched_and_negated_like_the_rest() -> None:
    detector = HumanRequestDetector(extra=["找小二", "ＶＩＰ专线"])
    assert detector.matches("快帮我找小二")
    assert detector.cue("VIP专线!") == "vip专线"
    assert not detector.matches("不用找小二了")
    assert detector.matches("转人工")
    assert not DEFAULT.matches("快帮我找小二")


def test_empty_and_blank_texts() -> None:
    assert not DEFAULT.matches("")
    assert not DEFAULT.matches("   ")
    assert not DEFAULT.matches("！！！")


def test_fold() -> None:
    assert fold("轉 人 工！！ 好嗎？") == "转人工|好吗|"
    assert fold("ＲＧ") == "rg"


def test_homophone_tables_are_current_with_pypinyin() -> None:
    assert homophones(HOMOPHONE_SYLLABLES["zhuan"]) == ZHUAN
    assert homophones(HOMOPHONE_SYLLABLES["ren"]) == REN
    assert homophones(HOMOPHONE_SYLLABLES["gong"]) == GONG
    assert {"转", "赚", "专"} <= set(ZHUAN) and {"人", "仁"} <= set(REN) and "宫" in GONG
