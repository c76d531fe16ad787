"""The Official Account channel's settings: the `wechat:` section of credentials.yml.

```yaml
wechat:
  token: "…"               # 服务器配置 → 令牌(Token)
  app_id: "wx…"            # 开发者ID(AppID)
  app_secret: "…"          # 开发者密码(AppSecret)
  encoding_aes_key: "…"    # 消息加解密密钥 (43 characters); needed for compatible/safe mode
  mode: safe               # plain | compatible | safe (default: safe with a key, else plain)
  handoff: console         # console (our agent console) | wechat (transfer_customer_service)
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODES = ("plain", "compatible", "safe")
HANDOFF_MODES = ("console", "wechat")
REQUIRED = ("token", "app_id", "app_secret")
DEFAULT_API = "https://api.weixin.qq.com"


@dataclass(frozen=True, slots=True)
class OfficialConfig:
    token: str
    app_id: str
    app_secret: str
    encoding_aes_key: str = ""
    mode: str = "plain"
    api_base_url: str = DEFAULT_API
    handoff: str = "console"
    kf_account: str = ""  # transfer to this 客服 account (wechat handoff); "" = any
    # WeChat waits 5 s for a passive reply; a turn not finished by then is answered
    # "success" and its messages go out as 客服消息
    reply_deadline: float = 4.0
    max_clock_skew: float = 300.0  # seconds; older timestamps are replays
    subscribe_payload: str = "/greet"  # the turn a new follower starts ("" = none)

    @property
    def encrypted(self) -> bool:
        return self.mode in ("compatible", "safe")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> OfficialConfig:
        missing = [k for k in REQUIRED if not str(raw.get(k) or "").strip()]
        if missing:
            raise ValueError(
                f"缺少 {', '.join(missing)} / missing {', '.join(missing)} (see "
                "docs/channels/wechat.md)"
            )
        key = str(raw.get("encoding_aes_key") or "").strip()
        mode = str(raw.get("mode") or ("safe" if key else "plain")).strip().lower()
        handoff = str(raw.get("handoff") or "console").strip().lower()
        problems = []
        if mode not in MODES:
            problems.append(f"mode 应为 {'/'.join(MODES)} / mode must be one of {MODES}")
        if mode != "plain" and len(key) != 43:
            problems.append(
                "兼容/安全模式需要 43 位的 encoding_aes_key / compatible and safe modes need "
                "the 43-character encoding_aes_key"
            )
        if handoff not in HANDOFF_MODES:
            problems.append(
                f"handoff 应为 {'/'.join(HANDOFF_MODES)} / handoff must be one of {HANDOFF_MODES}"
            )
        deadline = _number(raw, "reply_deadline", 4.0, problems)
        if not 0 < deadline < 5:
            problems.append("reply_deadline 须在 0 到 5 秒之间 / reply_deadline must be in (0, 5)")
        skew = _number(raw, "max_clock_skew", 300.0, problems)
        if problems:
            raise ValueError("; ".join(problems))
        return cls(
            token=str(raw["token"]).strip(),
            app_id=str(raw["app_id"]).strip(),
            app_secret=str(raw["app_secret"]).strip(),
            encoding_aes_key=key,
            mode=mode,
            api_base_url=str(raw.get("api_base_url") or DEFAULT_API).rstrip("/"),
            handoff=handoff,
            kf_account=str(raw.get("kf_account") or ""),
            reply_deadline=deadline,
            max_clock_skew=skew,
            subscribe_payload=str(raw.get("subscribe_payload", "/greet") or ""),
        )


def _number(raw: Mapping[str, Any], name: str, default: float, problems: list[str]) -> float:
    try:
        return float(raw.get(name, default))
    except (TypeError, ValueError):
        problems.append(f"{name} 须为数字 / {name} must be a number")
        return default
