"""Validation helpers for `voice.telephony.config`: a problem collector that reports every
mistake of a config section at once (Chinese / English), and host-name / IPv4 checks."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from typing import Any

_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


class Problems:
    """Collects "<section>.<key> …" problems (Chinese / English) for one ValueError."""

    def __init__(self, prefix: str, items: list[str] | None = None) -> None:
        self.prefix = prefix
        self.items: list[str] = [] if items is None else items

    def add(self, zh: str, en: str) -> None:
        self.items.append(f"{self.prefix}.{zh} / {self.prefix}.{en}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ValueError("; ".join(self.items))

    def unknown(self, raw: Mapping[str, Any], known: frozenset[str]) -> None:
        names = ", ".join(f"{self.prefix}.{k}" for k in sorted(set(map(str, raw)) - known))
        if names:
            self.items.append(f"未知配置项 {names} / unknown keys {names}")

    def section(self, name: str, value: Any) -> Problems | None:
        if not isinstance(value, Mapping):
            self.add(f"{name} 应为一个配置段", f"{name} must be a mapping")
            return None
        return Problems(f"{self.prefix}.{name}", self.items)

    def choice(
        self, raw: Mapping[str, Any], name: str, default: str, choices: tuple[str, ...]
    ) -> str:
        value = raw.get(name)
        if value in (None, ""):
            return default
        text = str(value).strip().lower()
        if text not in choices:
            self.add(
                f"{name} 应为 {' / '.join(choices)}", f"{name} must be one of {', '.join(choices)}"
            )
            return default
        return text

    def subset(
        self, raw: Mapping[str, Any], name: str, choices: tuple[str, ...]
    ) -> tuple[str, ...]:
        """A non-empty list drawn from `choices` (order kept, duplicates dropped)."""
        value = raw.get(name)
        if value is None:
            return choices
        items = value.split(",") if isinstance(value, str) else value
        texts = [str(v).strip().lower() for v in items] if isinstance(items, list | tuple) else []
        if not texts or any(t not in choices for t in texts):
            self.add(
                f"{name} 应为 {' / '.join(choices)} 中的一个或多个",
                f"{name} must be a non-empty list of {', '.join(choices)}",
            )
            return choices
        return tuple(dict.fromkeys(texts))

    def number(
        self,
        raw: Mapping[str, Any],
        name: str,
        default: float,
        *,
        whole: bool = False,
        zero: bool = False,
        low: float | None = None,
        high: float | None = None,
    ) -> float:
        """A positive number (`zero`: 0 allowed too; `low`/`high`: an inclusive range)."""
        value = raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            value = "?"
        try:
            number = float(value)
        except ValueError:
            self.add(f"{name} 须为数字", f"{name} must be a number")
            return default
        if whole and number != int(number):
            self.add(f"{name} 须为整数", f"{name} must be a whole number")
            return default
        if low is not None and high is not None and not low <= number <= high:
            self.add(
                f"{name} 须在 {low:g}–{high:g} 之间", f"{name} must be within {low:g}–{high:g}"
            )
            return default
        if number < 0 or (number == 0 and not zero):
            zh, en = (
                ("不能为负", "must not be negative") if zero else ("须大于 0", "must be positive")
            )
            self.add(f"{name} {zh}", f"{name} {en}")
            return default
        return number

    def uri(
        self, raw: Mapping[str, Any], name: str, bad: frozenset[str], label: str | None = None
    ) -> str | None:
        """A sip: / sips: URI without spaces, line breaks, quotes or angle brackets."""
        value = raw.get(name)
        if value in (None, ""):
            return None
        text = value.strip() if isinstance(value, str) else ""
        scheme, _, rest = text.partition(":")
        if scheme.lower() not in ("sip", "sips") or not rest or any(ch in bad for ch in text):
            label = label or name
            self.add(
                f"{label} 应为 sip: 或 sips: 开头的 URI，且不含空格、换行、引号或尖括号",
                f"{label} must be a sip: or sips: URI without spaces, line breaks, quotes or "
                "angle brackets",
            )
            return None
        return text


def hostname_ok(host: str) -> bool:
    if len(host) > 253:
        return False
    return all(_HOST_LABEL.match(label) for label in host.rstrip(".").split("."))


def ipv4_or_host(text: str) -> bool:
    """An IPv4 address (all-numeric names must be one) or an RFC 1123 host name."""
    if not text:
        return False
    if re.fullmatch(r"[\d.]+", text):
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            return False
        return True
    return hostname_ok(text)


def resolve_ipv4(host: str, name: str) -> str:
    """`host` as an IPv4 address (a host name is looked up); ValueError when it cannot be."""
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        raise ValueError(
            f"{name}：无法解析主机名 {host}（{exc}） / {name}: cannot resolve {host} ({exc})"
        ) from exc
    return str(infos[0][4][0])
