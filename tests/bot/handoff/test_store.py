from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.handoff.store import HandoffConflict, HandoffStore, HandoffStoreError, WaitStats
from bot.handoff.store_schema import HANDOFF_COLUMNS, SCHEMA_VERSION
from bot.handoff.types import AgentPresence, Customer, Handoff, Rating, State, Ticket


def make(
    hid: str,
    conv: str | None = None,
    *,
    group: str = "售后",
    priority: int = 0,
    at: float = 100.0,
    state: State = State.QUEUED,
    customer: str = "13800000000",
) -> Handoff:
    return Handoff(
        handoff_id=hid,
        conversation_id=conv or f"conv-{hid}",
        channel="web",
        sender_id=f"s-{hid}",
        customer_id=customer,
        reason="customer_request",
        skill_group=group,
        state=state,
        priority=priority,
        created_at=at,
        queued_at=at,
    )


def ticket(created_at: float, hid: str = "h") -> Ticket:
    return Ticket("", hid, f"conv-{hid}", "cust", "timeout", "售后", "想退货，请回电", created_at)


def test_columns_follow_the_dataclass() -> None:
    assert tuple(f.name for f in fields(Handoff)) == HANDOFF_COLUMNS


async def test_create_get_roundtrip_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "handoff.db"
    h = make("h1")
    h.context = {"summary": "客户想退货 😊", "slots": {"订单号": "A123"}, "n": [1, 2]}
    h.survey_pending, h.agent_id, h.assigned_at = True, "a1", 101.5
    async with HandoffStore(path) as store:
        created = await store.create(h)
        assert created.version == 1 and h.version == 0
    async with HandoffStore(path) as store:
        got = await store.get("h1")
    assert got == created
    assert got is not None and got.state is State.QUEUED and got.survey_pending is True
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw = conn.execute("SELECT context FROM handoffs").fetchone()[0]
        assert "客户想退货 😊" in raw  # ensure_ascii=False
        conn.execute("UPDATE handoff_meta SET value = 99 WHERE key = 'schema_version'")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(HandoffStoreError, match="99") as info:
        async with HandoffStore(path) as store:
            await store.get("h1")
    assert info.value.code == "schema" and SCHEMA_VERSION == 1


async def test_compare_and_set_update() -> None:
    async with HandoffStore(":memory:") as store:
        v1 = await store.create(make("h1"))
        v2 = await store.update(replace(v1, state=State.ASSIGNED, agent_id="a1", attempts=1))
        assert v2.version == 2
        stored = await store.get("h1")
        assert stored == v2 and stored.agent_id == "a1" and stored.attempts == 1
        with pytest.raises(HandoffConflict) as info:
            await store.update(replace(v1, state=State.CANCELLED))  # stale version 1
        assert info.value.code == "conflict" and "h1" in info.value.zh
        assert await store.get("h1") == v2  # the stale write changed nothing
        with pytest.raises(HandoffStoreError) as missing:
            await store.update(make("nope"))
        assert missing.value.code == "not_found"
        with pytest.raises(HandoffConflict):
            await store.create(make("h1", "other-conv"))  # the same id twice


async def test_one_active_handoff_per_conversation(tmp_path: Path) -> None:
    async with HandoffStore(tmp_path / "h.db") as store:
        first = await store.create(make("h1", "c"))
        with pytest.raises(HandoffConflict, match="c"):
            await store.create(make("h2", "c", at=200.0))
        assert await store.active_for("c") == first
        ended = await store.update(replace(first, state=State.ENDED, ended_at=150.0))
        assert await store.active_for("c") is None
        second = await store.create(make("h2", "c", at=200.0))
        assert await store.active_for("c") == second
        assert await store.latest_for("c") == second
        with pytest.raises(HandoffConflict):  # re-activating the ended one would make two
            await store.update(replace(ended, state=State.QUEUED))
        assert await store.latest_for("nobody") is None


