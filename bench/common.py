"""Shared helpers for the benchmarks: data location, one-core pinning, percentiles, output."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHARED_DATA = Path(os.environ.get("ZHIKE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def pin_one_core() -> None:
    """Budgets are per core: run on CPU 0 only (no-op where unsupported)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    if not samples_ms:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    p50, p95, p99 = np.percentile(samples_ms, [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3)}


def rss_mb() -> float:
    """Current resident memory of this process, in MB (Linux; else the peak)."""
    try:
        status = Path("/proc/self/status").read_text()
        return round(int(status.split("VmRSS:")[1].split()[0]) / 1024, 1)
    except (OSError, IndexError, ValueError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def calibration_ms(rounds: int = 5) -> float:
    """How long a fixed piece of pure-Python work (dicts, strings, integers) takes here, best
    of `rounds`: on a shared VM the same code runs up to ~1.7× slower at some hours, so each
    result records the machine's speed next to its figures (lower is faster)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        table: dict[str, int] = {}
        for i in range(100_000):
            key = f"k{i % 1000}"
            table[key] = table.get(key, 0) + i * 3 // 7
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 2)


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_count": os.cpu_count(),
        "calibration_ms": calibration_ms(),
        **payload,
    }
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
