"""Handoff API: the agent console (`/api/agent/...`, a live WebSocket) and the handoff list.

Agents log in with their id and password (`handoff.agents`) and send the session token as
`Authorization: Bearer …`. Every answer only shows what the agent may see: their own chats
and their skill groups (supervisors: everything); PII is masked unless their role allows it.
`GET /api/handoffs` and `GET /api/tickets` also accept API tokens (admin, supervisor).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from bot.handoff import views
from bot.handoff.agents import AuthError
from bot.handoff.errors import HandoffError
from bot.handoff.routing import serves
from bot.handoff.service import MAX_AGENT_TEXT, HandoffService
from bot.handoff.types import Agent, Handoff, State
from bot.handoff.views import queue_positions
from bot.server.agent_ws import console_socket
from bot.server.errors import ApiError
from bot.server.rasa_api import AUTH, JSON_BODY
from bot.server.rasa_api import State as ServerStateDep
from bot.server.schemas import error_responses

router = APIRouter(tags=["handoff"])
_bearer = HTTPBearer(auto_error=False, description="agent session: `Authorization: Bearer <token>`")
HandoffId = Annotated[str, Path(min_length=1, max_length=64, description="handoff id")]
DAY = 86_400.0


class Login(BaseModel):
    agent_id: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class Text(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_AGENT_TEXT)


class Transfer(BaseModel):
    group: str = Field(min_length=1, max_length=64)


class RatingBody(BaseModel):
    satisfaction: int | None = Field(default=None, ge=1, le=5, description="满意度 1–5")
    difficulty: int | None = Field(default=None, ge=1, le=5, description="难应付程度 1–5")


def service_of(request: Request) -> HandoffService:
    service: HandoffService | None = request.app.state.zhike.handoff
    if service is None:
        raise ApiError(404, "handoff_disabled", "未启用人工客服。", "the handoff is switched off")
    return service


Service = Annotated[HandoffService, Depends(service_of)]


def api_error(exc: HandoffError | AuthError) -> ApiError:
    status = exc.status if isinstance(exc, HandoffError) else 401
    return ApiError(status, exc.code, exc.zh, exc.en)


async def current_agent(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Agent:
    service = service_of(request)
    try:
        return await service.agents.resolve(
            credentials.credentials if credentials else None, service.clock()
        )
    except AuthError as exc:
        raise api_error(exc) from exc


CurrentAgent = Annotated[Agent, Depends(current_agent)]


async def view(service: HandoffService, h: Handoff, agent: Agent | None) -> dict[str, Any]:
    show = agent is None or views.may_see_pii(agent, service.settings.pii_roles)
    return views.item(h, service.clock(), await service.position(h), masked=not show)


async def run(call: Any) -> Any:
    try:
        return await call
    except HandoffError as exc:
        raise api_error(exc) from exc


# ------------------------------------------------------------------ session
@router.post(
    "/api/agent/login",
    dependencies=JSON_BODY,
    responses=error_responses(401, 422),
    summary="Agent login (returns a session token)",
)
async def login(body: Login, service: Service) -> dict[str, Any]:
    try:
        session = await service.agents.login(body.agent_id, body.password, service.clock())
    except AuthError as exc:
        raise api_error(exc) from exc
    return {
        "token": session.token,
        "expires_at": session.expires_at,
        "agent": views.agent_info(session.agent),
        "groups": list(service.settings.routing.groups),
    }


@router.post("/api/agent/logout", responses=error_responses(401), summary="End the agent session")
async def logout(
    service: Service,
    agent: CurrentAgent,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> dict[str, bool]:
    if credentials is not None:
        await service.agents.logout(credentials.credentials)
    return {"ok": True}


@router.get("/api/agent/me", responses=error_responses(401), summary="The logged-in agent")
async def me(service: Service, agent: CurrentAgent) -> dict[str, Any]:
    return {**views.agent_info(agent), "groups_all": list(service.settings.routing.groups)}


# ------------------------------------------------------------------ lists and detail
@router.get("/api/agent/handoffs", responses=error_responses(401), summary="The agent's lists")
async def agent_lists(service: Service, agent: CurrentAgent) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"waiting": [], "mine": [], "others": []}
    active = await service.store.active()
    places = queue_positions(active)
    show = views.may_see_pii(agent, service.settings.pii_roles)
    now = service.clock()
    for h in active:
        if h.agent_id == agent.agent_id:
            key = "mine"
        elif h.state == State.QUEUED and serves(agent, h.skill_group):
            key = "waiting"
        elif agent.role == "supervisor":
            key = "others"
        else:
            continue
        out[key].append(views.item(h, now, places.get(h.handoff_id, 0), masked=not show))
    out["waiting"].sort(key=lambda i: (i["skill_group"], i["position"]))
    return out


@router.get(
    "/api/agent/handoffs/{handoff_id}",
    responses=error_responses(401, 403, 404),
    summary="One handoff with its context packet (summary, transcript, profile, NLU, KB)",
)
async def agent_detail(
    handoff_id: HandoffId, service: Service, agent: CurrentAgent, state: ServerStateDep
) -> dict[str, Any]:
    h = await run(service.visible(agent, handoff_id))
    tracker = await state.holder.engine.load_tracker(h.conversation_id)
    show = views.may_see_pii(agent, service.settings.pii_roles)
    return views.detail(h, tracker, service.clock(), await service.position(h), show)


def _action(path: str, summary: str) -> Any:
    return router.post(
        f"/api/agent/handoffs/{{handoff_id}}/{path}",
        dependencies=JSON_BODY,
        responses=error_responses(401, 403, 404, 409, 422),
        summary=summary,
    )


@_action("accept", "Accept an offered or waiting conversation")
async def accept(handoff_id: HandoffId, service: Service, agent: CurrentAgent) -> dict[str, Any]:
    return await view(service, await run(service.accept(agent, handoff_id)), agent)


@_action("decline", "Decline an offered conversation (back to the queue)")
async def decline(handoff_id: HandoffId, service: Service, agent: CurrentAgent) -> dict[str, Any]:
    return await view(service, await run(service.decline(agent, handoff_id)), agent)


@_action("messages", "Send a message to the customer (through their channel)")
async def send(
    handoff_id: HandoffId, body: Text, service: Service, agent: CurrentAgent
) -> dict[str, Any]:
    line = await run(service.agent_message(agent, handoff_id, body.text))
    return views.line(line, show_pii=True)


@_action("transfer", "Transfer to another skill group")
async def transfer(
    handoff_id: HandoffId, body: Transfer, service: Service, agent: CurrentAgent
) -> dict[str, Any]:
    return await view(service, await run(service.transfer(agent, handoff_id, body.group)), agent)


@_action("end", "End the conversation; the bot takes over with a survey")
async def end(handoff_id: HandoffId, service: Service, agent: CurrentAgent) -> dict[str, Any]:
    return await view(service, await run(service.end(agent, handoff_id)), agent)


@_action("rating", "Rate the customer (满意度, 难应付程度) after ending")
async def rate(
    handoff_id: HandoffId, body: RatingBody, service: Service, agent: CurrentAgent
) -> dict[str, Any]:
    customer = await run(service.rate(agent, handoff_id, body.satisfaction, body.difficulty))
    return {"customer_id": customer.customer_id, "difficult": customer.difficult}


@router.get(
    "/api/agent/kb", responses=error_responses(401), summary="Knowledge-base search for agents"
)
async def kb_search(
    service: Service, agent: CurrentAgent, q: Annotated[str, Query(min_length=1, max_length=500)]
) -> dict[str, Any]:
    suggestions = service.suggest(q) if service.suggest is not None else []
    return {"suggestions": [asdict(s) for s in suggestions]}


@router.get("/api/agent/stats", responses=error_responses(401, 403), summary="Supervisor view")
async def stats(service: Service, agent: CurrentAgent) -> dict[str, Any]:
    if agent.role != "supervisor":
        raise ApiError(403, "forbidden", "仅班长/主管可查看监控数据。", "supervisors only")
    return await supervisor_stats(service)


async def supervisor_stats(service: HandoffService) -> dict[str, Any]:
    now = service.clock()
    queues: dict[str, dict[str, Any]] = {
        g: {"group": g, "waiting": 0, "longest_wait": 0.0} for g in service.settings.routing.groups
    }
    for h in await service.store.active():
        if h.state == State.QUEUED and h.skill_group in queues:
            entry = queues[h.skill_group]
            entry["waiting"] += 1
            entry["longest_wait"] = round(max(entry["longest_wait"], now - h.queued_at), 1)
    agents = [
        {
            "agent_id": c.agent.agent_id,
            "name": c.agent.name,
            "online": c.presence.online,
            "load": c.load,
            "max_concurrent": c.agent.max_concurrent,
        }
        for c in await service.candidates()
    ]
    midnight = service.settings.hours.local(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today = await service.store.wait_stats(midnight.timestamp())
    figures = {
        "offered": today.offered,
        "answered": today.answered,
        "answered_within_30s": today.answered_within_30s,
        "service_level_30s": round(today.answered_within_30s / today.offered, 4)
        if today.offered
        else None,
        "abandoned": today.abandoned,
        "to_ticket": today.to_ticket,
        "avg_wait": round(today.avg_wait, 1),
    }
    return {"queues": list(queues.values()), "agents": agents, "today": figures}


# ------------------------------------------------------------------ lists for tools
async def tool_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(description="API token (as in Rasa)")] = None,
) -> Agent | None:
    """An API token with role admin/supervisor (None: sees all), or an agent session."""
    given = credentials.credentials if credentials else token
    auth = request.app.state.auth
    try:
        auth.authorize(given, ("supervisor",))
        return None
    except ApiError as exc:
        if not given or exc.status != 401:
            raise
    return await current_agent(request, credentials)


@router.get(
    "/api/handoffs",
    responses=error_responses(*AUTH, 404),
    summary="Handoffs (filters: state, group, conversation)",
)
async def list_handoffs(
    service: Service,
    reader: Annotated[Agent | None, Depends(tool_reader)],
    state: Annotated[
        State | None,
        Query(description="queued | assigned | with_agent | ended | cancelled | ticket"),
    ] = None,
    group: Annotated[str | None, Query(max_length=64)] = None,
    conversation_id: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    found = await service.store.find(
        states=[state] if state else None,
        group=group,
        conversation_id=conversation_id,
        limit=limit,
        offset=offset,
    )
    if reader is not None:
        found = [
            h
            for h in found
            if h.agent_id == reader.agent_id
            or reader.role == "supervisor"
            or h.skill_group in reader.groups
        ]
    return {"handoffs": [await view(service, h, reader) for h in found]}


@router.get("/api/tickets", responses=error_responses(*AUTH, 404), summary="Tickets (留言工单)")
async def list_tickets(
    service: Service,
    reader: Annotated[Agent | None, Depends(tool_reader)],
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    if reader is not None and reader.role != "supervisor":
        raise ApiError(403, "forbidden", "仅班长/主管可查看工单列表。", "supervisors only")
    tickets = await service.store.tickets(status=status, limit=limit, offset=offset)
    return {"tickets": [asdict(t) for t in tickets]}


router.add_api_websocket_route("/api/agent/ws", console_socket)