async def test_queue_order_requeue_and_position() -> None:
    async with HandoffStore(":memory:") as store:
        a = await store.create(make("a", at=10.0))
        await store.create(make("b", at=20.0))
        await store.create(make("vip", at=30.0, priority=5))
        await store.create(make("other", group="售前", at=5.0))
        c = await store.create(make("c", at=40.0))
        assert [h.handoff_id for h in await store.queue("售后")] == ["vip", "a", "b", "c"]
        assert [h.handoff_id for h in await store.queue()] == ["vip", "other", "a", "b", "c"]
        assert [await store.position(h) for h in await store.queue("售后")] == [1, 2, 3, 4]
        assert await store.position(await store.create(make("x", group="售前", at=1.0))) == 1
        # offered to an agent, not accepted in time: back in the queue, keeping its queued_at
        offered = await store.update(replace(a, state=State.ASSIGNED, agent_id="a1"))
        assert await store.position(offered) == 0
        assert await store.position(c) == 3
        await store.update(replace(offered, state=State.QUEUED, agent_id=None, attempts=1))
        assert [h.handoff_id for h in await store.queue("售后")] == ["vip", "a", "b", "c"]
        assert await store.position(c) == 4
        assert await store.queue("无此组") == []


async def test_find_active_load_counts() -> None:
    async with HandoffStore(":memory:") as store:
        q = await store.create(make("q", at=1.0, customer="u1"))
        a = await store.create(make("a", at=2.0, customer="u2"))
        w = await store.create(make("w", at=3.0, group="售前", customer="u1"))
        e = await store.create(make("e", at=4.0, customer="u1"))
        await store.update(replace(a, state=State.ASSIGNED, agent_id="ag"))
        await store.update(replace(w, state=State.WITH_AGENT, agent_id="ag"))
        await store.update(replace(e, state=State.ENDED, agent_id="ag"))
        ids = [h.handoff_id for h in await store.find()]
        assert ids == ["e", "w", "a", "q"]
        assert [h.handoff_id for h in await store.find(agent_id="ag")] == ["e", "w", "a"]
        assert [h.handoff_id for h in await store.find(customer_id="u1", group="售后")] == [
            "e",
            "q",
        ]
        found = await store.find(states=[State.QUEUED, State.ENDED], limit=1, offset=1)
        assert [h.handoff_id for h in found] == ["q"]
        assert await store.find(states=[]) == []
        assert [h.handoff_id for h in await store.find(conversation_id="conv-w")] == ["w"]
        assert [h.handoff_id for h in await store.active()] == ["q", "a", "w"]
        assert await store.load_of("ag") == 2 and await store.load_of("nobody") == 0
        assert await store.counts() == {"queued": 1, "assigned": 1, "with_agent": 1}
        with pytest.raises(ValueError):
            await store.find(limit=-1)
        assert q.version == 1


async def test_customers_and_ratings(tmp_path: Path) -> None:
    async with HandoffStore(tmp_path / "h.db") as store:
        assert await store.customer("u1") is None
        c = Customer("u1", "张三", "13800000000", "金卡", attributes={"城市": "杭州"})
        await store.save_customer(c)
        await store.save_customer(replace(c, difficult=True))
        assert await store.customer("u1") == replace(c, difficult=True)
        await store.add_rating(Rating("h1", "u1", "a1", 2, 5, 100.0))
        await store.add_rating(Rating("h1", "u1", "a2", 3, 4, 110.0))
        await store.add_rating(Rating("h2", "u1", "a1", None, None, 200.0))
        await store.add_rating(Rating("h3", "u2", "a1", 5, 1, 300.0))
        with pytest.raises(HandoffConflict):
            await store.add_rating(Rating("h1", "u1", "a1", 1, 1, 120.0))
        mine = await store.ratings_for("u1")
        assert [(r.handoff_id, r.agent_id) for r in mine] == [
            ("h2", "a1"),
            ("h1", "a2"),
            ("h1", "a1"),
        ]
        assert mine[0].satisfaction is None and mine[2].difficulty == 5
        assert [r.created_at for r in await store.ratings_for("u1", since=110.0)] == [200.0, 110.0]


