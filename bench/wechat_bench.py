"""WeChat channels benchmark (writes bench/results/wechat.json; ~1.5 min on 2 cores).

(a) 公众号 passive replies over real HTTP (`POST /webhooks/wechat`): 50 customers, each
    sending its next message 1–3 s after the previous reply, in plain mode (signed XML) and
    in safe mode (AES envelope; the client decrypts the reply with wechatpy, inside the
    measured time); the same load on the REST channel is the baseline. 3 rounds of 6 s per
    transport, interleaved, so the shared machine's background load falls on all three;
(b) the crypto / XML work alone, in-process: `MessageCrypto.decrypt`, `parse_xml`,
    `message_from_fields`, `text_reply`, `MessageCrypto.encrypt` (µs per message, median),
    and the once-per-MsgId claim in the shared channel state (SQLite), which REST skips;
(c) 企业微信 微信客服: a customer message is put into the fake WeCom API, the encrypted
    `kf_msg_or_event` callback is posted, and we time until the fake records the `send_msg`
    answering it (20 customers × 5 messages, 0.5–1.5 s apart).

One server worker (the reference bot, channels rest + wechat in compatible mode, so the one
server takes plain and AES posts + wecom) runs in a child process pinned to CPU 0; the load
client and the fake WeChat API (`bot.testing.wechat_server.FakeWeChat`, in a thread) run here
on the other CPU. Requests are built with `tests/channels/wechat/samples.py` (wechatpy).
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import wechatpy
from wechatpy.crypto import WeChatCrypto

from bench.common import ROOT, percentiles, write_result
from bench.http_bench import (
    SCRIPTS,
    THINK,
    TURN_TIMEOUT,
    Tally,
    Turn,
    client_cpus,
    env_for,
    rest_turn,
    timed,
    wait_ready,
)
from bot.testing.wechat_server import FakeWeChat
from channels.wechat.crypto import MessageCrypto, check_signature
from channels.wechat.state import ChannelState
from channels.wechat.xmlmsg import message_from_fields, parse_xml, text_reply
from tests.channels.wechat import samples as s

HOST = "127.0.0.1"
CUSTOMERS, ROUNDS, ROUND_SECONDS = 50, 3, 6.0  # per transport: 3 interleaved 6 s rounds
TRANSPORTS = ("rest", "wechat_plain", "wechat_safe")
KF_CUSTOMERS, KF_MESSAGES, KF_THINK = 20, 5, (0.5, 1.5)
CRYPTO_ROUNDS = 3000
APP_SECRET, KF_SECRET, KFID = "bench-app-secret", "bench-kf-secret", "wkZhikeBenchKf0001"
# handoff excluded: its passive reply depends on agents being online, not on the channel
TEXTS = tuple(script for script in SCRIPTS if "转人工" not in script)
REPLY = "您好，您本月话费余额为 320.00 元，本月已用流量 12.5 GB。如需充值，请回复“充值”。"
Prepare = Callable[[str], Turn]


def fake_wechat() -> FakeWeChat:
    return FakeWeChat(
        app_id=s.APP_ID, app_secret=APP_SECRET, corp_id=s.CORP_ID, kf_secret=KF_SECRET
    )


# ---------------------------------------------------------------- server (child process)
def serve(tmp: str, fake_url: str) -> None:
    """Child process: one server worker until stdin closes; prints its URL."""
    from bot.server.app import create_app
    from bot.server.live import LiveServer
    from bot.server.settings import load_settings

    keys = {"token": s.TOKEN, "encoding_aes_key": s.AES_KEY, "api_base_url": fake_url}
    wechat = {**keys, "app_id": s.APP_ID, "app_secret": APP_SECRET, "mode": "compatible"}
    wecom = {**keys, "corp_id": s.CORP_ID, "secret": KF_SECRET, "open_kfid": KFID}
    overrides: dict[str, Any] = {
        "tracker_store": f"sqlite:///{tmp}/trackers.db",
        "model_poll_seconds": 0,
        "log_format": "text",
        "log_level": "WARNING",
        "channels": ("rest", "wechat", "wecom"),
        "channel_config": {"wechat": wechat, "wecom": wecom},
        "handoff": {"db": f"{tmp}/handoff.db"},
    }
    settings = load_settings(ROOT, env={}, overrides=overrides)
    with LiveServer(create_app(settings), host=HOST) as server:
        print(server.url, flush=True)
        sys.stdin.read()


@contextmanager
def server(tmp: Path, fake_url: str) -> Iterator[str]:
    cmd = [sys.executable, "-m", "bench.wechat_bench", "--serve", str(tmp), fake_url]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", "0", *cmd]
    child = subprocess.Popen(
        cmd, cwd=ROOT, env=env_for(tmp), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the server child did not start")
        yield url
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(60)


# ---------------------------------------------------------------- (a) 公众号 passive replies
def oa_prepare(session: aiohttp.ClientSession, url: str, openid: str, safe: bool) -> Prepare:
    """Build the signed (or encrypted) push for `text`; the returned turn only sends it."""
    crypto = WeChatCrypto(s.TOKEN, s.AES_KEY, s.APP_ID)

    def prepare(text: str) -> Turn:
        now = int(time.time())
        inner = s.oa_text(text, from_user=openid, msg_id=str(time.time_ns()), create_time=now)
        nonce = str(random.randrange(10**9))
        build = s.oa_encrypted if safe else s.oa_plain
        request = build(inner, timestamp=str(now), nonce=nonce, openid=openid)

        async def turn(_: str) -> None:
            post = session.post(url + "/webhooks/wechat", params=request.query, data=request.body)
            async with post as response:
                reply = await response.text()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            if safe and reply.startswith("<xml>"):
                env = parse_xml(reply)
                reply = crypto.decrypt_message(
                    reply, env["MsgSignature"], env["TimeStamp"], env["Nonce"]
                )
            if "<Content>" not in reply:
                raise RuntimeError("no passive reply")  # "success": sent as 客服消息 instead

        return turn

    return prepare


async def converse(tally: Tally, prepare: Prepare, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0.0, THINK[1]))  # staggered arrivals
    while True:
        for text in rng.choice(TEXTS):
            if time.monotonic() >= deadline:
                return
            await timed(tally, prepare(text), text)  # the request is built before the clock
            await asyncio.sleep(min(rng.uniform(*THINK), max(0.0, deadline - time.monotonic())))


async def drive(url: str, transport: str, seconds: float, tally: Tally, seed: int) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        def prepare_for(i: int) -> Prepare:
            if transport == "rest":
                turn = rest_turn(session, url, f"bench-{uuid.uuid4().hex}")
                return lambda _: turn
            openid = f"oBench{uuid.uuid4().hex[:22]}"
            return oa_prepare(session, url, openid, safe=transport == "wechat_safe")

        await asyncio.gather(
            *(converse(tally, prepare_for(i), deadline, seed + i) for i in range(CUSTOMERS))
        )


def measure(url: str) -> dict[str, Any]:
    """The transports in interleaved rounds (rotating order): the shared machine's background
    load falls on all three alike. Within a round, every transport replays the same customers'
    scripts and think times (same seeds)."""
    tallies = {t: Tally() for t in TRANSPORTS}
    seconds = dict.fromkeys(TRANSPORTS, 0.0)
    for r in range(ROUNDS):
        for transport in TRANSPORTS[r:] + TRANSPORTS[:r]:
            start = time.monotonic()
            asyncio.run(drive(url, transport, ROUND_SECONDS, tallies[transport], 1000 * r))
            seconds[transport] += time.monotonic() - start
    return {t: {"rounds": ROUNDS, **tallies[t].summary(seconds[t])} for t in TRANSPORTS}


# ---------------------------------------------------------------- (b) crypto / XML alone
def crypto_costs(rounds: int = CRYPTO_ROUNDS) -> dict[str, Any]:
    """Median µs per step for one text message, safe mode and plain mode."""
    crypto = MessageCrypto(s.TOKEN, s.AES_KEY, s.APP_ID)
    ts, nonce = str(int(time.time())), s.NONCE
    inner = s.oa_text("我想查一下话费，顺便看看流量还剩多少")
    safe_req = s.oa_encrypted(inner, timestamp=ts, nonce=nonce)
    plain_req = s.oa_plain(inner, timestamp=ts, nonce=nonce)
    body, msg_sig = safe_req.body.encode(), safe_req.query["msg_signature"]
    steps: dict[str, Callable[[Any], Any]] = {
        "parse_envelope": lambda _: parse_xml(body),
        "decrypt": lambda env: crypto.decrypt(env, msg_sig, ts, nonce),
        "parse_inner": parse_xml,
        "message_from_fields": message_from_fields,
        "text_reply": lambda msg: text_reply(msg.from_user, msg.to_user, REPLY, int(ts)),
        "encrypt": lambda xml: crypto.encrypt(xml, nonce, ts),
    }
    plain_body, signature = plain_req.body.encode(), plain_req.query["signature"]
    plain_steps: dict[str, Callable[[Any], Any]] = {
        "check_signature": lambda _: check_signature(signature, s.TOKEN, ts, nonce),
        "parse_xml": lambda _: parse_xml(plain_body),
        "message_from_fields": message_from_fields,
        "text_reply": lambda msg: text_reply(msg.from_user, msg.to_user, REPLY, int(ts)),
    }
    return {
        "rounds": rounds,
        "message_bytes": len(inner.encode()),
        "reply_bytes": len(text_reply(s.OPENID, s.OA_ID, REPLY, int(ts)).encode()),
        "safe_us": _chain(steps, rounds),
        "plain_us": _chain(plain_steps, rounds),
    }


def _chain(steps: dict[str, Callable[[Any], Any]], rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in [*steps, "total"]}
    for _ in range(rounds):
        value: Any = None
        total = 0.0
        for name, step in steps.items():
            start = time.perf_counter()
            value = step(value)
            took = (time.perf_counter() - start) * 1e6
            samples[name].append(took)
            total += took
        samples["total"].append(total)
    return {name: round(statistics.median(v), 1) for name, v in samples.items()}


async def claim_cost(path: Path, rounds: int = 300) -> float:
    """Median µs of `ChannelState.claim` (the retry guard every 公众号 message passes)."""
    state, samples = ChannelState(path), []
    for i in range(rounds):
        start = time.perf_counter()
        await state.claim("bench", f"{s.APP_ID}:{i}")
        samples.append((time.perf_counter() - start) * 1e6)
    await state.close()
    return round(statistics.median(samples), 1)


# ---------------------------------------------------------------- (c) 微信客服 callback → send_msg
class SendWatch:
    """One poller over `fake.kf_sent`: resolves the waiter of each customer's next reply."""

    def __init__(self, fake: FakeWeChat) -> None:
        self.fake, self.seen = fake, 0
        self.waiters: dict[str, asyncio.Future[float]] = {}

    def expect(self, user: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[user] = future
        return future

    async def poll(self) -> None:
        while True:
            sent = self.fake.kf_sent
            now = time.perf_counter()
            for item in sent[self.seen :]:
                future = self.waiters.pop(str(item.body.get("touser")), None)
                if future is not None and not future.done():
                    future.set_result(now)
            self.seen = len(sent)
            await asyncio.sleep(0.002)


async def kf_customer(
    session: aiohttp.ClientSession, url: str, fake: FakeWeChat, watch: SendWatch, tally: Tally
) -> list[float]:
    user, rng, acks = f"wmBench{uuid.uuid4().hex[:20]}", random.Random(), []
    script = [t for _ in range(KF_MESSAGES) for t in rng.choice(TEXTS)][:KF_MESSAGES]
    await asyncio.sleep(rng.uniform(0.0, KF_THINK[1]))
    for text in script:
        inner = s.kf_msg_or_event(s.KF_TOKEN, KFID, to_user=s.CORP_ID)
        request = s.wecom_encrypted(inner, timestamp=str(int(time.time())), nonce=str(rng.random()))
        replied = watch.expect(user)
        start = time.perf_counter()
        fake.push_kf(KFID, user, text)
        async with session.post(
            url + "/webhooks/wecom", params=request.query, data=request.body
        ) as response:
            await response.read()
        acks.append((time.perf_counter() - start) * 1000)
        try:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            tally.latencies_ms.append(
                (await asyncio.wait_for(replied, TURN_TIMEOUT) - start) * 1000
            )
        except (TimeoutError, RuntimeError) as exc:
            tally.error(type(exc).__name__)
        await asyncio.sleep(rng.uniform(*KF_THINK))
    return acks


async def kf_latency(url: str, fake: FakeWeChat) -> dict[str, Any]:
    watch, tally = SendWatch(fake), Tally()
    poller = asyncio.create_task(watch.poll())
    start = time.monotonic()
    async with aiohttp.ClientSession() as session:
        acks = await asyncio.gather(
            *(kf_customer(session, url, fake, watch, tally) for _ in range(KF_CUSTOMERS))
        )
    poller.cancel()
    return {
        "customers": KF_CUSTOMERS,
        **tally.summary(time.monotonic() - start),
        "callback_ack_ms": percentiles([ms for per in acks for ms in per]),
    }


# ---------------------------------------------------------------- run
def run() -> dict[str, Any]:
    from bot.runtime import train_project
    from bot.server.live import LiveServer

    train_project(ROOT)  # reuses an up-to-date model under models/
    if hasattr(os, "sched_setaffinity"):  # `make bench` pins us to CPU 0: undo, then move off
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    client_cpus()  # before the fake's thread starts: it inherits the client's CPUs
    out: dict[str, Any] = {
        "python": platform.python_version(),
        "wechatpy": wechatpy.__version__,
        "customers": CUSTOMERS,
        "think_seconds": list(THINK),
        "round_seconds": ROUND_SECONDS,
        "kf_think_seconds": list(KF_THINK),
        "crypto": crypto_costs(),
    }
    fake = fake_wechat()
    with (
        tempfile.TemporaryDirectory() as name,
        LiveServer(fake.app, host=HOST) as api,
        server(Path(name), api.url) as url,
    ):
        asyncio.run(wait_ready(url, 60.0))
        out["crypto"]["state_claim_us"] = asyncio.run(claim_cost(Path(name) / "claims.db"))
        asyncio.run(drive(url, "wechat_safe", 3.0, Tally(), 99_000))  # warm-up, not reported
        out.update(measure(url))
        out["wecom_kf"] = asyncio.run(kf_latency(url, fake))
    rest = out["rest"]["latency_ms"]
    out["overhead_vs_rest_ms"] = {
        mode: {p: round(out[mode]["latency_ms"][p] - rest[p], 3) for p in ("p50", "p95", "p99")}
        for mode in ("wechat_plain", "wechat_safe")
    }
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        print(write_result("wechat", run()))
