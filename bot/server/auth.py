"""Token auth as in Rasa (`?token=…`, or `Authorization: Bearer …`) plus API tokens with roles.

The `--auth-token` / `auth_token` is an admin token. With no token configured at all the
protected routes are open (Rasa's behaviour without `--auth-token`); the server logs a warning.
Use `Depends(require_roles(...))` on a route; `ROUTE_ROLES` documents who may do what.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from bot.server.errors import ApiError
from bot.server.settings import ROLES, Settings

ALL_ROLES = ROLES
# operation -> roles allowed (admin may do everything)
ROUTE_ROLES: dict[str, tuple[str, ...]] = {
    "status": ALL_ROLES,
    "parse": ("admin", "editor", "supervisor"),
    "tracker_read": ("admin", "supervisor", "agent"),
    "tracker_write": ("admin", "supervisor"),
    "model_write": ("admin", "editor"),
    "kb_read": ("admin", "editor", "supervisor", "agent"),
    "kb_write": ("admin", "editor"),
}

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")
_query = APIKeyQuery(name="token", auto_error=False, description="API token as in Rasa: `?token=`")


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    anonymous: bool = False


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._tokens: list[tuple[bytes, str]] = [
            (t.token.encode(), t.role) for t in settings.api_tokens
        ]
        if settings.auth_token:
            self._tokens.append((settings.auth_token.encode(), "admin"))

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def identify(self, token: str | None) -> Principal:
        if not self._tokens:
            return Principal("admin", anonymous=True)
        if not token:
            raise ApiError(
                401,
                "unauthorized",
                "缺少访问令牌，请通过 ?token= 或 Authorization: Bearer 提供。",
                "missing token; pass ?token= or Authorization: Bearer",
            )
        given = token.encode("utf-8", "surrogatepass")
        role = None
        for secret, secret_role in self._tokens:  # compare with every token: no early exit
            if hmac.compare_digest(given, secret):
                role = secret_role
        if role is None:
            raise ApiError(401, "invalid_token", "访问令牌无效。", "invalid token")
        return Principal(role)

    def authorize(self, token: str | None, roles: tuple[str, ...]) -> Principal:
        principal = self.identify(token)
        if principal.role != "admin" and principal.role not in roles:
            raise ApiError(
                403,
                "forbidden",
                f"当前角色（{principal.role}）无权执行此操作。",
                f"role {principal.role!r} may not do this; allowed: {', '.join(roles)}",
            )
        return principal


def require_roles(operation: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's token must carry one of the operation's roles."""
    roles = ROUTE_ROLES[operation]

    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        token: Annotated[str | None, Security(_query)],
    ) -> Principal:
        auth: Authenticator = request.app.state.auth
        return auth.authorize(bearer.credentials if bearer else token, roles)

    return dependency
