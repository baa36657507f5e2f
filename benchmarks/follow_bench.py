"""How soon ``aio.follow()`` yields what other processes log, and what it costs its loop.

    python -m benchmarks.follow_bench [--writers 3] [--seconds 5] [--rate 200]

``--writers`` processes each log ``--rate`` events a second for ``--seconds`` through the
default settings (a batch leaves every second, or sooner when full), while this process
follows the directory. Reports the delay from each call's ``ts`` to its arrival (which the
writers' flush interval dominates), that every event arrived once, and the worst lateness of
a 10 ms timer on the follower's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import sys, time
    from asynctokens import TokenTracker
    tracker = TokenTracker(sys.argv[1])
    rate, seconds = float(sys.argv[2]), float(sys.argv[3])
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        tracker.log(i, 1, "openai", "gpt-4o")
    assert tracker.close()
    """
)


async def measure(writers: int, seconds: float, rate: float) -> dict[str, float]:
    from asynctokens import aio

    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "logs"
        delays: list[float] = []
        ids: set[str] = set()
        lags: list[float] = []

        async def follow() -> None:
            async for event in aio.follow(log_dir):
                now = dt.datetime.now(dt.UTC)
                delays.append((now - dt.datetime.fromisoformat(event["ts"])).total_seconds())
                ids.add(event["event_id"])

        async def tick() -> None:
            while True:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - before - 0.01)

        tasks = [asyncio.create_task(follow()), asyncio.create_task(tick())]
        await asyncio.sleep(0.3)
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", CHILD, str(log_dir), str(rate), str(seconds)
            )
            for _ in range(writers)
        ]
        for p in procs:
            await p.wait()
        expected = writers * int(rate * seconds)
        deadline = time.perf_counter() + 5
        while len(delays) < expected and time.perf_counter() < deadline:  # noqa: ASYNC110 - a bounded wait for a count
            await asyncio.sleep(0.01)
        for t in tasks:
            t.cancel()
        delays.sort()
        return {
            "events": len(delays),
            "expected": expected,
            "unique": len(ids),
            "delay_p50_s": statistics.median(delays),
            "delay_p99_s": delays[int(len(delays) * 0.99) - 1],
            "delay_max_s": delays[-1],
            "loop_lag_max_ms": max(lags) * 1000,
            "loop_lag_p99_ms": sorted(lags)[int(len(lags) * 0.99) - 1] * 1000,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.follow_bench")
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rate", type=float, default=200)
    args = parser.parse_args(argv)
    r = asyncio.run(measure(args.writers, args.seconds, args.rate))
    print(
        f"{r['events']:,} of {r['expected']:,} events ({r['unique']:,} unique);"
        f" delay from ts: p50 {r['delay_p50_s']:.2f} s, p99 {r['delay_p99_s']:.2f} s,"
        f" max {r['delay_max_s']:.2f} s; loop lag p99 {r['loop_lag_p99_ms']:.1f} ms,"
        f" max {r['loop_lag_max_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
