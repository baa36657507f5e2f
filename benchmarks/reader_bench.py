"""The read side over a directory of N events: CLI reports and a full scan, against DuckDB.

    python -m benchmarks.reader_bench [--events 1000000] [--rounds 3]

Writes N events over 30 days through the public API, then times (median of rounds, each a
fresh process as a user runs it): ``asynctokens summary`` and ``daily`` (served from
token_stats.json), ``daily --timezone Asia/Kolkata`` (the stats, and the lines of the hours
its days cut),
``summary`` with no stats file (a full scan), and an in-process ``reader.iter_events`` scan in
lines/s. DuckDB's ``read_json`` over the same files is the optional contender.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"),
          ("gemini", "gemini-2.5-flash"))  # fmt: skip


def write_fixture(log_dir: Path, events: int) -> None:
    from asynctokens import TokenTracker

    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp()
    step = 30 * 86_400 / events
    tracker = TokenTracker(log_dir, max_queue_events=max(events + 1, 2000))
    for i in range(events):
        api, model = MODELS[i % 4]
        tracker.log(100 + i % 900, 50 + i % 400, api, model, success=i % 50 != 0,
                    cached_tokens=i % 64, ts=start + i * step)  # fmt: skip
    tracker.close(timeout=600)


def _time_cli(args: list[str], rounds: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "asynctokens", *args], env=env, check=True,
                       capture_output=True)  # fmt: skip
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _scan_rate(log_dir: Path, rounds: int) -> tuple[float, int]:
    from asynctokens import reader

    rates, n = [], 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = sum(1 for _ in reader.iter_events(log_dir))
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), n


def _duckdb(log_dir: Path, rounds: int) -> float | None:
    try:
        import duckdb
    except ImportError:
        return None
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        con = duckdb.connect()
        con.execute(
            "SELECT model, count(*), sum(prompt_tokens), sum(completion_tokens)"
            f" FROM read_json('{log_dir}/tokens_*.jsonl', format='newline_delimited')"
            " GROUP BY model"
        ).fetchall()
        con.close()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(events: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="asynctokens-reader-") as tmp:
        log_dir = Path(tmp) / "tokens"
        t0 = time.perf_counter()
        write_fixture(log_dir, events)
        result: dict[str, Any] = {"events": events, "write_s": time.perf_counter() - t0}
        d = ["--log-dir", str(log_dir)]
        result["cli_summary_s"] = _time_cli(["summary", *d], rounds)
        result["cli_daily_s"] = _time_cli(["daily", *d], rounds)
        result["cli_daily_tz_s"] = _time_cli(["daily", "--timezone", "Asia/Kolkata", *d], rounds)
        result["cli_recent_s"] = _time_cli(["recent", "-n", "20", *d], rounds)
        result["scan_lines_per_s"], result["scanned"] = _scan_rate(log_dir, rounds)
        result["duckdb_group_by_s"] = _duckdb(log_dir, rounds)
        (log_dir / "token_stats.json").rename(log_dir / "stats.bak")
        result["cli_summary_no_stats_s"] = _time_cli(["summary", *d], rounds)
    return result


def render(r: dict[str, Any]) -> str:
    duck = r["duckdb_group_by_s"]
    rows = [
        ("`asynctokens summary` (token_stats.json)", f"{r['cli_summary_s']:.2f} s"),
        ("`asynctokens daily` (token_stats.json)", f"{r['cli_daily_s']:.2f} s"),
        ("`asynctokens recent -n 20`", f"{r['cli_recent_s']:.2f} s"),
        ("`asynctokens daily --timezone Asia/Kolkata` (stats + the hours its days cut)",
         f"{r['cli_daily_tz_s']:.2f} s"),
        ("`asynctokens summary` with no stats file (full scan)",
         f"{r['cli_summary_no_stats_s']:.2f} s"),
        ("`reader.iter_events` full scan", f"{r['scan_lines_per_s']:,.0f} lines/s"),
        ("DuckDB `read_json` + GROUP BY model",
         "not installed" if duck is None else f"{duck:.2f} s"
         f" ({r['events'] / duck:,.0f} lines/s)"),
    ]  # fmt: skip
    head = [f"| over {r['events']:,} events (30 daily files) | median |", "|---|---:|"]
    return "\n".join(head + [f"| {a} | {b} |" for a, b in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reader_bench")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(render(measure(args.events, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
