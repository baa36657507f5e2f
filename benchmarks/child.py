"""Runs one contender in this (fresh) process and prints one JSON line of results.

    python -m benchmarks.child CONTENDER caller|e2e N LOG_DIR

caller: N calls, each timed with perf_counter_ns (p50, p99, mean), and the timer's own cost.
e2e:    N calls then the contender's drain, timed as a whole; the lines are read back after.
Each run is its own process so peak RSS (ru_maxrss) is the contender's alone.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import time
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from benchmarks.contenders import CONTENDERS, YIELD_EVERY, Contender, LogFn

API, MODEL = "gemini", "gemini-2.5-flash"


def _timer_cost(n: int = 200_000) -> int:
    samples = [0] * n
    for i in range(n):
        a = perf_counter_ns()
        b = perf_counter_ns()
        samples[i] = b - a
    samples.sort()
    return samples[n // 2]


def _percentiles(samples: list[int]) -> dict[str, float]:
    samples.sort()
    n = len(samples)
    return {
        "p50_ns": samples[n // 2],
        "p99_ns": samples[min(n - 1, int(n * 0.99))],
        "mean_ns": sum(samples) / n,
    }


def _timed_calls_sync(log: LogFn, n: int) -> list[int]:
    samples = [0] * n
    for i in range(n):
        a = perf_counter_ns()
        log(i, 320, api_type=API, model=MODEL)
        b = perf_counter_ns()
        samples[i] = b - a
    return samples


async def _timed_calls_async(log: LogFn, n: int, sleep0: Any) -> list[int]:
    samples = [0] * n
    for i in range(n):
        a = perf_counter_ns()
        log(i, 320, api_type=API, model=MODEL)
        b = perf_counter_ns()
        samples[i] = b - a
        if i % YIELD_EVERY == 0:
            await sleep0(0)
    return samples


async def _calls_async(log: LogFn, n: int, sleep0: Any) -> None:
    for i in range(n):
        log(i, 320, api_type=API, model=MODEL)
        if i % YIELD_EVERY == 0:
            await sleep0(0)


def run(contender: Contender, mode: str, n: int, log_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"contender": contender.name, "mode": mode, "events": n}
    if mode == "caller":
        result["timer_ns"] = _timer_cost()
    gc.collect()
    if contender.kind == "sync":
        log = contender.start(log_dir)
        t0 = time.perf_counter()
        if mode == "caller":
            result.update(_percentiles(_timed_calls_sync(log, n)))
        else:
            for i in range(n):
                log(i, 320, api_type=API, model=MODEL)
        contender.finish()
        elapsed = time.perf_counter() - t0
    else:
        elapsed = _run_async(contender, mode, n, log_dir, result)
    if mode == "e2e":
        result["seconds"] = elapsed
        result["events_per_s"] = n / elapsed
    valid, dupes, bad = contender.count(log_dir)
    result.update({"on_disk": valid, "duplicates": dupes, "garbled": bad, "lost": n - valid})
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _run_async(contender: Any, mode: str, n: int, log_dir: Path, result: dict[str, Any]) -> float:
    async def main(sleep0: Any) -> float:
        log = await contender.astart(log_dir)
        t0 = time.perf_counter()
        if mode == "caller":
            result.update(_percentiles(await _timed_calls_async(log, n, sleep0)))
        else:
            await _calls_async(log, n, sleep0)
        await contender.afinish()
        return time.perf_counter() - t0

    if contender.kind == "trio":
        import trio

        return float(trio.run(main, trio.sleep))
    return asyncio.run(main(asyncio.sleep))


def main() -> None:
    name, mode, n, log_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    contender = CONTENDERS[name]()
    result = run(contender, mode, n, log_dir)
    import orjson

    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
