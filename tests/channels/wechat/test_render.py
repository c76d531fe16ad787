from __future__ import annotations

import logging
import re

import pytest

from bot.dialogue.menus import keys, number_of
from bot.messages import Button, OutboundMessage
from channels.wechat.render import (
    ELLIPSIS,
    MENU_HINT,
    KfOut,
    Limits,
    Part,
    menu_lines,
    render_kf,
    render_oa,
    truncate,
    utf8_split,
)


def text(t: str) -> OutboundMessage:
    return OutboundMessage(kind="text", text=t)


def menu(t: str, *pairs: tuple[str, str]) -> OutboundMessage:
    return OutboundMessage(kind="buttons", text=t, buttons=[Button(a, b) for a, b in pairs])


def nbytes(s: str) -> int:
    return len(s.encode("utf-8"))


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


# --- utf8_split ----------------------------------------------------------------------------


def test_short_text_is_one_chunk() -> None:
    assert utf8_split("您好", 2048) == ["您好"]
    assert utf8_split("", 2048) == []
    assert utf8_split("  \n ", 2048) == []


def test_chinese_split_never_cuts_a_character() -> None:
    source = "话费账单" * 1000  # 12 000 bytes, no punctuation at all
    chunks = utf8_split(source, 2048)
    assert all(nbytes(c) <= 2048 for c in chunks)
    assert all(nbytes(c) % 3 == 0 for c in chunks)  # whole 3-byte characters only
    assert "".join(chunks) == source
    assert [nbytes(c) for c in utf8_split("中文字符", 10)] == [9, 3]


def test_four_byte_characters() -> None:
    assert utf8_split("😀😀😀", 5) == ["😀", "😀", "😀"]
    assert utf8_split("a😀", 4) == ["a", "😀"]
    with pytest.raises(ValueError):
        utf8_split("abc", 3)


def test_split_prefers_paragraphs_then_sentences() -> None:
    para = "第一段内容。" * 40  # 720 bytes
    chunks = utf8_split(f"{para}\n\n{para}\n\n{para}", 1500)
    assert chunks == [f"{para}\n\n{para}", para]
    sentences = "这是一个句子，里面有逗号。" * 100
    for chunk in utf8_split(sentences, 500):
        assert nbytes(chunk) <= 500
        assert chunk.endswith("。")
    assert squash("".join(utf8_split(sentences, 500))) == squash(sentences)


def test_split_does_not_cut_urls_at_colons() -> None:
    source = "请访问 https://www.example.com/a?b=1 查看" * 30
    for chunk in utf8_split(source, 200):
        assert "https:" not in chunk or "https://" in chunk


def test_truncate() -> None:
    assert truncate("短", 10) == "短"
    cut = truncate("一二三四五六七八九十", 16)
    assert cut.endswith(ELLIPSIS) and nbytes(cut) <= 16
    assert cut == "一二三" + ELLIPSIS  # the ellipsis itself takes 6 bytes


# --- render_oa -----------------------------------------------------------------------------


def test_consecutive_texts_merge() -> None:
    parts = render_oa([text("您好！"), text("请问有什么可以帮您？")])
    assert parts == [Part("text", text="您好！\n\n请问有什么可以帮您？")]


def test_merge_stops_at_the_byte_limit() -> None:
    ten = "一二三四五六七八九十"  # 30 bytes
    parts = render_oa([text(ten), text(ten), text(ten)], Limits(text_bytes=64))
    assert [p.text for p in parts] == [f"{ten}\n\n{ten}", ten]


def test_long_text_is_split_by_bytes() -> None:
    long = "您好，这里是知客客服。" * 300  # 9 900 bytes
    parts = render_oa([text(long)], Limits(max_parts=10))
    assert len(parts) == 5
    assert all(p.kind == "text" and nbytes(p.text) <= 2048 for p in parts)
    assert squash("".join(p.text for p in parts)) == squash(long)


