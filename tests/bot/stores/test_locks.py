from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import AsyncIterator
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import pytest

from bot.stores import FileLockStore, InMemoryLockStore, LockStore, LockTimeout


@pytest.fixture(params=["memory", "file"])
async def locks(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LockStore]:
    store: LockStore = InMemoryLockStore() if request.param == "memory" else FileLockStore(tmp_path)
    yield store
    await store.close()


async def test_turns_of_one_conversation_never_interleave(locks: LockStore) -> None:
    log: list[str] = []

    async def turn(name: str) -> None:
        async with locks.lock("会话1"):
            log.append(f"{name}+")
            for _ in range(3):
                await asyncio.sleep(0)
            log.append(f"{name}-")

    await asyncio.gather(*(turn(str(i)) for i in range(4)))
    assert log == ["0+", "0-", "1+", "1-", "2+", "2-", "3+", "3-"]  # exclusive and FIFO


async def test_other_conversations_do_not_wait(locks: LockStore) -> None:
    async with locks.lock("a"), locks.lock("b", timeout=0), locks.lock("c", timeout=0):
        assert locks.active == 3


async def test_timeout_raises_bilingual_lock_timeout(locks: LockStore) -> None:
    async with locks.lock("a"):
        with pytest.raises(LockTimeout) as caught:
            async with locks.lock("a", timeout=0.05):
                pytest.fail("lock should not be granted")
        assert caught.value.conversation_id == "a"
        assert "请稍后再试" in str(caught.value) and "timed out" in str(caught.value)
        assert locks.active == 1
    async with locks.lock("a", timeout=0):
        pass


async def test_no_lock_leaks_after_use_errors_timeouts_and_cancels(locks: LockStore) -> None:
    for i in range(200):
        async with locks.lock(f"c{i}"):
            pass
    with pytest.raises(RuntimeError):
        async with locks.lock("boom"):
            raise RuntimeError("turn failed")
    async with locks.lock("held"):
        with pytest.raises(LockTimeout):
            await locks.acquire("held", 0.01)
        waiter = asyncio.create_task(locks.acquire("held", 5))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert locks.active == 0
    async with locks.lock("boom", timeout=0), locks.lock("held", timeout=0):
        pass
    assert locks.active == 0


async def test_file_lock_slot_is_stable_across_processes(tmp_path: Path) -> None:
    store = FileLockStore(tmp_path)
    assert store.slot("用户-1") == 886622862  # built-in hash() would differ per process
    assert 0 <= store.slot("x") < store.slots
    await store.close()


def _count_worker(directory: str, rounds: int) -> None:
    async def turn(store: FileLockStore) -> None:
        counter, marker = Path(directory) / "counter", Path(directory) / "inside"
        for _ in range(rounds):
            async with store.lock("shared", timeout=20):
                fd = os.open(marker, os.O_CREAT | os.O_EXCL)  # fails if another holder is inside
                value = int(counter.read_text())
                await asyncio.sleep(0)
                counter.write_text(str(value + 1))
                os.close(fd)
                marker.unlink()

    async def run() -> None:
        store = FileLockStore(directory)
        await asyncio.gather(turn(store), turn(store))
        await store.close()

    asyncio.run(run())


def test_file_lock_excludes_across_processes(tmp_path: Path) -> None:
    (tmp_path / "counter").write_text("0")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_count_worker, args=(str(tmp_path), 40)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    assert int((tmp_path / "counter").read_text()) == 3 * 2 * 40


def _hold_worker(directory: str, held: MpEvent, done: MpEvent) -> None:
    async def run() -> None:
        store = FileLockStore(directory)
        await store.acquire("会话", 5)
        held.set()
        done.wait(10)
        os._exit(0)  # die holding the lock: the kernel must release it

    asyncio.run(run())


async def test_file_lock_times_out_on_other_process_and_survives_its_death(
    tmp_path: Path,
) -> None:
    ctx = multiprocessing.get_context("fork")
    held, done = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_worker, args=(str(tmp_path), held, done))
    proc.start()
    store = FileLockStore(tmp_path)
    try:
        assert await asyncio.to_thread(held.wait, 10)
        with pytest.raises(LockTimeout):
            await store.acquire("会话", 0.1)
        async with store.lock("其他会话", timeout=0):
            pass
        assert store.active == 0
        done.set()
        await asyncio.to_thread(proc.join, 10)
        async with store.lock("会话", timeout=2):
            pass
    finally:
        done.set()
        proc.join(10)
        await store.close()


def _try_worker(directory: str) -> None:
    async def run() -> None:
        store = FileLockStore(directory)
        try:
            await store.acquire("a", 0.05)
        except LockTimeout:
            os._exit(3)
        os._exit(0)

    asyncio.run(run())


async def test_file_stores_sharing_a_directory_in_one_process(tmp_path: Path) -> None:
    first, second = FileLockStore(tmp_path), FileLockStore(tmp_path)
    async with first.lock("a"):
        with pytest.raises(LockTimeout):  # same process, same file: still exclusive
            await second.acquire("a", 0.02)
        await second.close()  # must not drop the lock `first` holds
        proc = multiprocessing.get_context("fork").Process(
            target=_try_worker, args=(str(tmp_path),)
        )
        proc.start()
        await asyncio.to_thread(proc.join, 10)
        assert proc.exitcode == 3
    await first.close()
