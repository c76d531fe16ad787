from __future__ import annotations

import base64
import hashlib

import pytest
from wechatpy.crypto import PrpCrypto as OfficialPrp
from wechatpy.crypto import WeChatCrypto as OfficialCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.utils import WeChatSigner

from channels.wechat.crypto import (
    CryptoRejected,
    MessageCrypto,
    check_signature,
    check_timestamp,
    sha1_signature,
)
from channels.wechat.xmlmsg import parse_message, parse_xml
from tests.channels.wechat import samples

TOKEN = samples.TOKEN
KEY = samples.AES_KEY
OTHER_KEY = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")
TS = "1700000000"
NONCE = "n0nce"
INNER = samples.oa_text("你好，查话费 ]]> & <x>", msg_id="777")


def code_of(exc: pytest.ExceptionInfo[CryptoRejected]) -> str:
    return exc.value.code


# --- signatures and the replay window ------------------------------------------------------


def test_sha1_signature_is_sorted_and_joined() -> None:
    expected = hashlib.sha1("".join(sorted([TOKEN, TS, NONCE])).encode()).hexdigest()
    assert sha1_signature(TOKEN, TS, NONCE) == expected
    assert sha1_signature(NONCE, TOKEN, TS) == expected
    signer = WeChatSigner()
    signer.add_data(TOKEN, TS, NONCE, "密文")
    assert sha1_signature(TOKEN, TS, NONCE, "密文") == signer.signature


def test_check_signature() -> None:
    check_signature(sha1_signature(TOKEN, TS, NONCE), TOKEN, TS, NONCE)
    for wrong in ["", "0" * 40, sha1_signature(TOKEN, TS, "other"), "签名", "A" * 400]:
        with pytest.raises(CryptoRejected) as info:
            check_signature(wrong, TOKEN, TS, NONCE)
        assert code_of(info) == "bad_signature"


@pytest.mark.parametrize("timestamp", ["1700000000", "1700000300", "1699999700"])
def test_timestamp_within_window(timestamp: str) -> None:
    check_timestamp(timestamp, now=1_700_000_000.0)


@pytest.mark.parametrize(
    "timestamp", ["1700000301", "1699999699", "0", "", "abc", " 1700000000", "-1", "1e9", "1_700"]
)
def test_stale_or_malformed_timestamp(timestamp: str) -> None:
    with pytest.raises(CryptoRejected) as info:
        check_timestamp(timestamp, now=1_700_000_000.0)
    assert code_of(info) == "stale_timestamp"


def test_custom_window() -> None:
    check_timestamp("100", now=150.0, window=60)
    with pytest.raises(CryptoRejected):
        check_timestamp("100", now=161.0, window=60)


# --- key validation ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "short", KEY + "A", KEY[:-1] + "!", KEY[:-1] + "="])
def test_bad_key_is_a_clear_value_error(key: str) -> None:
    with pytest.raises(ValueError, match="EncodingAESKey"):
        MessageCrypto(TOKEN, key, samples.APP_ID)


def test_empty_token_or_receive_id() -> None:
    with pytest.raises(ValueError):
        MessageCrypto("", KEY, samples.APP_ID)
    with pytest.raises(ValueError):
        MessageCrypto(TOKEN, KEY, "")


# --- real round trips with wechatpy --------------------------------------------------------

CASES = [
    pytest.param(False, samples.APP_ID, OfficialCrypto, id="official"),
    pytest.param(True, samples.CORP_ID, WeComCrypto, id="wecom"),
]


@pytest.mark.parametrize(("wecom", "receive_id", "theirs"), CASES)
def test_wechatpy_encrypts_we_decrypt(wecom: bool, receive_id: str, theirs: type) -> None:
    envelope = theirs(TOKEN, KEY, receive_id).encrypt_message(INNER, NONCE, TS)
    fields = parse_xml(envelope)
    ours = MessageCrypto(TOKEN, KEY, receive_id, wecom=wecom)
    assert ours.decrypt(fields, fields["MsgSignature"], TS, NONCE) == INNER


@pytest.mark.parametrize(("wecom", "receive_id", "theirs"), CASES)
def test_we_encrypt_wechatpy_decrypts(wecom: bool, receive_id: str, theirs: type) -> None:
    envelope = MessageCrypto(TOKEN, KEY, receive_id, wecom=wecom).encrypt(INNER, NONCE, TS)
    fields = parse_xml(envelope)
    assert fields["TimeStamp"] == TS and fields["Nonce"] == NONCE
    assert fields["MsgSignature"] == sha1_signature(TOKEN, TS, NONCE, fields["Encrypt"])
    plain = theirs(TOKEN, KEY, receive_id).decrypt_message(
        envelope, fields["MsgSignature"], TS, NONCE
    )
    assert plain == INNER


