"""After-call notices: an H5 link sent to the caller by SMS or WeChat once the call is over.

A custom action queues a notice by appending ``{"channel": "sms" | "wechat", "text": …,
"url": …}`` (optionally ``"to"``) to the slot ``after_call_notices``. When the call ends the
channel calls `flush(engine, conversation_id, notifier)`: every queued notice is handed to the
`Notifier`, then the slot is cleared, so a later flush sends nothing twice. A notice whose
sending fails is logged with the reason and dropped (no retry queue beyond the notifier's own
retries).

The recipient is the notice's ``to``, else the slot ``phone_number``, else the ``caller`` of the
session metadata (what the phone channel puts there). Notifiers come from endpoints.yml:

```yaml
notify:
  type: http                 # log (default: one log line, nothing sent) | http
  url: https://sms-gateway.example.com/send
  token_env: ZHIKE_NOTIFY_TOKEN   # or token: "…"
  timeout: 5                 # seconds per attempt
  retries: 2                 # extra attempts on 5xx / 429 / timeouts
```
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.dialogue.events import SlotSet
from bot.errors import ZhikeError
from bot.handoff.pii import mask_phone, mask_text
from bot.project.yamlio import read_yaml
from bot.server.logging import conversation_context

if TYPE_CHECKING:
    from bot.dialogue.tracker import Tracker
    from bot.engine import Engine

log = logging.getLogger(__name__)

NOTICES_SLOT = "after_call_notices"
PHONE_SLOT = "phone_number"
METADATA_SLOT = "session_started_metadata"
CHANNELS = ("sms", "wechat")
TYPES = ("log", "http")
KEYS = frozenset({"type", "url", "token", "token_env", "timeout", "retries"})
_NUMBER = re.compile(r"\+?\d{5,15}")
_SEPARATORS = re.compile(r"[\s\-()]")


class NotifyError(ZhikeError):
    """A notice could not be delivered."""

    def __init__(self, zh: str, en: str, retryable: bool = False) -> None:
        self.zh, self.en, self.retryable = zh, en, retryable
        super().__init__(f"{zh} / {en}")


@dataclass(frozen=True, slots=True)
class Notice:
    to: str
    channel: str  # "sms" | "wechat"
    text: str
    url: str | None
    conversation_id: str


class Notifier(Protocol):
    async def send(self, notice: Notice) -> None: ...


def _masked(notice: Notice) -> dict[str, Any]:
    """The notice as it may appear in logs: recipient and text masked. (The conversation id
    comes from `conversation_context`: the log filter overwrites an extra of that name.)"""
    return {
        "to": mask_phone(notice.to),
        "notice_channel": notice.channel,
        "text": mask_text(notice.text),
        "url": notice.url,
    }


class LogNotifier:
    """The default: one structured log line per notice, nothing is sent."""

    async def send(self, notice: Notice) -> None:
        with conversation_context(notice.conversation_id):
            log.info("after-call notice (log only, not sent)", extra=_masked(notice))


class HttpGatewayNotifier:
    """POSTs each notice as JSON to an SMS / WeChat gateway (`Authorization: Bearer <token>`).

    5xx, 429, connection errors and timeouts are retried `retries` times with exponential
    backoff; any other 4xx fails at once. Failures raise `NotifyError`.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.url, self.timeout, self.retries, self.backoff = url, timeout, retries, backoff
        self._token = token

    def __repr__(self) -> str:  # never show the token
        return (
            f"HttpGatewayNotifier(url={self.url!r}, timeout={self.timeout}, retries={self.retries})"
        )

    async def send(self, notice: Notice) -> None:
        import aiohttp

        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            for attempt in range(self.retries + 1):
                try:
                    await self._post(session, notice)
                    return
                except NotifyError as exc:
                    if not exc.retryable or attempt == self.retries:
                        raise
                    delay = self.backoff * 2**attempt
                    log.warning(
                        "notify gateway: %s, retry %d/%d in %.2fs",
                        exc.en,
                        attempt + 1,
                        self.retries,
                        delay,
                        extra=_masked(notice),
                    )
                    await asyncio.sleep(delay)

    async def _post(self, session: Any, notice: Notice) -> None:
        import aiohttp

        try:
            async with session.post(self.url, json=asdict(notice)) as reply:
                if reply.status < 300:
                    return
                body = mask_text((await reply.text())[:200])
        except (TimeoutError, aiohttp.ClientError) as exc:
            detail = type(exc).__name__
            raise NotifyError(
                f"短信/微信网关无法访问（{detail}）", f"gateway unreachable ({detail})", True
            ) from None
        retryable = reply.status >= 500 or reply.status == 429
        raise NotifyError(
            f"短信/微信网关返回 HTTP {reply.status}",
            f"gateway answered HTTP {reply.status}: {body}",
            retryable,
        )


# ------------------------------------------------------------------ configuration
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _check_http(raw: Mapping[str, Any], env: Mapping[str, str], problems: list[str]) -> None:
    url = raw.get("url")
    if not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url):
        problems.append("notify.url 必须是 http(s) 地址 / notify.url must be an http(s) URL")
    if raw.get("token") is not None and raw.get("token_env") is not None:
        problems.append(
            "notify.token 与 notify.token_env 只能设置一个 / set notify.token or "
            "notify.token_env, not both"
        )
    name = raw.get("token_env")
    if name is not None and not (isinstance(name, str) and env.get(name, "").strip()):
        problems.append(
            f"环境变量 {name} 未设置（notify.token_env）/ environment variable {name} "
            "(notify.token_env) is not set"
        )


