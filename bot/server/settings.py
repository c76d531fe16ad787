"""Server settings: `endpoints.yml` / `credentials.yml` (Rasa key names), then `ZHIKE_*` variables.

Precedence (later wins): defaults < project files < environment < explicit overrides (CLI).

| setting | file key | environment |
|---|---|---|
| tracker store | `endpoints.yml: tracker_store` (Rasa) | `ZHIKE_TRACKER_STORE` (URL) |
| channels | `credentials.yml` top-level keys (`rest:`, `webchat:`) | `ZHIKE_CHANNELS=rest,webchat` |
| auth token | `credentials.yml: zhike: auth_token` | `ZHIKE_AUTH_TOKEN` |
| API tokens | `credentials.yml: zhike: api_tokens: [{token, role}]` | `ZHIKE_API_TOKENS=tok:role,…` |
| CORS origins | `credentials.yml: zhike: cors_origins: [...]` | `ZHIKE_CORS_ORIGINS=a,b` |
| everything else | `credentials.yml: zhike: <name>` | `ZHIKE_<NAME>` (see `_SCALARS`) |
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.errors import ZhikeError
from bot.project.yamlio import read_yaml
from bot.stores.factory import BACKENDS, DEFAULT_URL, sqlite_path, url_from_endpoint

ROLES = ("admin", "editor", "supervisor", "agent")
KNOWN_CHANNELS = ("rest", "webchat", "wechat", "wecom", "voice")
DEFAULT_CHANNELS = ("rest", "webchat")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("json", "text")


class SettingsError(ZhikeError):
    """One or more settings are invalid; every problem is listed (Chinese / English)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("服务配置有误 / invalid server settings:\n  • " + "\n  • ".join(problems))


@dataclass(frozen=True, slots=True)
class ApiToken:
    token: str
    role: str


@dataclass(slots=True)
class Settings:
    project: Path = field(default_factory=lambda: Path(".").resolve())
    models_dir: Path | None = None  # default: <project>/models
    model_file: Path | None = None  # default: the newest model in models_dir
    host: str = "127.0.0.1"
    port: int = 5005
    workers: int = 1
    # another process (a second `zhike run` on this host) uses the same tracker store: keep
    # cross-process conversation locks even with one worker
    shared_store: bool = False
    tracker_store: str = DEFAULT_URL
    auth_token: str | None = None
    api_tokens: tuple[ApiToken, ...] = ()
    cors_origins: tuple[str, ...] = ()
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    channel_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_body_bytes: int = 256 * 1024
    max_message_chars: int = 5_000
    model_poll_seconds: float = 2.0  # 0 disables watching models/ for newer models
    shutdown_timeout: float = 30.0
    # turns running in the engine at once (the rest wait their turn, first come first served):
    # on one core, interleaving turns only makes every turn wait behind the others' CPU;
    # a turn waits at most turn_queue_seconds for a slot (a turn stuck on a slow action
    # server never holds the others up for longer), then runs anyway. 0 = automatic: 1 turn
    # with in-process actions, REMOTE_ACTION_SLOTS with a remote action server (its calls
    # take network time during which other turns should use the CPU)
    turn_concurrency: int = 0
    turn_queue_seconds: float = 0.1
    train_on_start: bool = True
    log_level: str = "INFO"
    log_format: str = "json"
    # keys laid over endpoints.yml's `handoff:` section (tests, embedding); {"enabled": False}
    # runs the server without the human handoff
    handoff: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def models_path(self) -> Path:
        return self.models_dir or self.project / "models"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth_token or self.api_tokens)


