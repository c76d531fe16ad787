"""The app factory: one FastAPI app for the engine, the channels, the APIs and the pages.

`create_app(settings)` loads the model and the stores (synchronously, so a worker only
accepts connections once it can answer), mounts every enabled channel's `router()`, the
Rasa-compatible API, health and metrics, and `bot/server/static/` when it exists.
`app_from_env()` is the factory uvicorn calls in each worker (`zhike run`).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

import bot
from bot.channel import Channel
from bot.server import handoff_api, health, kb_api, rasa_api
from bot.server.errors import BodyLimitMiddleware, install_error_handlers
from bot.server.logging import configure_logging
from bot.server.metrics import HttpMetricsMiddleware, Metrics
from bot.server.settings import Settings, SettingsError, is_loopback, load_settings
from bot.server.state import ServerState

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"

ChannelFactory = Callable[[ServerState, Mapping[str, Any]], Channel]


def _rest(state: ServerState, config: Mapping[str, Any]) -> Channel:
    from channels.rest import RestChannel

    return RestChannel(state.holder, state.settings.max_message_chars)


def _webchat(state: ServerState, config: Mapping[str, Any]) -> Channel:
    """`channels.webchat.create_channel(...)` if defined, else `WebChatChannel(...)`; the
    arguments it declares among `holder`, `settings`, `config` are passed by name."""
    module = importlib.import_module("channels.webchat")
    build = getattr(module, "create_channel", None) or module.WebChatChannel
    offered = {"holder": state.holder, "settings": state.settings, "config": dict(config)}
    wanted = inspect.signature(build).parameters
    channel: Channel = build(**{k: v for k, v in offered.items() if k in wanted})
    return channel


def _wechat(state: ServerState, config: Mapping[str, Any]) -> Channel:
    from channels.wechat.official import create_channel

    return create_channel(state, config)


def _wecom(state: ServerState, config: Mapping[str, Any]) -> Channel:
    from channels.wechat.wecom import create_channel

    return create_channel(state, config)


def _voice(state: ServerState, config: Mapping[str, Any]) -> Channel:
    from channels.voice.channel import create_channel

    return create_channel(state, config)


CHANNELS: dict[str, ChannelFactory] = {
    "rest": _rest,
    "webchat": _webchat,
    "wechat": _wechat,
    "wecom": _wecom,
    "voice": _voice,
}


def register_channel(name: str, factory: ChannelFactory) -> None:
    CHANNELS[name] = factory


def create_app(settings: Settings | None = None, state: ServerState | None = None) -> FastAPI:
    settings = settings or load_settings()
    metrics = state.metrics if state else Metrics()
    state = state or ServerState.build(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _announce(settings)
        state.start()
        await state.start_channels()
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="知客 Zhike",
        version=bot.__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.zhike = state
    app.state.auth = state.auth
    install_error_handlers(app)
    # channels first: routes are matched in order, and theirs carry nearly every request
    for channel in _channels(state):
        state.channels[channel.name] = channel
        app.include_router(channel.router())
    app.include_router(rasa_api.router)
    app.include_router(kb_api.router)
    app.include_router(health.router)
    if state.handoff is not None:
        app.include_router(handoff_api.router)
    _mount_pages(app)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory (`bot.server.app:app_from_env`): settings from ZHIKE_* and the project."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def prepare_model(settings: Settings) -> None:
    """Train once in the parent process if the newest model is missing or stale, so that
    workers only load it (instead of all training at once)."""
    from bot import model as model_io
    from bot.runtime import train_project
    from bot.server.state import newest_model

    if settings.model_file is not None or not settings.train_on_start:
        return
    path = newest_model(settings.models_path)
    if path is not None:
        current = model_io.fingerprint(settings.project)
        if model_io.read_header(path).get("fingerprint") == current:
            return
    log.info("training the project before starting the workers")
    train_project(settings.project, out=settings.models_path)


def serve(settings: Settings, env_overrides: Mapping[str, str]) -> None:
    """Run the server with uvicorn until SIGINT/SIGTERM; in-flight requests finish first."""
    import os
    import tempfile

    import uvicorn

    configure_logging(settings.log_level, settings.log_format)
    os.environ.update(env_overrides)
    os.environ["ZHIKE_PROJECT"] = str(settings.project)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        "server_header": False,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    prepare_model(settings)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="zhike-metrics-")
    uvicorn.run("bot.server.app:app_from_env", factory=True, workers=settings.workers, **options)


def _channels(state: ServerState) -> list[Channel]:
    out: list[Channel] = []
    problems: list[str] = []
    for name in state.settings.channels:
        config = state.settings.channel_config.get(name, {})
        try:
            out.append(CHANNELS[name](state, config))
        except ImportError as exc:
            log.warning("channel %s is not available: %s", name, exc)
        except ValueError as exc:  # the channel's section in credentials.yml is invalid
            problems.append(f"credentials.yml {name}: {exc}")
    if problems:
        raise SettingsError(problems)
    return out


def _mount_pages(app: FastAPI) -> None:
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def home() -> Any:
        if index.is_file():
            return FileResponse(index)
        return PlainTextResponse(f"Hello from Zhike: {bot.__version__}")

    console = STATIC_DIR / "agent.html"

    @app.get("/agent", include_in_schema=False)
    async def agent_console() -> Any:
        if console.is_file():
            return FileResponse(console)
        return PlainTextResponse("agent console not installed", status_code=404)

    softphone = STATIC_DIR / "voice.html"

    @app.get("/voice", include_in_schema=False)
    async def voice_softphone() -> Any:
        if softphone.is_file():
            return FileResponse(softphone)
        return PlainTextResponse("softphone not installed", status_code=404)


def _announce(settings: Settings) -> None:
    for warning in settings.warnings:
        log.warning("%s", warning)
    if not settings.auth_enabled:
        level = logging.INFO if is_loopback(settings.host) else logging.WARNING
        log.log(
            level,
            "未配置访问令牌，管理接口对所有人开放 / no token configured: the API is open",
        )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with its default 422 body replaced by the server's error shape."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for operation in (op for path in schema.get("paths", {}).values() for op in path.values()):
        responses = operation.setdefault("responses", {})
        if "requestBody" in operation:  # server-wide: broken JSON, body over the size limit
            for code, text in (("400", "Body is not valid JSON"), ("413", "Body too large")):
                responses.setdefault(
                    code,
                    {"description": text, "content": {"application/json": {"schema": ref}}},
                )
        response = responses.get("422")
        if response is not None:
            content = response.setdefault("content", {}).setdefault("application/json", {})
            declared = content.get("schema", {})
            if declared.get("$ref", "").endswith("/HTTPValidationError"):
                content["schema"] = ref
                response["description"] = "Invalid request"
            elif declared != ref:  # the route's own 422 body, or a validation error
                content["schema"] = {"anyOf": [declared, ref]}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    app.openapi_schema = schema
    return schema


_DESCRIPTION = """
Chinese-first dialogue engine with a Rasa 3.x compatible HTTP API.

**Auth.** Protected routes take a token as `?token=…` (as in Rasa) or
`Authorization: Bearer …`. The `--auth-token` is an admin token; API tokens carry a role
(`admin`, `editor`, `supervisor`, `agent`). With no token configured, the API is open.

**Errors.** Every error is JSON: `{"error": code, "message_zh": …, "message_en": …}`, plus
`details` for invalid requests. Bodies must be JSON (`415` otherwise), within the size limit
(`413`); broken JSON is a `400`, a well-formed but invalid body a `422`.
"""
