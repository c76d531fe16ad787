"""`make bench`: run every benchmark, write bench/results/*.json and docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
import sys

from bench import nlu_bench
from bench.common import RESULTS, ROOT, pin_one_core, write_result
from bench.report import write_markdown


def main() -> None:
    pin_one_core()
    print("NLU benchmark (smp2019_nlu, crosswoz)…", flush=True)
    print(write_result("nlu", nlu_bench.run()))
    print("Reference bot benchmark…", flush=True)
    subprocess.run([sys.executable, "-m", "bench.bot_bench"], check=True, cwd=ROOT)
    print("HTTP / WebSocket benchmark (real server on 127.0.0.1)…", flush=True)
    subprocess.run([sys.executable, "-m", "bench.http_bench"], check=True, cwd=ROOT)
    print("FAQ retrieval benchmark (kb: 1k/10k/100k entries, quality splits)…", flush=True)
    subprocess.run([sys.executable, "-m", "bench.kb_bench"], check=True, cwd=ROOT)
    print("Handoff benchmark (notification latency, queue of 1,000)…", flush=True)
    subprocess.run([sys.executable, "-m", "bench.handoff_bench"], check=True, cwd=ROOT)
    print("Sentiment / 转人工 detector benchmark…", flush=True)
    subprocess.run([sys.executable, "-m", "bench.sentiment_bench"], check=True, cwd=ROOT)
    print("WeChat channels benchmark (公众号 plain/safe vs REST, crypto, 微信客服)…", flush=True)
    subprocess.run([sys.executable, "-m", "bench.wechat_bench"], check=True, cwd=ROOT)
    print("Voice IVR benchmark (real-time calls: stage latency, calls per core)…", flush=True)
    subprocess.run([sys.executable, "-m", "bench.voice_bench"], check=True, cwd=ROOT)
    print("Voice over SIP benchmark (speech end → first RTP packet, calls per core)…", flush=True)
    subprocess.run([sys.executable, "-m", "bench.sip_bench"], check=True, cwd=ROOT)
    results = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in RESULTS.glob("*.json")}
    print(write_markdown(results))


if __name__ == "__main__":
    main()
