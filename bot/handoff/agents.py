"""Agent accounts (from `handoff.agents`), passwords (scrypt) and console login sessions.

A login returns a random session token; the store keeps only its SHA-256 and expiry, so a
restart keeps agents logged in and a leaked database holds no usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from bot.handoff.store import HandoffStore
from bot.handoff.types import Agent

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        return False
    if scheme != "scrypt" or not 16 <= len(expected) <= 64:
        return False
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=len(expected))
    return hmac.compare_digest(digest, expected)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class AuthError(Exception):
    """Login or session problem; `.code` is stable, `.zh` / `.en` are for people."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        self.code, self.zh, self.en = code, zh, en
        super().__init__(en)


# a fresh exception each time: re-raising one shared instance would grow its traceback forever
def bad_login() -> AuthError:
    return AuthError("invalid_login", "工号或密码错误。", "wrong agent id or password")


def expired() -> AuthError:
    return AuthError("session_expired", "登录已过期，请重新登录。", "session expired; log in again")


@dataclass(frozen=True, slots=True)
class Session:
    agent: Agent
    token: str
    expires_at: float


class AgentDirectory:
    def __init__(self, agents: Iterable[Agent], store: HandoffStore, session_seconds: float):
        self.agents = {a.agent_id: a for a in agents}
        self.store = store
        self.session_seconds = session_seconds

    def get(self, agent_id: str) -> Agent | None:
        return self.agents.get(agent_id)

    async def login(self, agent_id: str, password: str, now: float) -> Session:
        agent = self.agents.get(agent_id)
        # verify against a dummy hash for unknown ids: same cost, no account probing
        stored = agent.password_hash if agent and agent.password_hash else _DUMMY
        ok = verify_password(password, stored)
        if agent is None or not agent.password_hash or not ok:
            raise bad_login()
        token = secrets.token_urlsafe(32)
        expires = now + self.session_seconds
        await self.store.create_session(token_hash(token), agent_id, expires)
        return Session(agent, token, expires)

    async def resolve(self, token: str | None, now: float) -> Agent:
        if not token:
            raise AuthError("unauthorized", "请先登录坐席工作台。", "log in first")
        found = await self.store.session(token_hash(token))
        if found is None or found[1] <= now:
            raise expired()
        agent = self.agents.get(found[0])
        if agent is None:  # removed from the configuration since
            raise expired()
        return agent

    async def logout(self, token: str) -> None:
        await self.store.delete_session(token_hash(token))


_DUMMY = hash_password("zhike-dummy-password", b"0123456789abcdef")
