from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from voice.telephony.config import RecordingConfig, SipConfig, TransferConfig

FULL: dict[str, Any] = {
    "listen": "127.0.0.1:5070",
    "transports": ["tcp", "udp"],
    "user": "ivr",
    "domain": "pbx.example.com:5080",
    "registrar": "sip:pbx.example.com:5060",
    "username": 1001,
    "password": "s3cret; with spaces",
    "reg_interval": 300,
    "public_address": "127.0.0.1",
    "stun_server": "stun.example.com",
    "codecs": ["pcma", "pcmu"],
    "dtmf": "INFO",
    "jitter_ms": 80,
    "rtp_ports": "30000-30100",
    "rtp_timeout_s": 0,
    "caller_header": "X-Caller",
    "transfer": {
        "mode": "refer",
        "default": "sip:queue@pbx.example.com",
        "groups": {"账务组": "sip:billing@pbx.example.com;transport=tcp"},
        "header": "X-Handoff-Id",
        "timeout_s": 12.5,
    },
    "recording": {"enabled": True, "dir": "rec", "retention_days": 7},
}


def problems(raw: Any) -> str:
    with pytest.raises(ValueError) as info:
        SipConfig.from_mapping(raw)
    return str(info.value)


def test_defaults_match_the_contract() -> None:
    c = SipConfig.from_mapping(None)
    assert c == SipConfig.from_mapping({})
    assert (c.host, c.port, c.listen) == ("0.0.0.0", 5060, "0.0.0.0:5060")
    assert c.transports == ("udp", "tcp") and c.codecs == ("pcmu", "pcma")
    assert (c.user, c.domain, c.registrar, c.username, c.password) == ("ivr", None, None, None, "")
    assert (c.reg_interval, c.dtmf, c.jitter_ms, c.rtp_ports) == (
        600,
        "rtpevent",
        60,
        (10000, 20000),
    )
    assert (c.rtp_timeout_s, c.caller_header, c.public_address) == (30, "P-Asserted-Identity", None)
    assert c.transfer == TransferConfig()
    assert c.transfer.mode == "refer_then_bridge" and c.transfer.header == "X-Zhike-Handoff"
    assert c.transfer.default is None and dict(c.transfer.groups) == {}
    assert c.transfer.timeout_s == 30.0
    assert c.recording == RecordingConfig(False, Path(".zhike/recordings"), 30.0)


def test_every_key_is_read() -> None:
    c = SipConfig.from_mapping(FULL)
    assert (c.host, c.port) == ("127.0.0.1", 5070)
    assert c.transports == ("tcp", "udp") and c.codecs == ("pcma", "pcmu")
    assert c.domain == "pbx.example.com:5080" and c.registrar == "sip:pbx.example.com:5060"
    assert c.username == "1001" and c.password == "s3cret; with spaces"
    assert (c.reg_interval, c.dtmf, c.jitter_ms) == (300, "info", 80)
    assert c.rtp_ports == (30000, 30100) and c.rtp_timeout_s == 0
    assert c.caller_header == "X-Caller" and c.stun_server == "stun.example.com"
    t = c.transfer
    assert (t.mode, t.default, t.header, t.timeout_s) == (
        "refer",
        "sip:queue@pbx.example.com",
        "X-Handoff-Id",
        12.5,
    )
    assert dict(t.groups) == {"账务组": "sip:billing@pbx.example.com;transport=tcp"}
    assert c.recording == RecordingConfig(True, Path("rec"), 7.0)


def test_password_never_in_repr() -> None:
    c = SipConfig.from_mapping(FULL)
    assert "s3cret" not in repr(c) and "s3cret" not in str(c)
    assert "password" not in repr(c)


def test_strings_and_comma_lists_are_accepted() -> None:
    c = SipConfig.from_mapping({"transports": "udp", "codecs": "pcma, PCMU, pcma"})
    assert c.transports == ("udp",) and c.codecs == ("pcma", "pcmu")
    assert SipConfig.from_mapping({"listen": "localhost:5062"}).host == "localhost"
    assert SipConfig.from_mapping({"reg_interval": None}).reg_interval == 600