async def test_ticket_numbers_per_beijing_day() -> None:
    end_of_day = datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC).timestamp()
    async with HandoffStore(":memory:") as store:
        first = await store.create_ticket(ticket(end_of_day, "h1"))
        second = await store.create_ticket(ticket(end_of_day - 3600, "h2"))
        next_day = await store.create_ticket(ticket(end_of_day + 1, "h3"))
        assert (first.ticket_no, second.ticket_no) == ("GD20261123-0001", "GD20261123-0002")
        assert next_day.ticket_no == "GD20261124-0001"
        assert await store.ticket("GD20261123-0002") == second
        assert await store.ticket("GD19700101-0001") is None
        assert [t.ticket_no for t in await store.tickets()] == [
            "GD20261124-0001",
            "GD20261123-0001",
            "GD20261123-0002",
        ]
        assert await store.tickets(status="closed") == []
        assert [t.handoff_id for t in await store.tickets(status="open", limit=1, offset=2)] == [
            "h2"
        ]


async def test_two_instances_share_writes_and_never_share_ticket_numbers(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    day = datetime(2026, 11, 23, 4, tzinfo=UTC).timestamp()
    async with HandoffStore(path) as a, HandoffStore(path) as b:
        created = await a.create(make("h1", "c"))
        assert await b.active_for("c") == created
        before = await b.revision()
        updated = await b.update(replace(created, state=State.ASSIGNED, agent_id="ag"))
        assert await a.revision() == before + 1
        with pytest.raises(HandoffConflict):
            await a.update(replace(created, state=State.CANCELLED))
        with pytest.raises(HandoffConflict):
            await a.create(make("h2", "c"))
        assert await a.load_of("ag") == 1 and await a.get("h1") == updated
        batch = [s.create_ticket(ticket(day + i, f"t{i}")) for i in range(20) for s in (a, b)]
        made = await asyncio.gather(*batch)
    numbers = [t.ticket_no for t in made]
    assert len(set(numbers)) == 40
    assert sorted(numbers) == [f"GD20261123-{i:04d}" for i in range(1, 41)]


async def test_presence_sessions_and_revision() -> None:
    async with HandoffStore(":memory:") as store:
        rev = await store.revision()
        assert await store.presence("a1") is None
        await store.save_presence(AgentPresence("a2", True, 50.0, 60.0))
        await store.save_presence(AgentPresence("a1", True, 10.0, 20.0))
        await store.save_presence(AgentPresence("a1", False, 10.0, 30.0))
        assert await store.presence("a1") == AgentPresence("a1", False, 10.0, 30.0)
        assert [p.agent_id for p in await store.presences()] == ["a1", "a2"]
        assert await store.revision() == rev + 3
        token = hashlib.sha256(b"secret-token").hexdigest()
        await store.create_session(token, "a1", 1000.0)
        await store.create_session("old", "a2", 10.0)
        assert await store.session(token) == ("a1", 1000.0)
        assert await store.purge_sessions(now=500.0) == 1
        assert await store.session("old") is None
        await store.delete_session(token)
        assert await store.session(token) is None
        assert await store.revision() > rev + 3


async def test_wait_stats() -> None:
    async with HandoffStore(":memory:") as store:
        old = await store.create(make("old", at=10.0))
        await store.update(replace(old, state=State.ENDED, accepted_at=500.0))  # before `since`
        fast = await store.create(make("fast", at=100.0))
        await store.update(replace(fast, state=State.WITH_AGENT, accepted_at=110.0))
        slow = await store.create(make("slow", at=100.0))
        await store.update(replace(slow, state=State.ENDED, accepted_at=190.0))
        gone = await store.create(make("gone", at=120.0))
        await store.update(replace(gone, state=State.CANCELLED, ended_at=130.0))
        late = await store.create(make("late", at=130.0))
        await store.update(replace(late, state=State.TICKET, ticket_no="GD1"))
        await store.create(make("waiting", at=140.0))
        stats = await store.wait_stats(since=100.0)
        assert stats == WaitStats(5, 2, 1, 1, 1, 50.0, 90.0)
        assert stats.service_level == pytest.approx(0.2)
        assert await store.wait_stats(since=1e9) == WaitStats()


async def test_closed_store_refuses_and_close_is_idempotent() -> None:
    store = HandoffStore(":memory:")
    await store.create(make("h1"))
    await store.close()
    await store.close()
    with pytest.raises(HandoffStoreError) as info:
        await store.get("h1")
    assert info.value.code == "closed" and info.value.en
