"""Prometheus metrics of the SIP transport: calls by direction and outcome, calls in progress,
refused calls, and each finished call's duration and media quality (RTCP loss and jitter, an
E-model-like MOS).

Like `voice.asr.base.AsrMetrics`, the collectors live in their own registry (`METRICS.registry`),
created once per process at import; `/metrics` has to render that registry next to the
server's own. With `PROMETHEUS_MULTIPROC_DIR` set, the values go to the shared files as usual.

For every `call_started` there is exactly one `call_ended` (same direction). A call refused
before it started is counted with `rejected(reason)` only.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from voice.telephony.backend import CallQuality

log = logging.getLogger(__name__)

DIRECTIONS = ("inbound", "outbound")
OUTCOMES = (
    "self_service",
    "transferred",
    "transfer_failed",
    "abandoned",
    "rejected_busy",
    "no_answer",
    "busy",
    "declined",
    "failed",
)
OTHER = "other"  # an unknown label value (kept out of the label set, logged)
DURATION_BUCKETS = (5, 10, 20, 30, 60, 120, 180, 300, 600, 1200, 1800, 3600)
LOSS_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0)
JITTER_BUCKETS = (1, 2, 5, 10, 20, 30, 40, 60, 80, 100, 200, 500)
MOS_BUCKETS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.3, 4.4, 4.5)
_REASON = re.compile(r"[^a-z0-9_]+")


class SipMetrics:
    """The SIP collectors; its own registry (expose or merge as needed)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls = Counter(
            "zhike_sip_calls", "SIP calls by direction and outcome", ["direction", "outcome"],
            registry=r,
        )  # fmt: skip
        self.active = Gauge(
            "zhike_sip_active_calls", "SIP calls in progress", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.rejected = Counter(
            "zhike_sip_rejected", "SIP calls refused before they started", ["reason"], registry=r
        )
        self.duration = Histogram(
            "zhike_sip_call_duration_seconds", "Duration of finished SIP calls", ["direction"],
            buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.loss = Histogram(
            "zhike_sip_packet_loss_ratio", "Received RTP packets lost per call (RTCP)",
            buckets=LOSS_BUCKETS, registry=r,
        )  # fmt: skip
        self.jitter = Histogram(
            "zhike_sip_jitter_ms", "Received RTP interarrival jitter per call (ms)",
            buckets=JITTER_BUCKETS, registry=r,
        )  # fmt: skip
        self.mos = Histogram(
            "zhike_sip_mos", "Estimated MOS per call (1.0-4.5)", buckets=MOS_BUCKETS, registry=r
        )
        self._lock = threading.Lock()
        self._live = 0  # never below zero, even if a call_ended comes without its start

    def started(self, direction: str) -> None:
        _known(direction, DIRECTIONS, "direction")
        with self._lock:
            self._live += 1
            self.active.set(self._live)

    def ended(self, direction: str, outcome: str, quality: CallQuality | None) -> None:
        label = _known(direction, DIRECTIONS, "direction")
        with self._lock:
            self._live = max(0, self._live - 1)
            self.active.set(self._live)
        self.calls.labels(label, _known(outcome, OUTCOMES, "outcome")).inc()
        if quality is None:
            return
        self.duration.labels(label).observe(max(0.0, quality.duration_s))
        if quality.rx_packets + quality.rx_lost > 0:
            self.loss.observe(quality.loss_ratio)
            self.jitter.observe(max(0.0, quality.rx_jitter_ms))
        if quality.mos > 0:  # 0: unknown
            self.mos.observe(quality.mos)

    def refused(self, reason: str) -> None:
        self.rejected.labels(_REASON.sub("_", reason.strip().lower())[:32] or OTHER).inc()


def _known(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value in allowed:
        return value
    log.warning("sip metrics: unknown %s %r counted as %r", what, value, OTHER)
    return OTHER


METRICS = SipMetrics()


def call_started(direction: str) -> None:
    """A call began (inbound: answered; outbound: dialled). `direction`: inbound | outbound."""
    METRICS.started(direction)


def call_ended(direction: str, outcome: str, quality: CallQuality | None) -> None:
    """The call that `call_started` counted is over; `quality` is None when no media flowed."""
    METRICS.ended(direction, outcome, quality)


def rejected(reason: str) -> None:
    """An inbound call refused before it started (e.g. busy: over max_calls, 486)."""
    METRICS.refused(reason)
