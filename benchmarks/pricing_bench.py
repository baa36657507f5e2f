"""What pricing costs a report: CSV export with and without prices, and a small summary's wall.

    python -m benchmarks.pricing_bench [--events 1000000] [--rounds 3]

Writes N events over 30 days (four models, one of them tiered with one prompt in ten past
its 200k threshold) through the public API, then times, in this process, a CSV export of
every event priced with genai-prices against the same export with pricing taken out (the
cost column left empty, no lookup at all); and, as a user runs it,
``asynctokens summary`` on a directory of 100 events (median wall of fresh processes).
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from asynctokens import reader, summary
from asynctokens.pricing import PriceBook, load_prices
from asynctokens.render import csv as csv_export

ROOT = Path(__file__).resolve().parents[1]
MODELS = (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"),
          ("gemini", "gemini-2.5-pro"), ("gemini", "gemini-2.5-flash"))  # fmt: skip


def write_fixture(log_dir: Path, events: int) -> None:
    from asynctokens import TokenTracker

    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp()
    step = 30 * 86_400 / events
    tracker = TokenTracker(log_dir, max_queue_events=max(events + 1, 2000))
    for i in range(events):
        api, model = MODELS[i % 4]
        prompt = 250_000 if i % 40 == 2 else 1_000 + i % 9_000
        tracker.log(prompt, 50 + i % 400, api, model, cached_tokens=i % 64,
                    ts=start + i * step)  # fmt: skip
    tracker.close(timeout=600)


class _NoPrices(PriceBook):
    """Prices nothing, at no cost: the export with pricing taken out entirely."""

    def row_pricer(self) -> Callable[[Sequence[Any]], None]:
        return _no_price


def _no_price(row: Sequence[Any]) -> None:
    return None


def _export_s(log_dir: Path, prices: PriceBook, rounds: int) -> float:
    """The export as ``asynctokens export --format csv -o FILE`` runs it, into a file."""
    times = []
    for _ in range(rounds):
        q = summary.Query(log_dir=log_dir, prices=prices)
        with open(log_dir.parent / "export.csv", "w", encoding="utf-8", newline="") as out:
            t0 = time.perf_counter()
            csv_export.write(summary.iter_filtered(q, reader.ReadReport()), out, prices)
            out.flush()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _summary_wall_s(log_dir: Path, rounds: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "asynctokens", "summary", "--log-dir", str(log_dir)],
                       env=env, check=True, capture_output=True)  # fmt: skip
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(events: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="asynctokens-pricing-") as tmp:
        big, small = Path(tmp) / "big", Path(tmp) / "small"
        write_fixture(big, events)
        write_fixture(small, 100)
        priced = _export_s(big, load_prices(), rounds)
        unpriced = _export_s(big, _NoPrices(), rounds)
        return {
            "events": events,
            "csv_priced_s": priced,
            "csv_unpriced_s": unpriced,
            "pricing_share": priced / unpriced - 1,
            "summary_wall_s": _summary_wall_s(small, max(rounds, 5)),
        }


def render(r: dict[str, Any]) -> str:
    rows = [
        (f"CSV export of {r['events']:,} events, priced", f"{r['csv_priced_s']:.2f} s"),
        ("same export, no prices", f"{r['csv_unpriced_s']:.2f} s"),
        ("what pricing adds", f"{r['pricing_share']:+.1%}"),
        ("`asynctokens summary`, 100 events (wall, fresh process)",
         f"{r['summary_wall_s']:.2f} s"),
    ]  # fmt: skip
    return "\n".join(["| pricing | median |", "|---|---:|"] + [f"| {a} | {b} |" for a, b in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pricing_bench")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(render(measure(args.events, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