# ------------------------------------------------------------------ parsing
def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    return int(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _list(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


def _path(value: Any) -> Path:
    return Path(str(value)).expanduser()


Parser = Callable[[Any], Any]
# setting name -> parser; the environment variable is ZHIKE_<NAME>, the file key is <name>
_SCALARS: dict[str, Parser] = {
    "project": _path,
    "models_dir": _path,
    "model_file": _path,
    "host": str,
    "port": _int,
    "workers": _int,
    "shared_store": _bool,
    "tracker_store": str,
    "auth_token": str,
    "cors_origins": _list,
    "channels": _list,
    "max_body_bytes": _int,
    "max_message_chars": _int,
    "model_poll_seconds": float,
    "shutdown_timeout": float,
    "turn_concurrency": _int,
    "turn_queue_seconds": float,
    "train_on_start": _bool,
    "log_level": lambda v: str(v).upper(),
    "log_format": lambda v: str(v).lower(),
}
_SPECIAL = ("api_tokens",)


def parse_api_tokens(value: Any) -> tuple[ApiToken, ...]:
    """`[{token, role}]` from YAML, or `token:role,token:role` from the environment."""
    if isinstance(value, str):
        pairs = [item.rsplit(":", 1) for item in _list(value)]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("expected token:role")
        return tuple(ApiToken(t.strip(), r.strip().lower()) for t, r in pairs)
    if not isinstance(value, list):
        raise ValueError("expected a list")
    out = []
    for item in value:
        if not isinstance(item, dict) or "token" not in item or "role" not in item:
            raise ValueError("each entry needs token and role")
        out.append(ApiToken(str(item["token"]), str(item["role"]).strip().lower()))
    return tuple(out)


def _read_mapping(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        doc = read_yaml(path)
    except ZhikeError as exc:
        problems.append(f"{path}: {exc}")
        return {}
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        problems.append(f"{path} 必须是映射 / {path} must be a mapping")
        return {}
    return {str(k): v for k, v in doc.items()}


def _apply(
    values: dict[str, Any], source: str, raw: Mapping[str, Any], problems: list[str]
) -> None:
    for name, value in raw.items():
        if name == "api_tokens":
            try:
                values["api_tokens"] = parse_api_tokens(value)
            except ValueError:
                problems.append(
                    f"{source} api_tokens 格式不正确，应为 [{{token, role}}] 或 token:role,… / "
                    f"{source} api_tokens must be [{{token, role}}] or token:role,…"
                )
            continue
        parser = _SCALARS.get(name)
        if parser is None or value is None:
            continue
        try:
            values[name] = parser(value)
        except (TypeError, ValueError):
            problems.append(f"{source} {name} 的值 {value!r} 无效 / invalid value for {name}")


def _from_files(project: Path, values: dict[str, Any], problems: list[str]) -> list[str]:
    warnings: list[str] = []
    endpoints = _read_mapping(project / "endpoints.yml", problems)
    if isinstance(endpoints.get("tracker_store"), dict):
        values["tracker_store"] = url_from_endpoint(endpoints["tracker_store"])
    credentials = _read_mapping(project / "credentials.yml", problems)
    zhike = credentials.get("zhike")
    if isinstance(zhike, dict):
        _apply(values, "credentials.yml zhike:", zhike, problems)
    sections = {k: v for k, v in credentials.items() if k != "zhike"}
    known = [k for k in sections if k in KNOWN_CHANNELS]
    if known:
        values["channels"] = tuple(known)
    values["channel_config"] = {k: dict(v or {}) for k, v in sections.items() if k in known}
    for name in sections:
        if name not in KNOWN_CHANNELS:
            warnings.append(
                f"credentials.yml 中的渠道 {name} 暂不支持，已忽略 / channel {name!r} in "
                "credentials.yml is not supported and is ignored"
            )
    return warnings


def _from_env(env: Mapping[str, str], values: dict[str, Any], problems: list[str]) -> None:
    raw: dict[str, Any] = {}
    for name in (*_SCALARS, *_SPECIAL):
        key = f"ZHIKE_{name.upper()}"
        if env.get(key, "").strip():
            raw[name] = env[key]
    _apply(values, "环境变量 / environment", raw, problems)


def load_settings(
    project: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings for `project` (default: `ZHIKE_PROJECT` or the current folder), validated."""
    env = os.environ if env is None else env
    problems: list[str] = []
    root = project or _path(env.get("ZHIKE_PROJECT") or ".")
    values: dict[str, Any] = {}
    warnings = _from_files(root.resolve(), values, problems)
    _from_env(env, values, problems)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values["project"] = (values.get("project") or root).resolve()
    names = {f.name for f in fields(Settings)}
    settings = Settings(**{k: v for k, v in values.items() if k in names})
    settings.warnings.extend(warnings)
    problems.extend(validate(settings))
    if problems:
        raise SettingsError(problems)
    return settings


# --------------------------------------------------------------- validation
def validate(s: Settings) -> list[str]:
    problems = _check_project(s) + _check_network(s) + _check_tokens(s) + _check_limits(s)
    problems += _check_store(s)
    unknown = [c for c in s.channels if c not in KNOWN_CHANNELS]
    if unknown:
        problems.append(
            f"未知渠道 {', '.join(unknown)}，可用：{', '.join(KNOWN_CHANNELS)} / unknown "
            f"channel(s) {', '.join(unknown)}; available: {', '.join(KNOWN_CHANNELS)}"
        )
    if s.log_level not in LOG_LEVELS or s.log_format not in LOG_FORMATS:
        problems.append(
            f"日志设置无效（级别 {LOG_LEVELS}，格式 {LOG_FORMATS}） / invalid log level or format"
        )
    return problems


def _check_project(s: Settings) -> list[str]:
    out = []
    has_domain = (s.project / "domain.yml").exists() or (s.project / "domain").is_dir()
    if not s.project.is_dir() or not has_domain:
        out.append(
            f"项目目录 {s.project} 不存在或缺少 domain.yml / project {s.project} does not "
            "exist or has no domain.yml"
        )
    if s.model_file is not None and not s.model_file.is_file():
        out.append(f"模型文件 {s.model_file} 不存在 / model file {s.model_file} does not exist")
    return out


def _check_network(s: Settings) -> list[str]:
    out = []
    if not 0 <= s.port <= 65535:
        out.append(f"端口 {s.port} 无效（0–65535） / port {s.port} is out of range (0-65535)")
    if s.workers < 1:
        out.append(f"进程数 {s.workers} 无效，至少为 1 / workers must be at least 1")
    if not s.host.strip():
        out.append("监听地址不能为空 / host must not be empty")
    for origin in s.cors_origins:
        if origin != "*" and urlsplit(origin).scheme not in ("http", "https"):
            out.append(
                f"CORS 来源 {origin} 无效，应为 * 或 http(s)://… / invalid CORS origin {origin!r}"
            )
    return out


def _check_tokens(s: Settings) -> list[str]:
    out = []
    for tok in s.api_tokens:
        if tok.role not in ROLES:
            out.append(
                f"API 令牌角色 {tok.role} 无效，可用：{', '.join(ROLES)} / invalid API token "
                f"role {tok.role!r}; roles: {', '.join(ROLES)}"
            )
        if len(tok.token) < 8:
            out.append("API 令牌至少需要 8 个字符 / API tokens need at least 8 characters")
    tokens = [t.token for t in s.api_tokens] + ([s.auth_token] if s.auth_token else [])
    if len(set(tokens)) != len(tokens):
        out.append("令牌重复配置 / the same token is configured twice")
    if s.auth_token is not None and not s.auth_token.strip():
        out.append("auth_token 不能为空 / auth_token must not be empty")
    return out


def _check_limits(s: Settings) -> list[str]:
    limits = {
        "max_body_bytes": s.max_body_bytes,
        "max_message_chars": s.max_message_chars,
        "shutdown_timeout": s.shutdown_timeout,
    }
    out = [f"{k} 必须大于 0 / {k} must be positive" for k, v in limits.items() if v <= 0]
    if s.turn_concurrency < 0:
        out.append("turn_concurrency 不能为负 / turn_concurrency must be >= 0 (0: automatic)")
    for name in ("model_poll_seconds", "turn_queue_seconds"):
        if getattr(s, name) < 0:
            out.append(f"{name} 不能为负 / {name} must be >= 0")
    return out


def _check_store(s: Settings) -> list[str]:
    url = urlsplit(s.tracker_store.strip())
    if url.scheme.lower() not in BACKENDS:
        return [f"无法识别的存储地址 {s.tracker_store} / unknown tracker store {s.tracker_store!r}"]
    if s.workers > 1 and not _shared_store(url.scheme.lower(), s):
        return [
            "多进程模式（--workers > 1）需要 SQLite 文件存储，内存存储无法在进程间共享 / "
            "--workers > 1 needs a file-backed SQLite store; memory stores are per process"
        ]
    return []


def _shared_store(scheme: str, s: Settings) -> bool:
    if scheme != "sqlite":
        return scheme not in ("memory",)
    try:
        return sqlite_path(urlsplit(s.tracker_store), s.project) is not None
    except ZhikeError:
        return False


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