def _check(raw: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    problems = [
        f"notify 中有未知的键 {key} / unknown key notify.{key}" for key in raw if key not in KEYS
    ]
    kind = raw.get("type", "log")
    if kind not in TYPES:
        problems.append(
            f"notify.type 应为 {' 或 '.join(TYPES)}，而不是 {kind!r} / notify.type must be "
            f"{' or '.join(TYPES)}, not {kind!r}"
        )
    timeout = _number(raw.get("timeout", 5.0))
    if timeout is None or timeout <= 0:
        problems.append("notify.timeout 必须是正数（秒）/ notify.timeout must be > 0 seconds")
    retries = raw.get("retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        problems.append("notify.retries 必须是 0 到 10 的整数 / notify.retries must be 0-10")
    if kind == "http":
        _check_http(raw, env, problems)
    return problems


def notifier_from_config(
    raw: Mapping[str, Any] | None, env: Mapping[str, str] | None = None
) -> Notifier:
    """The notifier of endpoints.yml's `notify:` section (None → `LogNotifier`).

    Raises ValueError listing every problem (Chinese / English)."""
    if raw is None:
        return LogNotifier()
    if not isinstance(raw, Mapping):
        raise ValueError(
            "通知配置有误 / invalid notify settings:\n- notify 必须是映射 / "
            "notify must be a mapping"
        )
    env = os.environ if env is None else env
    problems = _check(raw, env)
    if problems:
        raise ValueError(
            "通知配置有误 / invalid notify settings:\n" + "\n".join(f"- {p}" for p in problems)
        )
    if raw.get("type", "log") == "log":
        return LogNotifier()
    name = raw.get("token_env")
    token = env[name].strip() if name else raw.get("token")
    return HttpGatewayNotifier(
        str(raw["url"]),
        token=str(token) if token is not None else None,
        timeout=float(raw.get("timeout", 5.0)),
        retries=int(raw.get("retries", 2)),
    )


def notifier_for_project(root: Path, env: Mapping[str, str] | None = None) -> Notifier:
    """The notifier configured in `<root>/endpoints.yml` (`LogNotifier` when there is none)."""
    path = root / "endpoints.yml"
    endpoints = read_yaml(path) if path.is_file() else None
    section = endpoints.get("notify") if isinstance(endpoints, Mapping) else None
    return notifier_from_config(section, env)


# ------------------------------------------------------------------ queued notices
def _recipient(tracker: Tracker) -> str | None:
    """The slot `phone_number`, else the session metadata's `caller`, when it is a number."""
    metadata = tracker.get_slot(METADATA_SLOT)
    caller = metadata.get("caller") if isinstance(metadata, Mapping) else None
    for candidate in (tracker.get_slot(PHONE_SLOT), caller):
        number = _SEPARATORS.sub("", str(candidate or ""))
        if _NUMBER.fullmatch(number):
            return number
    return None


def _notice(item: Any, default_to: str | None, conversation_id: str) -> Notice | None:
    if not isinstance(item, Mapping) or item.get("channel") not in CHANNELS:
        log.warning("after-call notice dropped: malformed %r", type(item).__name__)
        return None
    to = str(item.get("to") or default_to or "")
    if not to:
        log.warning(
            "after-call notice dropped: no recipient", extra={"notice_channel": item["channel"]}
        )
        return None
    url = item.get("url")
    return Notice(
        to=to,
        channel=str(item["channel"]),
        text=str(item.get("text") or ""),
        url=str(url) if url else None,
        conversation_id=conversation_id,
    )


def pending_notices(tracker: Tracker) -> list[Notice]:
    """The notices actions queued in the slot `after_call_notices` (malformed ones skipped)."""
    queued = tracker.get_slot(NOTICES_SLOT)
    if not isinstance(queued, list) or not queued:
        return []
    to = _recipient(tracker)
    notices = (_notice(item, to, tracker.sender_id) for item in queued)
    return [n for n in notices if n is not None]


async def flush(engine: Engine, conversation_id: str, notifier: Notifier) -> int:
    """Send the conversation's queued notices, then clear the slot; how many were sent.

    Never raises for a failed send: the notice is logged with the reason and dropped. Call
    it once the conversation's last turn has been saved (after hang-up)."""
    with conversation_context(conversation_id):
        tracker = await engine.load_tracker(conversation_id)
        if not tracker.get_slot(NOTICES_SLOT):
            return 0
        sent = 0
        for notice in pending_notices(tracker):
            sent += await _send(notifier, notice)
        await engine.inject(conversation_id, [SlotSet(key=NOTICES_SLOT, value=None)])
    return sent


async def _send(notifier: Notifier, notice: Notice) -> int:
    """1 when sent; 0 (logged with the reason) when not."""
    try:
        await notifier.send(notice)
    except Exception as exc:
        reason = exc.en if isinstance(exc, NotifyError) else repr(exc)
        log.error("after-call notice dropped: %s", reason, extra=_masked(notice))
        return 0
    return 1
