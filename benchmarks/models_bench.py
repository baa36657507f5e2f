"""Many distinct model names (a fine-tune per customer, a typo in a loop): what they cost.

    python -m benchmarks.models_bench [--models 100000]

Logs one event per model name through a tracker, then reports how long the writer took to
drain, the size of ``token_stats.json``, and the wall time of ``asynctokens summary`` and
``asynctokens models`` (each a fresh process, as a user runs them; most names are unknown to
genai-prices, the costly case for pricing).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write(log_dir: Path, models: int) -> float:
    from asynctokens import TokenTracker

    tracker = TokenTracker(log_dir=log_dir, max_queue_events=max(models + 10, 200_000))
    start = time.perf_counter()
    for i in range(models):
        model = "gpt-4o" if i % 10 == 0 else f"ft:custom-model-{i}"
        tracker.log(100, 20, "openai", model)
    tracker.close(timeout=600)
    return time.perf_counter() - start


def run_cli(log_dir: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "asynctokens", *args, "--log-dir", str(log_dir)],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "120"},
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "logs"
        drained = write(log_dir, args.models)
        size = (log_dir / "token_stats.json").stat().st_size
        print(f"{args.models:,} model names: writer drained in {drained:.2f} s")
        print(f"token_stats.json: {size / 1e6:.1f} MB")
        for command in ("summary", "models"):
            print(f"asynctokens {command}: {run_cli(log_dir, command):.2f} s")


if __name__ == "__main__":
    main()
