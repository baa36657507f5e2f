"""How long ``os.fork()`` takes while a tracker's worker rebuilds the stats of a large file.

    python -m benchmarks.fork_bench [--lines 300000] [--forks 20]

A fork must never wait for the writer's file work: the test suite shows each fork returning
while the rebuild still runs (``tests/test_fork.py``); this times them. Prints the median and
the longest fork, next to forks of the same process with an idle tracker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

LINE = (
    '{{"event_id":"x-{n}","ts":"2026-11-20T10:00:00.000000+00:00","api_type":"openai",'
    '"model":"gpt-4o","prompt_tokens":3,"completion_tokens":2,"total_tokens":5,'
    '"cached_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"success":true,'
    '"error_message":null,"latency_ms":null,"api_key_suffix":null,"request_id":null,'
    '"metadata":{{}},"pid":1}}\n'
)


def _fork_ms() -> float:
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    taken = (time.perf_counter() - t0) * 1000
    os.waitpid(pid, 0)
    return taken


def measure(lines: int, forks: int) -> dict[str, float]:
    from asynctokens import TokenTracker

    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "logs"
        log_dir.mkdir()
        (log_dir / "tokens_2026-11-20.jsonl").write_text(
            "".join(LINE.format(n=n) for n in range(lines))
        )
        tracker = TokenTracker(log_dir)
        tracker.log(1, 1, "openai", "gpt-4o")  # no stats file yet: the flush rebuilds them
        rebuilding = threading.Thread(target=tracker.flush_sync)
        rebuilding.start()
        during = []
        while rebuilding.is_alive():
            during.append(_fork_ms())
            time.sleep(0.005)
        idle = [_fork_ms() for _ in range(forks)]
        tracker.close()
    return {
        "forks during the rebuild": len(during),
        "median ms during": statistics.median(during) if during else float("nan"),
        "max ms during": max(during, default=float("nan")),
        "median ms idle": statistics.median(idle),
        "max ms idle": max(idle),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--forks", type=int, default=20)
    args = parser.parse_args()
    for name, value in measure(args.lines, args.forks).items():
        print(f"{name:>26}: {value:,.2f}")


if __name__ == "__main__":
    main()
