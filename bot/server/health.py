"""`/health` (liveness + readiness), `/health/live`, `/health/ready`, and Prometheus `/metrics`."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response

from bot.server.schemas import HealthResponse, StoreHealth
from bot.server.state import ServerState

STORE_TIMEOUT = 2.0
PROBE_ID = "__zhike_health_probe__"

router = APIRouter(tags=["Operations"])


async def _store_health(state: ServerState) -> StoreHealth:
    try:
        await asyncio.wait_for(state.holder.engine.trackers.info(PROBE_ID), STORE_TIMEOUT)
    except Exception as exc:  # any failure means "not reachable"; the reason is reported
        return StoreHealth(reachable=False, error=f"{type(exc).__name__}: {exc}"[:300])
    return StoreHealth(reachable=True)


async def report(request: Request) -> HealthResponse:
    state: ServerState | None = getattr(request.app.state, "zhike", None)
    if state is None:
        return HealthResponse(
            status="unavailable", live=True, ready=False, model_loaded=False, model_id=None,
            store=StoreHealth(reachable=False, error="not started"), active_turns=0,
        )  # fmt: skip
    store = await _store_health(state)
    model = state.holder.engine.model
    ready = store.reachable
    return HealthResponse(
        status="ok" if ready else "unavailable",
        live=True,
        ready=ready,
        model_loaded=True,
        model_id=model.fingerprint or None,
        store=store,
        active_turns=state.holder.turns.active,
    )


_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": HealthResponse, "description": "Not ready"}
}


@router.get(
    "/health",
    response_model=HealthResponse,
    responses=_UNAVAILABLE,
    summary="Liveness and readiness (model loaded, store reachable); 503 when not ready",
)
async def health(request: Request, response: Response) -> HealthResponse:
    result = await report(request)
    response.status_code = 200 if result.ready else 503
    return result


@router.get("/health/live", response_model=HealthResponse, summary="Liveness: the process answers")
async def live(request: Request) -> HealthResponse:
    state: ServerState | None = getattr(request.app.state, "zhike", None)
    return HealthResponse(
        status="ok", live=True, ready=state is not None, model_loaded=state is not None,
        model_id=state.holder.engine.model.fingerprint if state else None,
        store=StoreHealth(reachable=True), active_turns=state.holder.turns.active if state else 0,
    )  # fmt: skip


@router.get(
    "/health/ready", response_model=HealthResponse, responses=_UNAVAILABLE, summary="Readiness"
)
async def ready(request: Request, response: Response) -> HealthResponse:
    return await health(request, response)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    state: ServerState = request.app.state.zhike
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)
