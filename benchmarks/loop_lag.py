"""Event-loop lag of an asyncio app logging ~100k events/s: does the writer starve the app?

A producer task logs 100 events every millisecond (paced to a deadline); a probe task times
``await asyncio.sleep(0)`` back to back for the whole run. The same app runs with no logging
(baseline), with the default thread worker, and with the worker as a task of the loop.

    python -m benchmarks.loop_lag VARIANT SECONDS    (one run, prints JSON; used by run.py)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("no logging", "thread worker", "task worker")
PER_TICK = 100
TICK_S = 0.001


def _percentile(hist: Counter[int], q: float) -> int:
    rank, seen = q * sum(hist.values()), 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return max(hist)


async def _app(log: Any, seconds: float) -> dict[str, Any]:
    # a histogram in whole microseconds, not a list: a list of millions of samples would
    # itself grow the RSS this run watches
    lags: Counter[int] = Counter()
    stop = time.perf_counter() + seconds
    logged = 0

    async def produce() -> None:
        nonlocal logged
        start = time.perf_counter()
        tick = 0
        while time.perf_counter() < stop:
            if log is not None:
                for i in range(PER_TICK):
                    log(i, 320, api_type="gemini", model="gemini-2.5-flash")
            logged += PER_TICK
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * TICK_S - time.perf_counter()))

    rss: list[float] = []

    async def sample_rss() -> None:  # resident set now (not the peak), every 250 ms
        page = os.sysconf("SC_PAGE_SIZE")
        while time.perf_counter() < stop:
            with open("/proc/self/statm") as f:  # noqa: ASYNC230 - procfs never blocks
                rss.append(int(f.read().split()[1]) * page / 2**20)
            await asyncio.sleep(0.25)

    async def probe() -> None:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            await asyncio.sleep(0)
            lags[int((time.perf_counter() - t0) * 1e6)] += 1

    t0 = time.perf_counter()
    await asyncio.gather(produce(), probe(), sample_rss())
    elapsed = time.perf_counter() - t0
    return {
        "events_per_s": logged / elapsed,
        "lag_p50_us": _percentile(lags, 0.50),
        "lag_p99_us": _percentile(lags, 0.99),
        "lag_max_us": max(lags),
        "rss_after_1s_mb": rss[min(4, len(rss) - 1)],
        "rss_end_mb": rss[-1],
    }


async def _run_variant(variant: str, seconds: float, log_dir: Path) -> dict[str, Any]:
    from asynctokens import TokenTracker

    if variant == "no logging":
        return await _app(None, seconds)
    if variant == "thread worker":
        tracker = TokenTracker(log_dir)
        result = await _app(tracker.log, seconds)
        await tracker.aclose()
    else:
        async with TokenTracker(log_dir) as tracker:
            result = await _app(tracker.log, seconds)
    result["written"] = tracker.health().written
    return result


def measure(rounds: int = 3, seconds: float = 10.0) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(rounds):
        for variant in VARIANTS:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.loop_lag", variant, str(seconds)],
                capture_output=True, text=True, env=env, timeout=600, check=True,
            )  # fmt: skip
            out[variant].append(orjson.loads(proc.stdout.splitlines()[-1]))
    return out


def render(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "| asyncio app, ~100k events/s | events/s logged | sleep(0) p50 µs | p99 µs | max µs"
        " | RSS after 1 s → end, MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for variant, runs in results.items():
        runs = sorted(runs, key=lambda r: r["lag_p99_us"])
        mid = runs[len(runs) // 2]
        lines.append(
            f"| {variant} | {mid['events_per_s']:,.0f} | {mid['lag_p50_us']:.0f}"
            f" | {mid['lag_p99_us']:.0f} | {mid['lag_max_us']:,.0f}"
            f" | {mid['rss_after_1s_mb']:.0f} → {mid['rss_end_mb']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    variant, seconds = sys.argv[1], float(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_run_variant(variant, seconds, Path(tmp)))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