def test_official_request_as_wechat_sends_it() -> None:
    request = samples.oa_encrypted(INNER, timestamp=TS)
    crypto = MessageCrypto(TOKEN, KEY, samples.APP_ID)
    check_signature(request.query["signature"], TOKEN, TS, request.query["nonce"])
    inner = crypto.decrypt(
        parse_xml(request.body), request.query["msg_signature"], TS, request.query["nonce"]
    )
    message = parse_message(inner)
    assert (message.kind, message.msg_id, message.content) == (
        "text",
        "777",
        "你好，查话费 ]]> & <x>",
    )


def test_wecom_callback_and_url_check() -> None:
    inner = samples.kf_msg_or_event(token="T1", open_kfid="wk1")
    request = samples.wecom_encrypted(inner, timestamp=TS, agent_id="")
    crypto = MessageCrypto(TOKEN, KEY, samples.CORP_ID, wecom=True)
    query = request.query
    plain = crypto.decrypt(parse_xml(request.body), query["msg_signature"], TS, query["nonce"])
    assert parse_message(plain).open_kfid == "wk1"
    verify = samples.wecom_verify("8245521", timestamp=TS).query
    echo = crypto.decrypt_echo(verify["echostr"], verify["msg_signature"], TS, verify["nonce"])
    assert echo == "8245521"


# --- rejections ----------------------------------------------------------------------------


def official_fields(receive_id: str = samples.APP_ID, key: str = KEY) -> dict[str, str]:
    return parse_xml(OfficialCrypto(TOKEN, key, receive_id).encrypt_message(INNER, NONCE, TS))


def decrypt_code(
    crypto: MessageCrypto, fields: dict[str, str], signature: str | None = None
) -> str:
    sig = (
        signature if signature is not None else sha1_signature(TOKEN, TS, NONCE, fields["Encrypt"])
    )
    with pytest.raises(CryptoRejected) as info:
        crypto.decrypt(fields, sig, TS, NONCE)
    return code_of(info)


def test_wrong_signature() -> None:
    fields = official_fields()
    crypto = MessageCrypto(TOKEN, KEY, samples.APP_ID)
    assert decrypt_code(crypto, fields, signature=fields["MsgSignature"][::-1]) == "bad_signature"
    other_token = MessageCrypto("another_token", KEY, samples.APP_ID)
    assert decrypt_code(other_token, fields, signature=fields["MsgSignature"]) == "bad_signature"


def test_wrong_key() -> None:
    crypto = MessageCrypto(TOKEN, OTHER_KEY, samples.APP_ID)
    assert decrypt_code(crypto, official_fields()) == "decrypt_failed"


def test_wrong_app_id() -> None:
    crypto = MessageCrypto(TOKEN, KEY, "wx0000000000000000")
    assert decrypt_code(crypto, official_fields()) == "decrypt_failed"


def test_wrong_corp_id_and_product() -> None:
    envelope = WeComCrypto(TOKEN, KEY, samples.CORP_ID).encrypt_message(INNER, NONCE, TS)
    fields = parse_xml(envelope)
    wrong_corp = MessageCrypto(TOKEN, KEY, "ww0000000000000000", wecom=True)
    assert decrypt_code(wrong_corp, fields) == "decrypt_failed"
    official = MessageCrypto(TOKEN, KEY, samples.APP_ID)
    assert decrypt_code(official, fields) == "decrypt_failed"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-8] + ("A" if c[-8] != "A" else "B") + c[-7:],  # last block (receive id)
        lambda c: c[:-24],  # truncated: not a whole AES block
        lambda c: c[:40],  # truncated further
        lambda c: "!!!" + c[3:],  # not base64
        lambda c: base64.b64encode(b"\x00" * 32).decode(),  # valid base64, garbage plaintext
        lambda c: base64.b64encode(b"\x10" * 16).decode(),  # one block: padding eats it all
    ],
)
def test_corrupted_ciphertext(mangle: object) -> None:
    fields = official_fields()
    assert callable(mangle)
    fields["Encrypt"] = mangle(fields["Encrypt"])
    crypto = MessageCrypto(TOKEN, KEY, samples.APP_ID)
    assert decrypt_code(crypto, fields) == "decrypt_failed"


