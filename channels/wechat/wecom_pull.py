"""Pulling 微信客服 messages: WeCom's callback only says "there is something new"; the
messages themselves are read with `sync_msg`, page by page, from a saved cursor.

- One pull at a time per customer-service account: one pull loop per account in this process,
  and across workers a lease in the shared `ChannelState` (`wecom-pull:<open_kfid>`), renewed
  while the pull runs and released after it. A worker that finds the lease taken waits for it
  (the holder may have read its last page before our callback's message arrived).
- A pull asked for while one runs is not lost: the request is remembered (with the newest
  callback token) and the loop pulls once more when the current pull ends.
- Each message is claimed (`ChannelState.claim("wecom", msgid)`) *before* it is handled, so
  it is never answered twice — not after a WeCom retry, a second worker, a crash or a restart
  that pulls the same page again. The trade-off: a message whose handling fails (or whose
  worker dies mid-turn) is not retried; it is logged with its msgid instead. A customer gets
  at most one answer rather than possibly two, and a failing message never blocks the cursor.
- The cursor is saved after every page whose messages were all handled or skipped; when the
  channel closes mid-page, the rest of the page is pulled again at the next start (claims keep
  the handled ones from being repeated).
- Within a page, messages of different customers are handled concurrently (bounded), those of
  one customer in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

from channels.wechat.kf_api import KfAPI, KfMessage
from channels.wechat.state import ChannelState

log = logging.getLogger(__name__)

CLAIM_SCOPE = "wecom"
Handler = Callable[[KfMessage], Awaitable[None]]


def cursor_scope(open_kfid: str) -> str:
    return f"wecom:{open_kfid}"


def lease_name(open_kfid: str) -> str:
    return f"wecom-pull:{open_kfid}"


class Puller:
    def __init__(
        self,
        api: KfAPI,
        state: ChannelState,
        handle: Handler,
        *,
        lease_ttl: float = 120.0,
        lease_wait: float = 150.0,
        lease_poll: float = 0.25,
        concurrency: int = 16,
        sync_limit: int = 1000,
    ) -> None:
        self.api, self.state, self.handle = api, state, handle
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_ttl, self.lease_wait, self.lease_poll = lease_ttl, lease_wait, lease_poll
        self._limit = asyncio.Semaphore(concurrency)
        self.sync_limit = sync_limit
        self._wanted: dict[str, str | None] = {}  # account → newest callback token (or None)
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._periodic: asyncio.Task[None] | None = None
        self.closing = False

    # ------------------------------------------------------------ scheduling
    def schedule(self, open_kfid: str, token: str | None = None) -> None:
        """Pull `open_kfid` soon (in the background); coalesces with a pull under way."""
        if self.closing:
            return
        self._wanted[open_kfid] = token or self._wanted.get(open_kfid)
        if open_kfid not in self._loops:
            task = asyncio.create_task(self._loop(open_kfid), name=f"wecom-pull-{open_kfid}")
            self._loops[open_kfid] = task

    def every(self, interval: float, open_kfid: str) -> None:
        """Also pull `open_kfid` every `interval` seconds (a safety net for lost callbacks)."""
        if interval > 0 and self._periodic is None:
            self._periodic = asyncio.create_task(
                self._every(interval, open_kfid), name="wecom-pull-periodic"
            )

    async def _every(self, interval: float, open_kfid: str) -> None:
        while not self.closing:
            await asyncio.sleep(interval)
            self.schedule(open_kfid)

    async def _loop(self, open_kfid: str) -> None:
        try:
            while open_kfid in self._wanted and not self.closing:
                token = self._wanted.pop(open_kfid)
                try:
                    await self.pull(open_kfid, token)
                except Exception:
                    log.exception("wecom: pulling %s failed", open_kfid)
        finally:
            self._loops.pop(open_kfid, None)

    async def idle(self) -> None:
        """Wait until no pull is scheduled or running."""
        while self._loops:
            await asyncio.wait(list(self._loops.values()))

    # ------------------------------------------------------------ one pull
    async def pull(self, open_kfid: str, token: str | None = None) -> int:
        """Read every new message of `open_kfid` and handle it; how many were handled."""
        lock = self._locks.setdefault(open_kfid, asyncio.Lock())
        async with lock:
            name = lease_name(open_kfid)
            if not await self._take(name):
                log.warning("wecom: %s is still being pulled by another worker", open_kfid)
                return 0
            heartbeat = asyncio.create_task(self._renew(name), name="wecom-lease")
            try:
                return await self._drain(open_kfid, token)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
                await self.state.release(name, self.owner)

    async def _take(self, name: str) -> bool:
        deadline = time.monotonic() + self.lease_wait
        while not self.closing:
            if await self.state.lease(name, self.owner, self.lease_ttl):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.lease_poll)
        return False

    async def _renew(self, name: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            if not await self.state.lease(name, self.owner, self.lease_ttl):
                log.warning("wecom: lost the pull lease %s", name)

    async def _drain(self, open_kfid: str, token: str | None) -> int:
        scope, handled = cursor_scope(open_kfid), 0
        while not self.closing:
            cursor = await self.state.cursor(scope)
            page = await self.api.sync_msg(
                cursor=cursor, token=token, open_kfid=open_kfid, limit=self.sync_limit
            )
            done, count = await self._page(page.messages)
            handled += count
            if not done:  # closing mid-page: the rest is pulled again next time
                break
            if page.next_cursor and page.next_cursor != cursor:
                await self.state.save_cursor(scope, page.next_cursor)
            if not page.has_more:
                break
        return handled

    async def _page(self, messages: list[KfMessage]) -> tuple[bool, int]:
        """Handle a page; (all handled or skipped, how many handled)."""
        groups: dict[str, list[KfMessage]] = {}
        for msg in messages:
            groups.setdefault(msg.external_userid or msg.msgid, []).append(msg)
        results = await asyncio.gather(*(self._group(g) for g in groups.values()))
        return all(done for done, _ in results), sum(n for _, n in results)

    async def _group(self, messages: list[KfMessage]) -> tuple[bool, int]:
        handled = 0
        async with self._limit:
            for msg in messages:
                if self.closing:
                    return False, handled
                handled += await self._one(msg)
        return True, handled

    async def _one(self, msg: KfMessage) -> int:
        if not msg.msgid:
            log.warning("wecom: a message without msgid was skipped (%s)", msg.msgtype)
            return 0
        try:
            if not await self.state.claim(CLAIM_SCOPE, msg.msgid):
                return 0  # answered before (a retry, another worker, a restart)
            await self.handle(msg)
        except Exception:
            log.exception("wecom: message %s (%s) failed", msg.msgid, msg.msgtype)
        return 1

    # ------------------------------------------------------------ shutdown
    async def close(self, timeout: float) -> None:
        """Stop scheduling, let turns under way finish (up to `timeout`), cancel the rest."""
        self.closing = True
        tasks = [t for t in (self._periodic, *self._loops.values()) if t is not None]
        if self._periodic is not None:
            self._periodic.cancel()
        pending: set[asyncio.Task[None]] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
