"""Run `rasa_sdk` custom actions: in-process (import the package) or over Rasa's HTTP protocol.

Both runners take Rasa's action-call JSON and give back `(events, responses)` JSON; the
public `run` wraps `_run_impl` so the timeout and error handling are written once.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.machinery
import importlib.util
import logging
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ActionError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ActionResponse:
    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


class ActionRunner(ABC):
    timeout: float = 10.0

    async def run(self, call: dict[str, Any]) -> ActionResponse:
        name = call.get("next_action")
        try:
            async with asyncio.timeout(self.timeout):  # no extra task (wait_for makes one)
                return await self._run_impl(call)
        except ActionError:
            raise
        except TimeoutError:
            raise ActionError(f"action {name!r} timed out after {self.timeout:.0f}s") from None
        except Exception as exc:
            log.exception("custom action %r failed", name)
            raise ActionError(f"action {name!r} failed: {type(exc).__name__}: {exc}") from exc

    @abstractmethod
    async def _run_impl(self, call: dict[str, Any]) -> ActionResponse: ...

    @abstractmethod
    def knows(self, name: str) -> bool:
        """Whether this runner can run the action (for in-process runners: registered)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass


class InProcessActionRunner(ActionRunner):
    """Imports the project's `actions` package and calls rasa_sdk's executor directly."""

    def __init__(self, project_root: Path) -> None:
        from rasa_sdk.executor import ActionExecutor

        self.executor = ActionExecutor()
        module = load_actions_module(project_root)
        if module is not None:
            self.executor.register_package(module)

    def knows(self, name: str) -> bool:
        return name in self.executor.actions

    async def _run_impl(self, call: dict[str, Any]) -> ActionResponse:
        from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

        try:
            result = await self.executor.run(call)
        except ActionNotFoundException as exc:
            raise ActionError(f"action {call.get('next_action')!r} is not registered") from exc
        except ActionExecutionRejection:
            rejected = {"event": "action_execution_rejected", "name": call.get("next_action")}
            return ActionResponse(events=[rejected])
        if result is None:
            return ActionResponse()
        return ActionResponse(list(result.events), list(result.responses))


class HTTPActionRunner(ActionRunner):
    """Calls a standard Rasa action server (`python -m rasa_sdk --actions actions`)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self._session: Any = None

    def knows(self, name: str) -> bool:
        return True

    async def _session_get(self) -> Any:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _run_impl(self, call: dict[str, Any]) -> ActionResponse:
        import aiohttp

        session = await self._session_get()
        params = {"token": self.token} if self.token else None
        try:
            async with session.post(self.url, json=call, params=params) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 400 and isinstance(body, dict) and body.get("action_name"):
                    return ActionResponse(
                        events=[{"event": "action_execution_rejected", "name": body["action_name"]}]
                    )
                if resp.status != 200 or not isinstance(body, dict):
                    raise ActionError(
                        f"action server answered HTTP {resp.status}: {str(body)[:200]}"
                    )
        except aiohttp.ClientError as exc:
            raise ActionError(f"action server unreachable at {self.url}: {exc}") from exc
        return ActionResponse(list(body.get("events") or []), list(body.get("responses") or []))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def load_actions_module(project_root: Path) -> Any:
    """Import the project's `actions` package (or `actions.py`) fresh from `project_root`."""
    root = str(project_root.resolve())
    if not has_actions_module(project_root):
        return None
    for name in [m for m in sys.modules if m == "actions" or m.startswith("actions.")]:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        importlib.invalidate_caches()
        # look only in the project: an `actions/` folder without `__init__.py` is a namespace
        # package (rasa_sdk loads those), which another `actions` on sys.path would shadow
        spec = importlib.machinery.PathFinder.find_spec("actions", [root])
        if spec is None:
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules["actions"] = module
        try:
            if spec.loader is not None:
                spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop("actions", None)
            raise
        return module
    finally:
        if sys.path and sys.path[0] == root:
            sys.path.pop(0)


def has_actions_module(project_root: Path) -> bool:
    """`actions.py`, or an `actions/` folder of Python files (with or without `__init__.py`)."""
    folder = project_root / "actions"
    return (project_root / "actions.py").exists() or (folder.is_dir() and any(folder.glob("*.py")))
