"""WeChat callback security: SHA-1 signatures, the replay window and AES message encryption.

Signatures are compared here with `hmac.compare_digest` before wechatpy is involved; the AES
part (random(16) + length + XML + receive id, PKCS#7 to 32 bytes, AES-256-CBC) is wechatpy's:
`wechatpy.crypto.WeChatCrypto` (公众号, receive id = AppID) and
`wechatpy.enterprise.crypto.WeChatCrypto` (企业微信, receive id = CorpID).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from typing import Any

from wechatpy.crypto import PrpCrypto as OfficialPrp
from wechatpy.crypto import WeChatCrypto as OfficialCrypto
from wechatpy.enterprise.crypto import PrpCrypto as WeComPrp
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

log = logging.getLogger(__name__)

_KEY = re.compile(r"[A-Za-z0-9+/]{43}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_BLOCK = 32  # WeChat pads with PKCS#7 to 32-byte blocks


class CryptoRejected(Exception):
    """A callback that fails the signature, replay or decryption checks."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code  # "bad_signature" | "stale_timestamp" | "decrypt_failed" | "missing_key"


def sha1_signature(*parts: str) -> str:
    """Hex SHA-1 of the parts sorted and joined (WeChat's callback signature)."""
    data = sorted(part.encode("utf-8") for part in parts)
    return hashlib.sha1(b"".join(data)).hexdigest()


def check_signature(expected: str, *parts: str) -> None:
    """Raise CryptoRejected("bad_signature") unless `expected` signs `parts`."""
    actual = sha1_signature(*parts).encode("ascii")
    if not expected or not hmac.compare_digest(expected.encode("utf-8"), actual):
        raise CryptoRejected("bad_signature")


def check_timestamp(timestamp: str, now: float, window: float = 300.0) -> None:
    """Raise CryptoRejected("stale_timestamp") unless `timestamp` is within `window` of `now`."""
    if not _TIMESTAMP.fullmatch(timestamp or ""):
        raise CryptoRejected("stale_timestamp", "timestamp is not an integer")
    if abs(now - int(timestamp)) > window:
        raise CryptoRejected("stale_timestamp", f"{timestamp} is outside ±{window:g}s")


def _check_key(encoding_aes_key: str) -> None:
    error = (
        "EncodingAESKey 无效：应为 43 位 Base64 字符（A-Z a-z 0-9 + /），请在公众平台/企业微信后台"
        "核对后重新填写 / invalid EncodingAESKey: expected 43 base64 characters"
    )
    if not isinstance(encoding_aes_key, str) or not _KEY.fullmatch(encoding_aes_key):
        raise ValueError(error)
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError(error) from exc
    if len(key) != 32:
        raise ValueError(error)


class MessageCrypto:
    """Encrypt/decrypt callback bodies for one 公众号 (AppID) or 企业微信 corp (CorpID)."""

    def __init__(
        self, token: str, encoding_aes_key: str, receive_id: str, *, wecom: bool = False
    ) -> None:
        if not token:
            raise ValueError("Token 不能为空 / the callback Token is empty")
        if not receive_id:
            raise ValueError("AppID/CorpID 不能为空 / the receive id (AppID or CorpID) is empty")
        _check_key(encoding_aes_key)
        self.token = token
        self.receive_id = receive_id
        self.wecom = wecom
        factory = WeComCrypto if wecom else OfficialCrypto
        self._crypto: Any = factory(token, encoding_aes_key, receive_id)
        self._prp: Any = (WeComPrp if wecom else OfficialPrp)(self._crypto.key)

    def decrypt(
        self, fields: Mapping[str, str], msg_signature: str, timestamp: str, nonce: str
    ) -> str:
        """The inner XML of an encrypted callback (`fields` from `parse_xml`)."""
        return self._open(fields.get("Encrypt", ""), msg_signature, timestamp, nonce)

    def decrypt_echo(self, echostr: str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """The plain echo string of a URL verification (企业微信 GET)."""
        return self._open(echostr, msg_signature, timestamp, nonce)

    def encrypt(self, reply_xml: str, nonce: str, timestamp: str) -> str:
        """The `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>` reply envelope."""
        return str(self._crypto.encrypt_message(reply_xml, nonce, timestamp))

    def _open(self, encrypted: str, msg_signature: str, timestamp: str, nonce: str) -> str:
        if not encrypted:
            raise CryptoRejected("decrypt_failed", "no ciphertext")
        check_signature(msg_signature, self.token, timestamp, nonce, encrypted)
        try:
            self._check_structure(encrypted)
            # A dict, so wechatpy does not parse XML itself; its own `!=` check passes by now.
            plain = self._crypto.decrypt_message(
                {"Encrypt": encrypted}, msg_signature, timestamp, nonce
            )
        except Exception as exc:  # wechatpy raises its own, binascii, struct, Unicode … errors
            log.warning("wechat decrypt failed: %s", type(exc).__name__)
            raise CryptoRejected("decrypt_failed", type(exc).__name__) from exc
        if not isinstance(plain, str) or not plain:
            raise CryptoRejected("decrypt_failed", "empty plaintext")
        return plain

    def _check_structure(self, encrypted: str) -> None:
        """Strict checks wechatpy skips: base64, whole blocks, PKCS#7 padding, exact length."""
        raw = base64.b64decode(encrypted, validate=True)
        if not raw or len(raw) % _BLOCK:
            raise ValueError("ciphertext is not a whole number of blocks")
        plain: bytes = self._prp.cipher.decrypt(raw)
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise ValueError("bad padding")
        body = plain[16:-pad]  # after the 16 random bytes
        size = int.from_bytes(body[:4], "big")
        if len(body) < 4 or body[4 + size :] != self.receive_id.encode("utf-8"):
            raise ValueError("length or receive id mismatch")