@pytest.mark.parametrize(
    ("raw", "zh", "en"),
    [
        ({"listen": "5060"}, "sip.listen 应形如", "sip.listen must look like"),
        ({"listen": "[::]:5060"}, "sip.listen 应形如", "must look like"),
        ({"listen": "300.1.1.1:5060"}, "sip.listen 应形如", "IPv4 address or host name"),
        ({"listen": "bad_host!:5060"}, "sip.listen 应形如", "must look like"),
        ({"listen": "0.0.0.0:0"}, "端口须在 1–65535", "port must be within 1–65535"),
        ({"listen": "0.0.0.0:70000"}, "端口须在 1–65535", "port must be within 1–65535"),
        ({"transports": []}, "sip.transports 应为 udp / tcp", "non-empty list of udp, tcp"),
        ({"transports": ["udp", "tls"]}, "sip.transports", "non-empty list of udp, tcp"),
        ({"codecs": ["g729"]}, "sip.codecs 应为 pcmu / pcma", "non-empty list of pcmu, pcma"),
        ({"codecs": []}, "sip.codecs", "non-empty list"),
        ({"dtmf": "inband"}, "sip.dtmf 应为 rtpevent / info", "one of rtpevent, info"),
        ({"jitter_ms": 19}, "sip.jitter_ms 须在 20–500 之间", "within 20–500"),
        ({"jitter_ms": 501}, "sip.jitter_ms 须在 20–500 之间", "within 20–500"),
        ({"jitter_ms": 60.5}, "sip.jitter_ms 须为整数", "must be a whole number"),
        ({"jitter_ms": "soon"}, "sip.jitter_ms 须为数字", "must be a number"),
        ({"jitter_ms": True}, "sip.jitter_ms 须为数字", "must be a number"),
        ({"rtp_ports": "10001-20000"}, "起始端口须为偶数", "must start at an even port"),
        ({"rtp_ports": "20000-10000"}, 'rtp_ports 应形如 "10000-20000"', "start below end"),
        ({"rtp_ports": "10000-10002"}, "至少需要 4 个端口", "needs at least 4 ports"),
        ({"rtp_ports": "10000"}, "sip.rtp_ports 应形如", "must look like"),
        ({"rtp_ports": [10000, 20000]}, "sip.rtp_ports 应形如", "must look like"),
        ({"rtp_ports": "5000-6000"}, "不能包含 SIP 端口", "must not contain the SIP port"),
        ({"rtp_timeout_s": -1}, "sip.rtp_timeout_s 不能为负", "must not be negative"),
        ({"reg_interval": -5}, "sip.reg_interval 不能为负", "must not be negative"),
        ({"registrar": "pbx.example.com"}, "sip.registrar 应为 sip: 或 sips:", "sip: or sips: URI"),
        ({"registrar": "sip:pbx example.com"}, "sip.registrar", "without spaces"),
        ({"registrar": "sip:pbx\r\nVia: x"}, "sip.registrar", "line breaks"),
        ({"registrar": "<sip:pbx.example.com>"}, "sip.registrar", "angle brackets"),
        ({"registrar": "sip:"}, "sip.registrar", "sip: or sips: URI"),
        ({"user": "ivr@pbx"}, "sip.user 只能包含", "may only contain"),
        ({"username": "a b"}, "sip.username 只能包含", "no spaces"),
        ({"password": 'quo"te'}, "sip.password 不能包含双引号", "must not contain double quotes"),
        ({"domain": "pbx.example.com:99999"}, "sip.domain 应为主机名", "optionally with a port"),
        ({"public_address": "1.2.3"}, "sip.public_address 应为 IPv4", "IPv4 address or host"),
        ({"stun_server": "stun:"}, "sip.stun_server 应形如", "must look like"),
        ({"caller_header": "Bad Header"}, "sip.caller_header 应为合法的 SIP 头名称", "RFC 7230"),
        ({"transfer": "refer"}, "sip.transfer 应为一个配置段", "sip.transfer must be a mapping"),
        ({"transfer": {"mode": "blind"}}, "sip.transfer.mode 应为 refer / bridge", "one of refer"),
        ({"transfer": {"default": "tel:+8610086"}}, "sip.transfer.default 应为 sip:", "URI"),
        ({"transfer": {"default": "sip:q@pbx>"}}, "sip.transfer.default", "angle brackets"),
        ({"transfer": {"header": "Handoff"}}, "sip.transfer.header 须以 X- 开头", "start with X-"),
        ({"transfer": {"header": "X-Bad:Header"}}, "sip.transfer.header 应为合法", "RFC 7230"),
        ({"transfer": {"timeout_s": 0}}, "sip.transfer.timeout_s 须大于 0", "must be positive"),
        ({"transfer": {"groups": ["a"]}}, "sip.transfer.groups 应为", "map skill groups"),
        ({"transfer": {"groups": {"a": "queue"}}}, "sip.transfer.groups.a 应为 sip:", "sip: or"),
        ({"transfer": {"groups": {" ": "sip:a@b"}}}, "技能组名称不能为空", "must not be empty"),
        ({"recording": {"enabled": "yes"}}, "sip.recording.enabled 须为 true", "true or false"),
        ({"recording": {"dir": ""}}, "sip.recording.dir 须为非空路径", "non-empty path"),
        ({"recording": {"retention_days": 0}}, "retention_days 须大于 0", "must be positive"),
        ({"recording": {"retention_days": -3}}, "retention_days 须大于 0", "must be positive"),
        ({"recording": []}, "sip.recording 应为一个配置段", "must be a mapping"),
    ],
)
def test_bad_values_are_reported(raw: dict[str, Any], zh: str, en: str) -> None:
    message = problems(raw)
    assert zh in message and en in message


