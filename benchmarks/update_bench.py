"""What a writer's stats update costs over a busy directory: one new line, folded and saved.

    python -m benchmarks.update_bench DIR [--runs 5]

``DIR`` is a log directory with stats (e.g. one host of ``python -m benchmarks.year_bench
--keep KEEP``: ``KEEP/host-0/logs/tokens``). Each run copies it, brings its stats up to date
(as a running writer has them), appends one line to its newest daily file, and times the
update that folds it and rewrites the index and the month (every count checked on the way).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def measure(source: Path, runs: int) -> list[float]:
    from asynctokens.stats._update import update

    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            log_dir = Path(tmp) / "logs"
            shutil.copytree(source, log_dir)
            update(log_dir, {}, 0o600)
            day = sorted(log_dir.glob("tokens_*.jsonl"))[-1]
            last = day.read_bytes().splitlines()[-1]
            with day.open("ab") as f:
                f.write(last.replace(b'"event_id":"', b'"event_id":"new-', 1) + b"\n")
            start = time.perf_counter()
            update(log_dir, {}, 0o600)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = measure(args.dir, args.runs)
    print(f"stats update with one new line: median {statistics.median(times) * 1000:.0f} ms"
          f" ({min(times) * 1000:.0f}-{max(times) * 1000:.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
