from __future__ import annotations

import logging

import pytest
from prometheus_client import generate_latest

from voice.telephony import metrics
from voice.telephony.backend import CallQuality
from voice.telephony.metrics import METRICS, SipMetrics


def value(m: SipMetrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


def good_call(seconds: float = 42.0) -> CallQuality:
    return CallQuality(
        duration_s=seconds,
        setup_s=0.01,
        rx_packets=990,
        tx_packets=1000,
        rx_lost=10,
        rx_jitter_ms=3.5,
        mos=4.3,
    )


def test_module_functions_use_the_shared_registry() -> None:
    before = value(METRICS, "zhike_sip_calls_total", direction="inbound", outcome="transferred")
    active = value(METRICS, "zhike_sip_active_calls")
    refused = value(METRICS, "zhike_sip_rejected_total", reason="busy")
    metrics.call_started("inbound")
    assert value(METRICS, "zhike_sip_active_calls") == active + 1
    metrics.call_ended("inbound", "transferred", good_call())
    metrics.rejected("busy")
    assert value(METRICS, "zhike_sip_active_calls") == active
    after = value(METRICS, "zhike_sip_calls_total", direction="inbound", outcome="transferred")
    assert after == before + 1
    assert value(METRICS, "zhike_sip_rejected_total", reason="busy") == refused + 1
    text = generate_latest(METRICS.registry).decode()
    for name in (
        "zhike_sip_calls_total",
        "zhike_sip_active_calls",
        "zhike_sip_rejected_total",
        "zhike_sip_call_duration_seconds_bucket",
        "zhike_sip_packet_loss_ratio_bucket",
        "zhike_sip_jitter_ms_bucket",
        "zhike_sip_mos_bucket",
    ):
        assert name in text


def test_quality_goes_into_the_histograms() -> None:
    m = SipMetrics()
    m.started("outbound")
    m.ended("outbound", "self_service", good_call(42.0))
    assert value(m, "zhike_sip_calls_total", direction="outbound", outcome="self_service") == 1
    assert value(m, "zhike_sip_call_duration_seconds_count", direction="outbound") == 1
    assert value(m, "zhike_sip_call_duration_seconds_sum", direction="outbound") == 42.0
    assert value(m, "zhike_sip_call_duration_seconds_bucket", direction="outbound", le="30.0") == 0
    assert value(m, "zhike_sip_call_duration_seconds_bucket", direction="outbound", le="60.0") == 1
    assert value(m, "zhike_sip_packet_loss_ratio_sum") == pytest.approx(0.01)
    assert value(m, "zhike_sip_packet_loss_ratio_bucket", le="0.005") == 0
    assert value(m, "zhike_sip_packet_loss_ratio_bucket", le="0.01") == 1
    assert value(m, "zhike_sip_jitter_ms_sum") == 3.5
    assert value(m, "zhike_sip_jitter_ms_bucket", le="5.0") == 1
    assert value(m, "zhike_sip_mos_sum") == 4.3
    assert value(m, "zhike_sip_mos_bucket", le="4.2") == 0
    assert value(m, "zhike_sip_mos_bucket", le="4.3") == 1


def test_without_media_only_the_outcome_is_counted() -> None:
    m = SipMetrics()
    m.started("outbound")
    m.ended("outbound", "no_answer", None)
    m.started("inbound")
    m.ended("inbound", "abandoned", CallQuality(duration_s=1.0))  # no packets, MOS unknown
    assert value(m, "zhike_sip_calls_total", direction="outbound", outcome="no_answer") == 1
    assert value(m, "zhike_sip_call_duration_seconds_count", direction="outbound") == 0
    assert value(m, "zhike_sip_call_duration_seconds_count", direction="inbound") == 1
    assert value(m, "zhike_sip_packet_loss_ratio_count") == 0
    assert value(m, "zhike_sip_jitter_ms_count") == 0
    assert value(m, "zhike_sip_mos_count") == 0


def test_active_calls_never_go_negative() -> None:
    m = SipMetrics()
    m.started("inbound")
    m.started("inbound")
    assert value(m, "zhike_sip_active_calls") == 2
    for _ in range(3):
        m.ended("inbound", "self_service", None)
    assert value(m, "zhike_sip_active_calls") == 0
    m.started("inbound")
    assert value(m, "zhike_sip_active_calls") == 1


def test_unknown_labels_are_folded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    m = SipMetrics()
    with caplog.at_level(logging.WARNING):
        m.started("sideways")
        m.ended("sideways", "exploded", None)
    assert value(m, "zhike_sip_calls_total", direction="other", outcome="other") == 1
    assert "unknown direction 'sideways'" in caplog.text
    assert "unknown outcome 'exploded'" in caplog.text


def test_every_contract_outcome_is_a_label() -> None:
    m = SipMetrics()
    for outcome in (
        "self_service",
        "transferred",
        "transfer_failed",
        "abandoned",
        "rejected_busy",
        "no_answer",
        "busy",
        "declined",
        "failed",
    ):
        m.started("inbound")
        m.ended("inbound", outcome, None)
        assert value(m, "zhike_sip_calls_total", direction="inbound", outcome=outcome) == 1


def test_rejected_reasons_are_tidied() -> None:
    m = SipMetrics()
    m.refused("Not Established")
    m.refused("")
    assert value(m, "zhike_sip_rejected_total", reason="not_established") == 1
    assert value(m, "zhike_sip_rejected_total", reason="other") == 1