def test_public_address_must_match_a_specific_listen_host() -> None:
    message = problems({"listen": "127.0.0.1:5060", "public_address": "127.0.0.2"})
    assert "public_address 与 listen 的地址不同" in message and "must be the same" in message
    ok = SipConfig.from_mapping({"listen": "0.0.0.0:5060", "public_address": "127.0.0.2"})
    assert ok.public_address == "127.0.0.2"


def test_unknown_keys_are_reported_at_every_level() -> None:
    message = problems({"lisen": "x", "transfer": {"mod": 1}, "recording": {"days": 1}})
    assert "未知配置项 sip.lisen" in message and "unknown keys sip.lisen" in message
    assert "sip.transfer.mod" in message and "sip.recording.days" in message


def test_every_problem_is_reported_at_once() -> None:
    message = problems({"listen": "x", "codecs": ["g729"], "jitter_ms": 5, "dtmf": "no"})
    assert message.count("; ") == 3
    for name in ("sip.listen", "sip.codecs", "sip.jitter_ms", "sip.dtmf"):
        assert name in message
    assert " / " in message and "must" in message and "应" in message


def test_not_a_mapping() -> None:
    assert "sip must be a mapping" in problems(["listen"])


def test_transfer_uri_for_group_falls_back_to_default() -> None:
    t = SipConfig.from_mapping(FULL).transfer
    assert t.uri_for("账务组") == "sip:billing@pbx.example.com;transport=tcp"
    assert t.uri_for("专家组") == "sip:queue@pbx.example.com"
    assert t.uri_for(None) == "sip:queue@pbx.example.com"
    assert TransferConfig().uri_for("账务组") is None
    with pytest.raises(TypeError):
        t.groups["x"] = "sip:y@z"  # type: ignore[index]


def test_recording_path_is_absolute(tmp_path: Path) -> None:
    assert RecordingConfig(dir=Path("rec")).path(tmp_path) == tmp_path / "rec"
    assert RecordingConfig(dir=tmp_path / "abs").path(Path("/elsewhere")) == tmp_path / "abs"
    assert RecordingConfig().path(tmp_path) == tmp_path / ".zhike" / "recordings"


