"""Prometheus metrics, recorded around the engine (not inside it).

`MeteredHolder` is an `EngineHolder` whose engines are `MeteredEngine`s: every channel's turn
is admitted through the `TurnGate` (its wait is the stage "queue"), counted by channel, timed
as a whole and per stage (from `TurnResult.timings`), its NLU
confidence bucketed, its failures counted, and logged with its conversation id. HTTP requests
are counted and timed per route template by `HttpMetricsMiddleware`.

With several workers, set `PROMETHEUS_MULTIPROC_DIR` (`zhike run --workers N` does) and
`/metrics` aggregates all worker processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TypeVar, cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.dialogue.events import UserUttered
from bot.engine import Engine, TurnResult
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.server.gate import TurnGate
from bot.server.holder import EngineHolder
from bot.server.logging import conversation_context

log = logging.getLogger("zhike.turn")
M = TypeVar("M", Counter, Histogram, Gauge)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.exposed: list[CollectorRegistry] = []
        self._children: dict[tuple[int, tuple[str, ...]], object] = {}
        r = self.registry
        self.turns = Counter("zhike_turns", "Conversation turns handled", ["channel"], registry=r)
        self.turn_seconds = Histogram(
            "zhike_turn_seconds", "Whole turn latency", ["channel"], buckets=LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.stage_seconds = Histogram(
            "zhike_turn_stage_seconds",
            "Turn latency per stage (queue, lock, load, parse, predict, store)",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.confidence = Histogram(
            "zhike_nlu_intent_confidence", "Top intent confidence per user message", ["channel"],
            buckets=CONFIDENCE_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "zhike_errors", "Errors by place and kind", ["where", "kind"], registry=r
        )
        self.http = Counter(
            "zhike_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "zhike_http_request_seconds", "HTTP request latency", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.active_turns = Gauge(
            "zhike_active_turns", "Turns in progress", registry=r, multiprocess_mode="livesum"
        )
        self.reloads = Counter("zhike_model_reloads", "Model reloads", ["result"], registry=r)

    def observe_turn(self, channel: str, result: TurnResult, seconds: float) -> None:
        self.child(self.turns, channel).inc()
        self.child(self.turn_seconds, channel).observe(seconds)
        for stage, spent in result.timings.items():
            self.child(self.stage_seconds, stage).observe(spent)
        for event in result.events:
            if isinstance(event, UserUttered) and event.parse_data is not None:
                confidence = event.parse_data.intent.confidence
                self.child(self.confidence, channel).observe(confidence)

    def child(self, metric: M, *labels: str) -> M:
        """`metric.labels(*labels)`, remembered: the client checks and locks on every call."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return cast(M, found)

    def expose(self, *registries: CollectorRegistry) -> None:
        """Also render these registries (a channel's own: ASR, SIP calls) on `/metrics`; each
        once, the server's own registry never twice."""
        for registry in registries:
            if registry is not self.registry and registry not in self.exposed:
                self.exposed.append(registry)

    def render(self) -> tuple[bytes, str]:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory and os.path.isdir(directory):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)
            body = generate_latest(registry)
        else:
            body = generate_latest(self.registry)
        return body + b"".join(generate_latest(r) for r in self.exposed), CONTENT_TYPE_LATEST


@dataclass
class TurnTracker:
    """How many turns are in flight, so shutdown can wait for them."""

    active: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    def enter(self) -> None:
        self.active += 1
        self.idle.clear()

    def leave(self) -> None:
        self.active -= 1
        if self.active == 0:
            self.idle.set()


class MeteredEngine(Engine):
    metrics: Metrics
    turns: TurnTracker
    gate: TurnGate

    async def handle_turn(self, message: InboundMessage) -> TurnResult:
        started = time.perf_counter()
        self.turns.enter()
        self.metrics.active_turns.inc()
        with conversation_context(message.conversation_id):
            try:
                async with self.gate.slot() as queued:
                    result = await super().handle_turn(message)
                result.timings = {"queue": queued, **result.timings}
            except Exception as exc:
                self.metrics.errors.labels("turn", type(exc).__name__).inc()
                log.exception("turn failed on channel %s", message.channel)
                raise
            finally:
                self.turns.leave()
                self.metrics.active_turns.dec()
            elapsed = time.perf_counter() - started
            self.metrics.observe_turn(message.channel, result, elapsed)
            log.info(
                "turn",
                extra={
                    "channel": message.channel,
                    "ms": round(elapsed * 1000, 2),
                    "stages_ms": {k: round(v * 1000, 2) for k, v in result.timings.items()},
                    "intent": _intent(result),
                },
            )
        return result


def _intent(result: TurnResult) -> str | None:
    for event in result.events:
        if isinstance(event, UserUttered):
            return event.intent_name
    return None


def metered(
    model: TrainedModel, base: Engine, metrics: Metrics, turns: TurnTracker, gate: TurnGate
) -> MeteredEngine:
    """An engine for `model` sharing `base`'s stores, locks, action runner, knowledge base,
    handoff and turn gate."""
    out = MeteredEngine(
        model,
        base.trackers,
        base.locks,
        base.runner,
        base.kb,
        exclusive=base.exclusive,
        handoff=base.handoff,
    )
    out.metrics, out.turns, out.gate = metrics, turns, gate
    return out


@dataclass
class MeteredHolder(EngineHolder):
    metrics: Metrics = field(default_factory=Metrics)
    turns: TurnTracker = field(default_factory=TurnTracker)
    gate: TurnGate = field(default_factory=TurnGate)

    def __post_init__(self) -> None:
        if not isinstance(self.engine, MeteredEngine):
            self.engine = metered(
                self.engine.model, self.engine, self.metrics, self.turns, self.gate
            )

    async def swap(self, model: TrainedModel) -> Engine:
        async with self._lock:
            self.engine = metered(model, self.engine, self.metrics, self.turns, self.gate)
            return self.engine


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics = self.metrics
            metrics.child(metrics.http, scope["method"], route, str(status)).inc()
            metrics.child(metrics.http_seconds, route).observe(time.perf_counter() - started)
            if status >= 500:
                self.metrics.errors.labels("http", str(status)).inc()
