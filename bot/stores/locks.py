"""Per-conversation locks: turns of one conversation never interleave, others never wait.

`InMemoryLockStore` serves one process. `FileLockStore` extends the guarantee to every process
on the host that shares a directory, using POSIX byte-range locks on one lock file: each
conversation maps to one byte. POSIX locks belong to the whole process, so inside a process an
asyncio lock per byte comes first and only its holder touches the byte. The byte is taken with
non-blocking attempts and short async sleeps, so waiting never blocks the event loop; the kernel
drops the locks of a process that dies.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import os
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from bot.stores.base import StoreError

K = TypeVar("K", bound=Hashable)
Release = Callable[[], Awaitable[None]]
LOCK_FILE_NAME = "conversations.lock"


class LockTimeout(StoreError):
    """The lock of a conversation stayed taken for longer than the caller would wait."""

    def __init__(self, conversation_id: str, timeout: float) -> None:
        self.conversation_id, self.timeout = conversation_id, timeout
        super().__init__(
            f"会话 {conversation_id} 正在处理上一条消息，等待 {timeout:g} 秒后仍未完成，请稍后再试。",
            f"timed out after {timeout:g}s waiting for the lock of conversation "
            f"{conversation_id!r}.",
        )


class LockStore(ABC):
    @asynccontextmanager
    async def lock(self, conversation_id: str, timeout: float = 30.0) -> AsyncIterator[None]:
        """Hold the conversation's lock for the `async with` body; raises LockTimeout."""
        release = await self.acquire(conversation_id, max(timeout, 0.0))
        try:
            yield
        finally:
            await release()

    @abstractmethod
    async def acquire(self, conversation_id: str, timeout: float) -> Release:
        """Take the lock and return the coroutine function that gives it back."""

    @property
    @abstractmethod
    def active(self) -> int:
        """How many keys currently have a holder or a waiter in this process."""

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release resources; locks still held are lost."""


@dataclass(slots=True)
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holder + waiters; the slot is dropped when it reaches 0


class KeyedLocks(Generic[K]):
    """asyncio locks created on demand per key and dropped as soon as nobody uses them."""

    def __init__(self) -> None:
        self._slots: dict[K, _Slot] = {}

    def __len__(self) -> int:
        return len(self._slots)

    async def acquire(self, key: K, timeout: float) -> None:
        """Raises TimeoutError after `timeout` seconds; a free lock is taken even at 0."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.users += 1
        try:
            async with asyncio.timeout(timeout):
                await slot.lock.acquire()
        except BaseException:
            self._leave(key, slot)
            raise

    def release(self, key: K) -> None:
        slot = self._slots[key]
        slot.lock.release()
        self._leave(key, slot)

    def _leave(self, key: K, slot: _Slot) -> None:
        slot.users -= 1
        if slot.users == 0:
            del self._slots[key]


class InMemoryLockStore(LockStore):
    def __init__(self) -> None:
        self._locks: KeyedLocks[str] = KeyedLocks()

    @property
    def active(self) -> int:
        return len(self._locks)

    async def acquire(self, conversation_id: str, timeout: float) -> Release:
        try:
            await self._locks.acquire(conversation_id, timeout)
        except TimeoutError as exc:
            raise LockTimeout(conversation_id, timeout) from exc

        async def release() -> None:
            self._locks.release(conversation_id)

        return release


@dataclass(slots=True)
class _LockFile:
    """One open lock file per path and process: closing any descriptor of a file would drop
    all of the process's POSIX locks on it, so stores on the same path share this."""

    path: str
    fd: int
    local: KeyedLocks[int] = field(default_factory=KeyedLocks)
    stores: int = 0


_OPEN_FILES: dict[str, _LockFile] = {}
# A forked child inherits none of the parent's POSIX locks, nor may it reuse its asyncio locks.
os.register_at_fork(after_in_child=_OPEN_FILES.clear)


def _open_lock_file(path: str) -> _LockFile:
    shared = _OPEN_FILES.get(path)
    if shared is None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        shared = _OPEN_FILES[path] = _LockFile(path, fd)
    shared.stores += 1
    return shared


def _close_lock_file(shared: _LockFile) -> None:
    shared.stores -= 1
    if shared.stores == 0 and _OPEN_FILES.get(shared.path) is shared:
        del _OPEN_FILES[shared.path]
        os.close(shared.fd)


class FileLockStore(LockStore):
    """Cross-process locks for every process on this host that uses the same `directory`."""

    def __init__(
        self,
        directory: str | Path,
        slots: int = 2**31,
        poll_interval: float = 0.001,
        max_poll_interval: float = 0.02,
    ) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = os.path.realpath(Path(directory) / LOCK_FILE_NAME)
        self.slots = slots
        self.poll_interval, self.max_poll_interval = poll_interval, max_poll_interval
        self._file: _LockFile | None = _open_lock_file(self.path)

    def slot(self, conversation_id: str) -> int:
        """The byte standing for a conversation; stable across processes (unlike `hash`)."""
        digest = hashlib.blake2b(conversation_id.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.slots

    @property
    def active(self) -> int:
        return len(self._file.local) if self._file else 0

    def _open(self) -> _LockFile:
        if self._file is None:
            raise StoreError("会话锁存储已关闭，无法继续使用。", "the lock store is closed.")
        return self._file

    async def acquire(self, conversation_id: str, timeout: float) -> Release:
        shared = self._open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        slot = self.slot(conversation_id)
        try:
            await shared.local.acquire(slot, timeout)
        except TimeoutError as exc:
            raise LockTimeout(conversation_id, timeout) from exc
        try:
            await self._lock_byte(shared.fd, slot, deadline)
        except TimeoutError as exc:
            shared.local.release(slot)
            raise LockTimeout(conversation_id, timeout) from exc
        except BaseException:
            shared.local.release(slot)
            raise

        async def release() -> None:
            try:
                if shared.stores:  # else the descriptor is closed and the lock already gone
                    fcntl.lockf(shared.fd, fcntl.LOCK_UN, 1, slot, os.SEEK_SET)
            finally:
                shared.local.release(slot)

        return release

    async def _lock_byte(self, fd: int, slot: int, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        delay = self.poll_interval
        while not _try_lock(fd, slot):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            # Jitter keeps several waiting processes from polling in lockstep.
            await asyncio.sleep(min(delay * random.uniform(0.5, 1.5), remaining))
            delay = min(delay * 2, self.max_poll_interval)

    async def close(self) -> None:
        if self._file is not None:
            _close_lock_file(self._file)
            self._file = None


def _try_lock(fd: int, offset: int) -> bool:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset, os.SEEK_SET)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True
