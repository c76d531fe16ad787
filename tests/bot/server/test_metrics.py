"""`Metrics`: the server's registry plus the registries channels expose (ASR, SIP calls)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from bot.server.metrics import Metrics


def test_exposed_registries_are_rendered_once() -> None:
    metrics = Metrics()
    own = CollectorRegistry()
    Counter("zhike_sip_calls", "SIP calls", ["outcome"], registry=own).labels("transferred").inc()
    metrics.expose(own, own, metrics.registry)  # twice, and the server's own: no duplicates
    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert text.count('zhike_sip_calls_total{outcome="transferred"} 1.0') == 1
    assert text.count("# TYPE zhike_turns_total counter") == 1
