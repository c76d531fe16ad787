"""The `voice: sip:` section of credentials.yml: where the SIP transport listens, how it
registers, which codecs it offers, where transfers go and whether calls are recorded.

`SipConfig.from_mapping` reports every problem at once (a `ValueError`, Chinese / English).
The baresip adapter takes its stack settings from `interface()`, `baresip_extra()`,
`account_domain()` and `account_params()`; the key names there are the ones the bundled
baresip (3.x, in baresip-python 0.5.2a3) parses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from voice.telephony._checks import Problems, ipv4_or_host, resolve_ipv4

TRANSPORTS = ("udp", "tcp")
CODECS = ("pcmu", "pcma")
DTMF_MODES = ("rtpevent", "info")
TRANSFER_MODES = ("refer", "bridge", "refer_then_bridge")
DEFAULT_RECORDINGS = Path(".zhike") / "recordings"
STUN_PORT = 3478
KNOWN_KEYS = frozenset(
    {
        "listen",
        "transports",
        "user",
        "domain",
        "registrar",
        "username",
        "password",
        "reg_interval",
        "public_address",
        "stun_server",
        "codecs",
        "dtmf",
        "jitter_ms",
        "rtp_ports",
        "rtp_timeout_s",
        "caller_header",
        "transfer",
        "recording",
    }
)
TRANSFER_KEYS = frozenset({"mode", "default", "groups", "header", "timeout_s"})
RECORDING_KEYS = frozenset({"enabled", "dir", "retention_days"})
_USER = re.compile(r"^[A-Za-z0-9._~!$&'()*+=%-]{1,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,63}$")
_URI_BAD = frozenset(' \t\r\n<>"\\')


@dataclass(frozen=True, slots=True)
class TransferConfig:
    mode: str = "refer_then_bridge"  # refer | bridge | refer_then_bridge
    default: str | None = None  # None: no telephony transfer (the console handoff only)
    groups: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    header: str = "X-Zhike-Handoff"  # in the Refer-To URI as ?X-Zhike-Handoff=<id>
    timeout_s: float = 30.0  # REFER / bridge answer wait

    def uri_for(self, group: str | None) -> str | None:
        """The agent queue for a skill group: its own URI, else `default`."""
        return (self.groups.get(group) if group else None) or self.default


@dataclass(frozen=True, slots=True)
class RecordingConfig:
    enabled: bool = False
    dir: Path = DEFAULT_RECORDINGS  # relative paths: against the project folder
    retention_days: float = 30.0

    def path(self, project: Path) -> Path:
        folder = self.dir.expanduser()
        return (folder if folder.is_absolute() else project / folder).absolute()


@dataclass(frozen=True, slots=True)
class SipConfig:
    host: str = "0.0.0.0"
    port: int = 5060
    transports: tuple[str, ...] = TRANSPORTS
    user: str = "ivr"
    domain: str | None = None  # registrar domain (default: the announced address)
    registrar: str | None = None  # set: we REGISTER; unset: trunk mode (IP authentication)
    username: str | None = None  # digest user when it differs from `user`
    password: str = field(default="", repr=False)
    reg_interval: int = 600
    public_address: str | None = None  # must be an address of this host (see interface())
    stun_server: str | None = None  # "host[:port]": media NAT discovery (see account_params())
    codecs: tuple[str, ...] = CODECS
    dtmf: str = "rtpevent"  # how we send keys; both ways are received
    jitter_ms: int = 60
    rtp_ports: tuple[int, int] = (10000, 20000)
    rtp_timeout_s: int = 30
    caller_header: str = "P-Asserted-Identity"
    transfer: TransferConfig = field(default_factory=TransferConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)

    @property
    def listen(self) -> str:
        return f"{self.host}:{self.port}"

    def baresip_extra(self) -> str:
        """Raw baresip config lines (`Config.extra_config_text`): listen address, transports,
        IPv4 only, RTP port range and a fixed jitter buffer of `jitter_ms` playout delay."""
        host = self.host if self.host == "0.0.0.0" else resolve_ipv4(self.host, "sip.listen")
        low, high = self.rtp_ports
        late = self.jitter_ms + max(self.jitter_ms, 100)  # later than this: dropped
        lines = (
            f"sip_listen {host}:{self.port}",
            f"sip_transports {','.join(self.transports)}",
            "net_af ipv4",
            f"rtp_ports {low}-{high}",
            "audio_jitter_buffer_type fixed",
            f"audio_jitter_buffer_ms {self.jitter_ms}-{late}",
            f"audio_jitter_buffer_size {max(50, late // 10)}",
        )
        return "\n".join(lines) + "\n"

    def interface(self) -> str | None:
        """`Config.net_interface`: the address baresip binds to and announces in Contact and
        SDP. `public_address` when set — it must belong to this host, because baresip has no
        separate "advertised address" (behind NAT use `stun_server`, or let the PBX / SBC face
        the carrier) — else the listen host, else None (all addresses, loopback excluded)."""
        if self.public_address:
            address = resolve_ipv4(self.public_address, "sip.public_address")
            if not _is_local(address):
                raise ValueError(
                    f"sip.public_address {address} 不是本机地址：baresip 只能公布本机网卡上的地址，"
                    "NAT 之后请删除此项并配置 stun_server，或由 PBX / SBC 对接运营商 / "
                    f"sip.public_address {address} is not an address of this host: baresip can "
                    "only announce a local address; behind NAT remove it and set stun_server, "
                    "or let the PBX / SBC face the carrier"
                )
            return address
        if self.host != "0.0.0.0":
            return resolve_ipv4(self.host, "sip.listen")
        return None

    def account_domain(self) -> str:
        """The domain of our address of record (`sip:user@domain`, From of outbound calls)."""
        if self.domain:
            return self.domain
        host = self.public_address or (self.host if self.host != "0.0.0.0" else _default_ip())
        return host if self.port == 5060 else f"{host}:{self.port}"

    def account_params(self) -> tuple[str, ...]:
        """`Account.extra_params`: STUN media NAT traversal when `stun_server` is set (the
        public RTP address and port go into SDP; SIP signalling relies on rport / the PBX)."""
        if not self.stun_server:
            return ()
        server = self.stun_server.removeprefix("stun:")
        if ":" not in server:
            server = f"{server}:{STUN_PORT}"
        return ("medianat=stun", f"stunserver=stun:{server}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> SipConfig:
        """Every problem is reported at once (a `ValueError`, Chinese / English)."""
        if raw is not None and not isinstance(raw, Mapping):
            raise ValueError("sip 应为一个配置段 / sip must be a mapping")
        raw = raw or {}
        p = Problems("sip")
        p.unknown(raw, KNOWN_KEYS)
        host, port = _listen(raw.get("listen", "0.0.0.0:5060"), p)
        public = _optional_host(raw, "public_address", p)
        if public and host != "0.0.0.0" and public != host:
            p.add(
                "public_address 与 listen 的地址不同：listen 使用具体地址时二者须一致",
                "public_address differs from the listen address: with a specific listen "
                "address both must be the same",
            )
        config = cls(
            host=host,
            port=port,
            transports=p.subset(raw, "transports", TRANSPORTS),
            user=_user(raw, "user", "ivr", p) or "ivr",
            domain=_domain(raw, p),
            registrar=p.uri(raw, "registrar", _URI_BAD),
            username=_user(raw, "username", None, p),
            password=_password(raw, p),
            reg_interval=int(p.number(raw, "reg_interval", 600, whole=True, zero=True)),
            public_address=public,
            stun_server=_stun(raw, p),
            codecs=p.subset(raw, "codecs", CODECS),
            dtmf=p.choice(raw, "dtmf", "rtpevent", DTMF_MODES),
            jitter_ms=int(p.number(raw, "jitter_ms", 60, whole=True, low=20, high=500)),
            rtp_ports=_rtp_ports(raw, port, p),
            rtp_timeout_s=int(p.number(raw, "rtp_timeout_s", 30, whole=True, zero=True)),
            caller_header=_token(raw, "caller_header", "P-Asserted-Identity", p),
            transfer=_transfer(raw.get("transfer"), p),
            recording=_recording(raw.get("recording"), p),
        )
        p.raise_if_any()
        return config


# ---------------------------------------------------------------- field parsers
def _listen(value: Any, p: Problems) -> tuple[str, int]:
    text = str(value).strip() if isinstance(value, str) else ""
    host, _, port_text = text.rpartition(":")
    port = int(port_text) if port_text.isdigit() else 0
    if not host or not ipv4_or_host(host):
        p.add(
            'listen 应形如 "0.0.0.0:5060"（IPv4 地址或主机名加端口）',
            'listen must look like "0.0.0.0:5060" (an IPv4 address or host name and a port)',
        )
        return "0.0.0.0", 5060
    if not 1 <= port <= 65535:
        p.add("listen 的端口须在 1–65535 之间", "the listen port must be within 1–65535")
        return host, 5060
    return host, port


def _optional_host(raw: Mapping[str, Any], name: str, p: Problems) -> str | None:
    value = raw.get(name)
    if value in (None, ""):
        return None
    text = str(value).strip() if isinstance(value, str) else ""
    if not ipv4_or_host(text):
        p.add(f"{name} 应为 IPv4 地址或主机名", f"{name} must be an IPv4 address or host name")
        return None
    return text


def _domain(raw: Mapping[str, Any], p: Problems) -> str | None:
    value = raw.get("domain")
    if value in (None, ""):
        return None
    text = str(value).strip() if isinstance(value, str) else ""
    host, _, port = text.partition(":")
    if not ipv4_or_host(host) or (port and not (port.isdigit() and 1 <= int(port) <= 65535)):
        p.add(
            "domain 应为主机名或 IPv4 地址（可带端口）",
            "domain must be a host name or IPv4 address (optionally with a port)",
        )
        return None
    return text


def _user(raw: Mapping[str, Any], name: str, default: str | None, p: Problems) -> str | None:
    value = raw.get(name)
    if value in (None, ""):
        return default
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    if not _USER.match(text):
        p.add(
            f"{name} 只能包含字母、数字和 ._~-+ 等字符（不能有空格、@、: 或 ;）",
            f"{name} may only contain letters, digits and ._~-+ (no spaces, @, : or ;)",
        )
        return default
    return text


def _password(raw: Mapping[str, Any], p: Problems) -> str:
    value = raw.get("password")
    if value in (None, ""):
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        p.add("password 须为字符串", "password must be a string")
        return ""
    text = str(value)
    if any(ch in text for ch in '"\\') or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        p.add(
            "password 不能包含双引号、反斜杠或控制字符",
            "password must not contain double quotes, backslashes or control characters",
        )
        return ""
    return text


def _stun(raw: Mapping[str, Any], p: Problems) -> str | None:
    value = raw.get("stun_server")
    if value in (None, ""):
        return None
    text = str(value).strip() if isinstance(value, str) else ""
    host, _, port = text.removeprefix("stun:").partition(":")
    if not ipv4_or_host(host) or (port and not (port.isdigit() and 1 <= int(port) <= 65535)):
        p.add(
            'stun_server 应形如 "stun.example.com:3478"',
            'stun_server must look like "stun.example.com:3478"',
        )
        return None
    return text


def _rtp_ports(raw: Mapping[str, Any], sip_port: int, p: Problems) -> tuple[int, int]:
    default = (10000, 20000)
    value = raw.get("rtp_ports")
    if value in (None, ""):
        return default
    match = re.fullmatch(
        r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", value if isinstance(value, str) else ""
    )
    low, high = (int(match[1]), int(match[2])) if match else (0, 0)
    if not match or not 1 <= low < high <= 65535:
        p.add(
            'rtp_ports 应形如 "10000-20000"（1–65535，起点小于终点）',
            'rtp_ports must look like "10000-20000" (1–65535, start below end)',
        )
        return default
    if low % 2:
        p.add("rtp_ports 的起始端口须为偶数", "rtp_ports must start at an even port")
    if high - low + 1 < 4:
        p.add("rtp_ports 至少需要 4 个端口", "rtp_ports needs at least 4 ports")
    if low <= sip_port <= high:
        p.add("rtp_ports 不能包含 SIP 端口", "rtp_ports must not contain the SIP port")
    return low, high


def _token(raw: Mapping[str, Any], name: str, default: str, p: Problems) -> str:
    value = raw.get(name)
    if value in (None, ""):
        return default
    text = str(value).strip() if isinstance(value, str) else ""
    if not _TOKEN.match(text):
        p.add(
            f"{name} 应为合法的 SIP 头名称（RFC 7230 token，最长 63 个字符）",
            f"{name} must be a valid SIP header name (an RFC 7230 token, at most 63 characters)",
        )
        return default
    return text


def _transfer(value: Any, parent: Problems) -> TransferConfig:
    if value is None:
        return TransferConfig()
    p = parent.section("transfer", value)
    if p is None:
        return TransferConfig()
    p.unknown(value, TRANSFER_KEYS)
    header = _token(value, "header", "X-Zhike-Handoff", p)
    if not header.lower().startswith("x-"):
        p.add("header 须以 X- 开头", "header must start with X-")
    return TransferConfig(
        mode=p.choice(value, "mode", "refer_then_bridge", TRANSFER_MODES),
        default=p.uri(value, "default", _URI_BAD),
        groups=MappingProxyType(_groups(value.get("groups"), p)),
        header=header,
        timeout_s=p.number(value, "timeout_s", 30.0),
    )


def _groups(value: Any, p: Problems) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        p.add("groups 应为「技能组: sip:URI」的映射", "groups must map skill groups to sip: URIs")
        return {}
    groups: dict[str, str] = {}
    for name, uri in value.items():
        key = str(name).strip()
        checked = p.uri({key: uri}, key, _URI_BAD, label=f"groups.{key}") if key else None
        if not key:
            p.add("groups 中的技能组名称不能为空", "groups: a skill group name must not be empty")
        elif checked:
            groups[key] = checked
    return groups


def _recording(value: Any, parent: Problems) -> RecordingConfig:
    if value is None:
        return RecordingConfig()
    p = parent.section("recording", value)
    if p is None:
        return RecordingConfig()
    p.unknown(value, RECORDING_KEYS)
    enabled = value.get("enabled", False)
    if not isinstance(enabled, bool):
        p.add("enabled 须为 true 或 false", "enabled must be true or false")
    folder = value.get("dir", str(DEFAULT_RECORDINGS))
    if not isinstance(folder, str) or not folder.strip():
        p.add("dir 须为非空路径", "dir must be a non-empty path")
        folder = str(DEFAULT_RECORDINGS)
    return RecordingConfig(
        enabled=enabled is True,
        dir=Path(folder.strip()),
        retention_days=p.number(value, "retention_days", 30.0),
    )


# ---------------------------------------------------------------- environment
def _is_local(address: str) -> bool:
    """Whether `address` is assigned to this host (a socket can bind to it)."""
    if ipaddress.IPv4Address(address).is_unspecified:
        return False
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


def _default_ip() -> str:
    """The source address of the default route (no packet is sent), else 127.0.0.1."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