def test_numbered_menu() -> None:
    (part,) = render_oa([menu("请问您要办理哪项业务？", ("查话费", "/bill"), ("办套餐", "/plan"))])
    assert part.text == f"请问您要办理哪项业务？\n\n{MENU_HINT}\n1. 查话费\n2. 办套餐"


def test_menu_numbers_are_what_the_engine_maps_back() -> None:
    buttons = [Button("查话费", "/bill"), Button("办套餐", "/plan"), Button("转人工", "/human")]
    (part,) = render_oa([OutboundMessage(kind="buttons", text="请选择", buttons=buttons)])
    lines = [line for line in part.text.splitlines() if re.match(r"^\d+\. ", line)]
    engine_keys = keys([{"title": b.title, "payload": b.payload} for b in buttons])
    for line, key, button in zip(lines, engine_keys, buttons, strict=True):
        assert number_of(line.split(".")[0]) == key
        assert line.endswith(button.title)
    assert engine_keys == [1, 2, 3]


def test_titles_with_their_own_numbers_keep_them() -> None:
    buttons = [("5 非常满意", '/rate{"n": 5}'), ("4 满意", '/rate{"n": 4}'), ("1 不满意", "/r1")]
    (part,) = render_oa([menu("请您评价", *buttons)])
    assert part.text.endswith(f"{MENU_HINT}\n5 非常满意\n4 满意\n1 不满意")
    assert menu_lines([Button("10元套餐", "/a"), Button("20元套餐", "/b")]) == [
        "1. 10元套餐",
        "2. 20元套餐",
    ]


def test_buttons_without_payload_are_not_numbered() -> None:
    (part,) = render_oa([menu("请选择", ("甲", "/a"), ("说明", ""), ("乙", "/b"))])
    assert part.text.endswith("1. 甲\n2. 乙")


def test_menu_without_text_and_empty_buttons() -> None:
    (part,) = render_oa([menu("", ("甲", "/a"))])
    assert part.text == f"{MENU_HINT}\n1. 甲"
    assert render_oa([OutboundMessage(kind="buttons", text="只有文字")]) == [
        Part("text", text="只有文字")
    ]


def test_links() -> None:
    parts = render_oa(
        [
            OutboundMessage(kind="link", text="账单详情", url="https://x.cn/b?m=3&u=1"),
            OutboundMessage(kind="link", url='https://x.cn/"q"'),
        ]
    )
    assert parts[0].text == (
        '<a href="https://x.cn/b?m=3&u=1">账单详情</a>\n\n'
        '<a href="https://x.cn/%22q%22">https://x.cn/"q"</a>'
    )


def test_kb_custom_link_is_a_link() -> None:
    custom = {"type": "link", "url": "https://kb.cn/1", "title": "办理指南"}
    parts = render_oa([OutboundMessage(kind="custom", metadata={"custom": custom})])
    assert parts == [Part("text", text='<a href="https://kb.cn/1">办理指南</a>')]


def test_images_are_news() -> None:
    parts = render_oa(
        [text("这是您的账单："), OutboundMessage(kind="image", url="https://x.cn/bill.png")]
    )
    assert parts == [
        Part("text", text="这是您的账单："),
        Part(
            "news",
            title="点击查看图片",
            url="https://x.cn/bill.png",
            pic_url="https://x.cn/bill.png",
        ),
    ]


@pytest.mark.parametrize("kind", ["handoff", "hangup", "custom", "unknown_kind"])
def test_non_visual_messages_are_skipped(kind: str) -> None:
    message = OutboundMessage(kind=kind, text="内部", metadata={"custom": {"x": 1}})
    assert render_oa([message]) == []
    assert render_kf([message]) == []


def test_control_characters_are_removed() -> None:
    assert render_oa([text("您好\x00\x07！\t\n再见")]) == [Part("text", text="您好！\t\n再见")]