def test_baresip_extra_renders_the_stack_keys() -> None:
    c = SipConfig.from_mapping(FULL)
    lines = c.baresip_extra().splitlines()
    assert lines == [
        "sip_listen 127.0.0.1:5070",
        "sip_transports tcp,udp",
        "net_af ipv4",
        "rtp_ports 30000-30100",
        "audio_jitter_buffer_type fixed",
        "audio_jitter_buffer_ms 80-180",
        "audio_jitter_buffer_size 50",
    ]
    big = SipConfig.from_mapping({"jitter_ms": 500, "transports": ["udp"]}).baresip_extra()
    assert "audio_jitter_buffer_ms 500-1000\n" in big and "audio_jitter_buffer_size 100\n" in big
    assert "sip_listen 0.0.0.0:5060\n" in big and "sip_transports udp\n" in big


def test_baresip_extra_resolves_a_host_name() -> None:
    c = SipConfig.from_mapping({"listen": "localhost:5062"})
    assert "sip_listen 127.0.0.1:5062\n" in c.baresip_extra()
    assert c.interface() == "127.0.0.1"


def test_unresolvable_host_is_a_clear_error() -> None:
    c = SipConfig.from_mapping({"listen": "no-such-host.invalid:5060"})
    with pytest.raises(ValueError, match=r"无法解析主机名 .* cannot resolve no-such-host\.invalid"):
        c.baresip_extra()


def test_interface_prefers_a_local_public_address() -> None:
    assert SipConfig().interface() is None
    assert SipConfig.from_mapping({"listen": "127.0.0.1:5060"}).interface() == "127.0.0.1"
    c = SipConfig.from_mapping({"public_address": "127.0.0.1"})
    assert c.interface() == "127.0.0.1"


def test_interface_refuses_an_address_of_another_host() -> None:
    c = SipConfig.from_mapping({"public_address": "203.0.113.5"})  # TEST-NET-3: never local
    with pytest.raises(ValueError) as info:
        c.interface()
    text = str(info.value)
    assert "不是本机地址" in text and "is not an address of this host" in text
    assert "stun_server" in text


def test_account_domain() -> None:
    assert SipConfig(domain="pbx.example.com").account_domain() == "pbx.example.com"
    assert SipConfig(host="127.0.0.1", port=5070).account_domain() == "127.0.0.1:5070"
    assert SipConfig(public_address="10.1.2.3").account_domain() == "10.1.2.3"
    default = SipConfig().account_domain()
    socket.inet_aton(default)  # an IPv4 address of this host (or 127.0.0.1)
    assert default != "0.0.0.0"


def test_account_params_for_stun() -> None:
    assert SipConfig().account_params() == ()
    assert SipConfig(stun_server="stun.example.com").account_params() == (
        "medianat=stun",
        "stunserver=stun:stun.example.com:3478",
    )
    assert SipConfig(stun_server="stun:10.0.0.1:19302").account_params()[1] == (
        "stunserver=stun:10.0.0.1:19302"
    )


def test_the_baresip_binding_accepts_what_we_render() -> None:
    baresip = pytest.importorskip("baresip")
    c = SipConfig.from_mapping(FULL)
    config = baresip.Config(
        net_interface=c.interface(),
        extra_config_text=c.baresip_extra(),
        rtp_timeout=c.rtp_timeout_s,
        expose_headers=(c.caller_header,),
    )
    assert "audio_jitter_buffer_ms 80-180" in config.render()
    account = baresip.Account(
        user=c.user,
        domain=c.account_domain(),
        password=c.password,
        registrar=c.registrar,
        reg_interval=c.reg_interval,
        audio_codecs=c.codecs,
        dtmf_mode=c.dtmf,
        auth_user=c.username,
        extra_params=c.account_params(),
    )
    assert "medianat=stun" in account.aor() and "s3cret" not in repr(account)