def test_missing_ciphertext() -> None:
    crypto = MessageCrypto(TOKEN, KEY, samples.APP_ID)
    with pytest.raises(CryptoRejected) as info:
        crypto.decrypt({"ToUserName": "gh"}, sha1_signature(TOKEN, TS, NONCE, ""), TS, NONCE)
    assert code_of(info) == "decrypt_failed"


def test_stale_request_is_caught_by_the_window() -> None:
    request = samples.oa_encrypted(INNER, timestamp="1600000000")
    with pytest.raises(CryptoRejected) as info:
        check_timestamp(request.query["timestamp"], now=1_700_000_000.0)
    assert code_of(info) == "stale_timestamp"


def test_echo_with_wrong_signature() -> None:
    verify = samples.wecom_verify("123", timestamp=TS).query
    crypto = MessageCrypto(TOKEN, KEY, samples.CORP_ID, wecom=True)
    with pytest.raises(CryptoRejected) as info:
        crypto.decrypt_echo(verify["echostr"], "0" * 40, TS, NONCE)
    assert code_of(info) == "bad_signature"


def craft(xml: bytes, receive_id: bytes, padding: bytes, size: int | None = None) -> str:
    """Ciphertext with the right key but a hand-made plaintext layout."""
    length = (len(xml) if size is None else size).to_bytes(4, "big")
    plain = b"0123456789abcdef" + length + xml + receive_id + padding
    prp = OfficialPrp(base64.b64decode(KEY + "="))
    return base64.b64encode(prp.cipher.encrypt(plain)).decode()


def pad_for(n: int, byte: int | None = None) -> bytes:
    count = 32 - n % 32
    return bytes([count if byte is None else byte]) * count


XML = b"<xml><Content>hi</Content></xml>"
APP = samples.APP_ID.encode()
BASE = 16 + 4 + len(XML) + len(APP)


def test_crafted_well_formed_plaintext_decrypts() -> None:
    encrypted = craft(XML, APP, pad_for(BASE))
    crypto = MessageCrypto(TOKEN, KEY, samples.APP_ID)
    signature = sha1_signature(TOKEN, TS, NONCE, encrypted)
    assert crypto.decrypt({"Encrypt": encrypted}, signature, TS, NONCE) == XML.decode()


@pytest.mark.parametrize(
    "encrypted",
    [
        craft(XML, APP, pad_for(BASE, byte=0)),  # padding byte 0
        craft(XML, APP, pad_for(BASE)[:-1] + b"\x05"),  # last byte disagrees with the rest
        craft(XML, APP, b"\x01" * (pad_for(BASE)[0] - 1) + pad_for(BASE)[:1]),  # 01 01 … 1a
        craft(XML + b"\x00" * 8, APP, pad_for(BASE + 8, byte=40)),  # padding > block size
        craft(XML, APP, pad_for(BASE), size=len(XML) - 2),  # length field too short
        craft(XML, APP + b"x", pad_for(BASE + 1)),  # receive id with trailing bytes
    ],
)
def test_bad_padding_or_layout(encrypted: str) -> None:
    crypto = MessageCrypto(TOKEN, KEY, samples.APP_ID)
    signature = sha1_signature(TOKEN, TS, NONCE, encrypted)
    with pytest.raises(CryptoRejected) as info:
        crypto.decrypt({"Encrypt": encrypted}, signature, TS, NONCE)
    assert code_of(info) == "decrypt_failed"


def test_padding_check_goes_beyond_wechatpy() -> None:
    """wechatpy reads only the last padding byte; inconsistent padding must still fail here."""
    tail = pad_for(BASE)  # the right length, but only the last byte is right
    encrypted = craft(XML, APP, b"\x00" * (len(tail) - 1) + tail[-1:])
    theirs = OfficialCrypto(TOKEN, KEY, samples.APP_ID)
    signature = sha1_signature(TOKEN, TS, NONCE, encrypted)
    assert theirs.decrypt_message({"Encrypt": encrypted}, signature, TS, NONCE) == XML.decode()
    ours = MessageCrypto(TOKEN, KEY, samples.APP_ID)
    with pytest.raises(CryptoRejected):
        ours.decrypt({"Encrypt": encrypted}, signature, TS, NONCE)


def test_tampered_ciphertext_with_the_original_signature() -> None:
    fields = official_fields()
    signature = fields["MsgSignature"]
    cipher = fields["Encrypt"]
    fields["Encrypt"] = cipher[:10] + ("A" if cipher[10] != "A" else "B") + cipher[11:]
    crypto = MessageCrypto(TOKEN, KEY, samples.APP_ID)
    assert decrypt_code(crypto, fields, signature=signature) == "bad_signature"
