"""Agent passwords (scrypt) and console login sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.handoff.agents import (
    AgentDirectory,
    AuthError,
    hash_password,
    token_hash,
    verify_password,
)
from bot.handoff.store import HandoffStore
from bot.handoff.types import Agent

NOW = 1_800_000_000.0
HASH = hash_password("s3cret-密码")
WANG = Agent("a1001", "王芳", groups=("账单",), password_hash=HASH)
NOPASS = Agent("a1002", "李雷", groups=("账单",))


@pytest.fixture
async def store() -> AsyncIterator[HandoffStore]:
    async with HandoffStore(":memory:") as s:
        yield s


@pytest.fixture
def directory(store: HandoffStore) -> AgentDirectory:
    return AgentDirectory([WANG, NOPASS], store, session_seconds=3600)


def test_hash_and_verify() -> None:
    scheme, salt, digest = HASH.split("$")
    assert scheme == "scrypt" and len(bytes.fromhex(salt)) == 16 and len(digest) == 64
    assert verify_password("s3cret-密码", HASH)
    assert not verify_password("s3cret", HASH)
    assert hash_password("x") != hash_password("x")  # salted
    assert hash_password("x", b"0" * 16) == hash_password("x", b"0" * 16)


@pytest.mark.parametrize(
    "stored",
    ["", "plain", "bcrypt$00$11", "scrypt$zz$00", "scrypt$00$", "scrypt$00$11$22", "a$b"],
)
def test_malformed_hashes_never_verify(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_token_hash() -> None:
    assert token_hash("abc") == token_hash("abc") != token_hash("abd")
    assert len(token_hash("abc")) == 64 and "abc" not in token_hash("abc")


async def test_login_ok(directory: AgentDirectory, store: HandoffStore) -> None:
    session = await directory.login("a1001", "s3cret-密码", NOW)
    assert session.agent is WANG and session.expires_at == NOW + 3600
    assert len(session.token) >= 32
    assert await store.session(token_hash(session.token)) == ("a1001", NOW + 3600)
    assert await store.session(session.token) is None  # only the hash is stored


@pytest.mark.parametrize(
    ("agent_id", "password"),
    [("a1001", "wrong"), ("a1001", ""), ("a9999", "s3cret-密码"), ("a1002", "")],
)
async def test_bad_login(directory: AgentDirectory, agent_id: str, password: str) -> None:
    with pytest.raises(AuthError) as info:
        await directory.login(agent_id, password, NOW)
    assert info.value.code == "invalid_login" and info.value.zh == "工号或密码错误。"


async def test_errors_are_fresh_each_time(directory: AgentDirectory) -> None:
    errors = []
    for _ in range(2):
        with pytest.raises(AuthError) as info:
            await directory.login("a9999", "x", NOW)
        errors.append(info.value)
    assert errors[0] is not errors[1]


async def test_resolve(directory: AgentDirectory) -> None:
    session = await directory.login("a1001", "s3cret-密码", NOW)
    assert await directory.resolve(session.token, NOW + 3599) is WANG


@pytest.mark.parametrize("token", [None, ""])
async def test_resolve_without_token(directory: AgentDirectory, token: str | None) -> None:
    with pytest.raises(AuthError) as info:
        await directory.resolve(token, NOW)
    assert info.value.code == "unauthorized" and "请先登录" in info.value.zh


async def test_resolve_expired(directory: AgentDirectory) -> None:
    session = await directory.login("a1001", "s3cret-密码", NOW)
    with pytest.raises(AuthError) as info:
        await directory.resolve(session.token, NOW + 3600)
    assert info.value.code == "session_expired" and "登录已过期" in info.value.zh


async def test_resolve_unknown_token(directory: AgentDirectory) -> None:
    with pytest.raises(AuthError) as info:
        await directory.resolve("not-a-token", NOW)
    assert info.value.code == "session_expired"


async def test_resolve_agent_removed_since(store: HandoffStore) -> None:
    before = AgentDirectory([WANG], store, 3600)
    session = await before.login("a1001", "s3cret-密码", NOW)
    after = AgentDirectory([NOPASS], store, 3600)  # a restart with a new configuration
    with pytest.raises(AuthError) as info:
        await after.resolve(session.token, NOW + 1)
    assert info.value.code == "session_expired"
    assert await before.resolve(session.token, NOW + 1) is WANG


async def test_logout(directory: AgentDirectory, store: HandoffStore) -> None:
    one = await directory.login("a1001", "s3cret-密码", NOW)
    two = await directory.login("a1001", "s3cret-密码", NOW)
    assert one.token != two.token
    await directory.logout(one.token)
    with pytest.raises(AuthError):
        await directory.resolve(one.token, NOW + 1)
    assert await directory.resolve(two.token, NOW + 1) is WANG  # other consoles stay in
    await directory.logout("unknown")  # harmless


def test_get(directory: AgentDirectory) -> None:
    assert directory.get("a1001") is WANG and directory.get("nobody") is None
