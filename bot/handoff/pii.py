"""Masking of Chinese personal data (PII) before a conversation is shown to an agent.

What `mask_text` finds in free text, and how each kind is shown:

- mainland mobile numbers (1[3-9]x, 11 digits; spaces/dashes and a +86 / 0086 / 86 prefix
  allowed): first 3 and last 4 digits kept, ``138****5678`` (the prefix is kept as written);
- landlines with an area code (010-12345678, (0755)1234567, 021 12345678): the area code and
  the last 4 digits kept, ``010-****5678``;
- ID card numbers (18 digits with a plausible birth date, trailing X allowed; 15-digit old
  ones): first 3 and last 4 kept, ``110***********123X``. The first 6 digits would name the
  customer's home district, so only the province prefix is shown; the last 4 are what agents
  ask customers to confirm (“身份证后四位”);
- bank card numbers: 16–19 digits passing the Luhn check, or any 16–19 digits written in
  groups of 4: only the last 4 kept, ``**** **** **** 1234``;
- e-mail addresses: the first character of the local part kept, ``z***@example.com``.

Amounts (128.50元), dates (2026-11-23), verification codes (6 digits), order numbers with
letters (DD20261123001) and numbers embedded in longer digit or letter runs are left alone.
Full-width digits are not recognised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

_EDGE_L = r"(?<![0-9A-Za-z])(?<!\d\.)"
_EDGE_R = r"(?![0-9A-Za-z])(?!\.\d)"
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"

_PATTERN = re.compile(
    "|".join(
        [
            r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})",
            _EDGE_L
            + r"(?P<id_card>[1-9]\d{5}(?:18|19|20)\d{2}"
            + _DATE
            + r"\d{3}[\dXx])"
            + _EDGE_R,
            _EDGE_L + r"(?P<id_old>[1-9]\d{7}" + _DATE + r"\d{3})" + _EDGE_R,
            _EDGE_L + r"(?P<card_grouped>\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?)" + _EDGE_R,
            _EDGE_L + r"(?P<card>\d{16,19})" + _EDGE_R,
            _EDGE_L
            + r"(?P<mobile_prefix>(?:\+86|0086|86)[\s-]?)?(?P<mobile>1[3-9]\d(?:[\s-]?\d{4}){2})"
            + _EDGE_R,
            _EDGE_L
            + r"(?P<landline>(?:\(0(?:10|2\d|[3-9]\d{2})\)|0(?:10|2\d|[3-9]\d{2})[\s-]?)"
            + r"[2-9]\d{6,7})"
            + _EDGE_R,
        ]
    )
)
_MIN_DIGITS = 6  # a value of a PII kind with fewer digits is not one ("无", "不方便")
_NON_DIGIT = re.compile(r"\D")
_AREA = re.compile(r"^\(?(0(?:10|2\d|[3-9]\d{2}))\)?[\s-]?")


def _digits(value: str) -> str:
    return _NON_DIGIT.sub("", value)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _keep(value: str, head: int, tail: int) -> str:
    """Keep `head` leading and `tail` trailing characters, star the rest; a value
    too short for that is starred whole."""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_phone(value: str) -> str:
    digits = _digits(value)
    if len(digits) < _MIN_DIGITS:
        return mask_text(value)
    if len(digits) > 11 and digits[-11] == "1":
        digits = digits[-11:]  # drop a country prefix
    return _keep(digits, 3, 4) if len(digits) == 11 else _keep(digits, 0, 4)


def mask_landline(value: str) -> str:
    if len(_digits(value)) < _MIN_DIGITS:
        return mask_text(value)
    match = _AREA.match(value.strip())
    if match is None:
        return _keep(_digits(value), 0, 4)
    return f"{match.group(1)}-{_keep(_digits(value.strip()[match.end() :]), 0, 4)}"


def mask_id_card(value: str) -> str:
    compact = re.sub(r"[\s-]", "", value).upper()
    if len(_digits(compact)) < _MIN_DIGITS:
        return mask_text(value)
    return _keep(compact, 3, 4)


def mask_id_tail(value: str) -> str:
    return "*" * len(value.strip())


def mask_bank_card(value: str) -> str:
    digits = _digits(value)
    return "**** **** **** " + digits[-4:] if len(digits) >= _MIN_DIGITS else mask_text(value)


def mask_email(value: str) -> str:
    local, at, domain = value.strip().partition("@")
    if not at:
        return mask_text(value)
    return f"{local[:1]}***@{domain}"


def _mask_card_text(value: str) -> str:
    return mask_bank_card(value) if luhn_valid(value) else value


_TEXT_MASKERS: dict[str, Callable[[str], str]] = {
    "email": mask_email,
    "id_card": mask_id_card,
    "id_old": mask_id_card,
    "card_grouped": mask_bank_card,
    "card": _mask_card_text,
    "mobile": mask_phone,
    "landline": mask_landline,
}


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup or ""
    if kind == "mobile":
        return (match.group("mobile_prefix") or "") + mask_phone(match.group("mobile"))
    return _TEXT_MASKERS[kind](match.group(kind))


def mask_text(text: str) -> str:
    """`text` with every phone number, ID card, bank card and e-mail address masked."""
    return _PATTERN.sub(_replace, text) if text else text


_VALUE_MASKERS: dict[str, Callable[[str], str]] = {
    "phone": mask_phone,
    "landline": mask_landline,
    "id_card": mask_id_card,
    "id_tail": mask_id_tail,
    "bank_card": mask_bank_card,
    "email": mask_email,
}

PII_KINDS = frozenset(_VALUE_MASKERS)


def mask_value(kind: str, value: str) -> str:
    """A value known to be of `kind` (phone, landline, id_card, id_tail, bank_card, email),
    masked whatever its format; an unknown kind falls back to `mask_text`."""
    masker = _VALUE_MASKERS.get(kind)
    return masker(value) if masker is not None and value else mask_text(value)


# exact slot names (and profile labels) -> kind
PII_SLOTS: Mapping[str, str] = {
    **dict.fromkeys(
        ["phone", "phone_number", "mobile", "mobile_number", "cellphone", "telephone", "tel"],
        "phone",
    ),
    **dict.fromkeys(["contact_phone", "手机", "手机号", "手机号码", "联系电话", "电话"], "phone"),
    **dict.fromkeys(["landline", "座机", "固定电话"], "landline"),
    **dict.fromkeys(["id_card", "id_number", "id_no", "idcard", "身份证", "身份证号"], "id_card"),
    **dict.fromkeys(["身份证号码", "证件号", "证件号码"], "id_card"),
    **dict.fromkeys(["id_tail", "id_last4", "id_card_tail", "身份证后四位"], "id_tail"),
    **dict.fromkeys(["bank_card", "bank_card_number", "card_number", "card_no"], "bank_card"),
    **dict.fromkeys(["bank_account", "银行卡", "银行卡号", "卡号"], "bank_card"),
    **dict.fromkeys(["email", "e_mail", "email_address", "邮箱", "电子邮箱"], "email"),
}

# fragments of other names, tried in order (the more specific first)
_FRAGMENTS: tuple[tuple[str, str], ...] = (
    ("id_tail", "id_tail"),
    ("_tail", "id_tail"),
    ("last4", "id_tail"),
    ("后四位", "id_tail"),
    ("id_card", "id_card"),
    ("idcard", "id_card"),
    ("身份证", "id_card"),
    ("landline", "landline"),
    ("座机", "landline"),
    ("phone", "phone"),
    ("mobile", "phone"),
    ("手机", "phone"),
    ("电话", "phone"),
    ("bank_card", "bank_card"),
    ("bankcard", "bank_card"),
    ("card_n", "bank_card"),
    ("银行卡", "bank_card"),
    ("email", "email"),
    ("邮箱", "email"),
)


def pii_kind(name: str) -> str | None:
    """The PII kind a slot name or profile label suggests, or None."""
    key = name.strip().lower()
    kind = PII_SLOTS.get(key)
    if kind is not None:
        return kind
    return next((k for fragment, k in _FRAGMENTS if fragment in key), None)


def mask_slot(name: str, value: str) -> str:
    """A slot (or profile) value masked by the kind its name suggests, else by its text."""
    kind = pii_kind(name)
    return mask_value(kind, value) if kind is not None else mask_text(value)