def test_max_parts_folds_the_tail(caplog: pytest.LogCaptureFixture) -> None:
    images = [OutboundMessage(kind="image", url=f"https://x.cn/{i}.png") for i in range(7)]
    with caplog.at_level(logging.WARNING, logger="channels.wechat.render"):
        parts = render_oa(images)
    assert len(parts) == 5
    assert [p.kind for p in parts] == ["news"] * 4 + ["text"]
    for i in (4, 5, 6):
        assert f"https://x.cn/{i}.png" in parts[-1].text
    assert "folded" in caplog.text


def test_max_parts_truncates(caplog: pytest.LogCaptureFixture) -> None:
    long = "这是很长的一段说明。" * 60
    limits = Limits(text_bytes=200, max_parts=2)
    with caplog.at_level(logging.WARNING, logger="channels.wechat.render"):
        parts = render_oa([text(long)], limits)
    assert len(parts) == 2
    assert all(nbytes(p.text) <= 200 for p in parts)
    assert parts[-1].text.endswith(ELLIPSIS)
    assert "truncated" in caplog.text


def test_limits_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Limits().text_bytes = 1  # type: ignore[misc]


# --- render_kf -----------------------------------------------------------------------------


def test_kf_text_and_menu() -> None:
    outs = render_kf([text("您好"), menu("请选择业务：", ("查话费", "/bill"), ("办套餐", "/plan"))])
    assert outs == [
        KfOut("text", {"content": "您好"}),
        KfOut(
            "msgmenu",
            {
                "head_content": "请选择业务：",
                "list": [
                    {"type": "click", "click": {"id": "/bill", "content": "查话费"}},
                    {"type": "click", "click": {"id": "/plan", "content": "办套餐"}},
                ],
            },
        ),
    ]


def test_kf_menu_limits(caplog: pytest.LogCaptureFixture) -> None:
    long_payload = '/inform{"note": "' + "很" * 50 + '"}'  # > 128 bytes
    pairs = [(f"选项{i}", f"/opt{i}") for i in range(12)]
    pairs[0] = ("长标题" * 30, long_payload)  # 270-byte title
    with caplog.at_level(logging.WARNING, logger="channels.wechat.render"):
        (out,) = render_kf([menu("很长的开头" * 100, *pairs)])
    body = out.body
    assert out.msgtype == "msgmenu"
    assert len(body["list"]) == 10
    first = body["list"][0]["click"]
    assert nbytes(first["id"]) <= 128 and first["id"].startswith("长标题")
    assert nbytes(first["content"]) <= 128 and first["content"].endswith(ELLIPSIS)
    assert body["list"][1]["click"] == {"id": "/opt1", "content": "选项1"}
    assert nbytes(body["head_content"]) <= 1024
    assert "msgmenu keeps 10 of 12" in caplog.text


def test_kf_link_with_and_without_thumb() -> None:
    link = OutboundMessage(kind="link", text="账单详情", url="https://x.cn/b")
    assert render_kf([link]) == [KfOut("text", {"content": "账单详情：https://x.cn/b"})]
    assert render_kf([link], thumb_media_id="THUMB") == [
        KfOut(
            "link",
            {"title": "账单详情", "desc": "", "url": "https://x.cn/b", "thumb_media_id": "THUMB"},
        )
    ]
    image = OutboundMessage(kind="image", url="https://x.cn/p.png")
    assert render_kf([image]) == [KfOut("text", {"content": "点击查看图片：https://x.cn/p.png"})]


def test_kf_text_split_and_fold() -> None:
    long = "您好，这里是知客客服。" * 300
    outs = render_kf([text(long), menu("请选择", ("甲", "/a"), ("乙", "/b"))])
    assert len(outs) == 5
    assert all(o.msgtype == "text" for o in outs)
    assert all(nbytes(o.body["content"]) <= 2048 for o in outs)
    outs = render_kf(
        [text("一"), menu("请选择", ("甲", "/a")), text("二"), menu("再选", ("乙", "/b"))],
        Limits(max_parts=2),
    )
    assert outs[0].msgtype == "text"
    assert outs[1] == KfOut(
        "text", {"content": f"请选择\n\n{MENU_HINT}\n1. 甲\n\n二\n\n再选\n\n{MENU_HINT}\n1. 乙"}
    )
