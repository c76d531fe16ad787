"""The `wecom:` section of credentials.yml (WeCom 微信客服), checked once at start-up.

```yaml
wecom:
  corp_id: ww0123456789abcdef          # 企业ID
  secret: …                            # 微信客服 Secret
  token: …                             # 回调 Token
  encoding_aes_key: …                  # 回调 EncodingAESKey (43 characters)
  open_kfid: wkAbCdEf…                 # the customer-service account the bot answers
  api_base_url: https://qyapi.weixin.qq.com
  handoff: console                     # console (our agent console) | wecom (WeCom's servicers)
  welcome: true                        # greet customers entering the session
  link_thumb_media_id: …               # optional: links sent as link cards with this thumbnail
  max_clock_skew: 300                  # seconds a callback's timestamp may differ from ours
  pull_interval: 0                     # seconds between periodic pulls (0: callbacks only)
  max_message_age: 172800              # older customer messages are not answered (48 h)
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REQUIRED = ("corp_id", "secret", "token", "encoding_aes_key", "open_kfid")
HANDOFF_MODES = ("console", "wecom")
DEFAULT_API = "https://qyapi.weixin.qq.com"


@dataclass(frozen=True)
class WeComConfig:
    corp_id: str
    secret: str
    token: str
    encoding_aes_key: str
    open_kfid: str
    api_base_url: str = DEFAULT_API
    handoff: str = "console"
    welcome: bool = True
    link_thumb_media_id: str | None = None
    max_clock_skew: float = 300.0
    pull_interval: float = 0.0
    # customer messages older than this are not answered (WeCom refuses replies after 48 h;
    # the first pull of a new deployment would otherwise answer up to 3 days of backlog)
    max_message_age: float = 48 * 3600.0

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> WeComConfig:
        """The settings in `m`; every problem is reported at once (ValueError, zh / en)."""
        problems: list[str] = []
        missing = [k for k in REQUIRED if not str(m.get(k) or "").strip()]
        if missing:
            problems.append(
                f"credentials.yml 的 wecom 部分缺少：{'、'.join(missing)} / "
                f"wecom: missing key(s) {', '.join(missing)}"
            )
        handoff = str(m.get("handoff") or "console").strip().lower()
        if handoff not in HANDOFF_MODES:
            problems.append(
                f"wecom.handoff 只能是 console 或 wecom，当前为 {handoff!r} / "
                f"wecom.handoff must be console or wecom, got {handoff!r}"
            )
        skew = _seconds(m, "max_clock_skew", 300.0, problems)
        interval = _seconds(m, "pull_interval", 0.0, problems)
        max_age = _seconds(m, "max_message_age", 48 * 3600.0, problems)
        welcome = m.get("welcome", True)
        if not isinstance(welcome, bool):
            problems.append(
                f"wecom.welcome 应为 true 或 false / wecom.welcome must be true/false, "
                f"got {welcome!r}"
            )
        if problems:
            raise ValueError("\n".join(problems))
        thumb = str(m.get("link_thumb_media_id") or "").strip() or None
        return cls(
            **{k: str(m[k]).strip() for k in REQUIRED},
            api_base_url=str(m.get("api_base_url") or DEFAULT_API).rstrip("/"),
            handoff=handoff,
            welcome=welcome,
            link_thumb_media_id=thumb,
            max_clock_skew=skew,
            pull_interval=interval,
            max_message_age=max_age,
        )


def _seconds(m: Mapping[str, Any], key: str, default: float, problems: list[str]) -> float:
    value = m.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        problems.append(
            f"wecom.{key} 应为不小于 0 的秒数 / wecom.{key} must be a number of seconds ≥ 0, "
            f"got {value!r}"
        )
        return default
    return float(value)
