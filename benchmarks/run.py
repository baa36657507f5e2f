"""Run every contender side by side and print the markdown table the README quotes.

    python -m benchmarks [--events 1000000] [--calls 200000] [--rounds 3] [--json FILE]

Each (contender, mode, round) runs in a fresh subprocess (``benchmarks.child``) so peak RSS
is its own; rounds are interleaved (contender order rotates every round) so drift on a shared
machine hits every contender alike. Figures are the median over rounds, with the spread
(min-max). Absolute times on a 2-core shared machine are noise: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks.contenders import CONTENDERS

ROOT = Path(__file__).resolve().parents[1]
ORDER = [
    "asynctokens-thread",
    "asynctokens-asyncio",
    "asynctokens-trio",
    "floor",
    "limit",
    "stdlib-queue",
    "structlog",
    "loguru",
    "aiologger",
    "naive",
]


def run_child(name: str, mode: str, n: int, workdir: Path) -> dict[str, Any]:
    log_dir = workdir / f"{name}-{mode}"
    shutil.rmtree(log_dir, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", name, mode, str(n), str(log_dir)],
        capture_output=True, text=True, env=env, cwd=workdir, timeout=1800, check=False,
    )  # fmt: skip
    shutil.rmtree(log_dir, ignore_errors=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"contender"')]
    if proc.returncode != 0 or not lines:
        return {"contender": CONTENDERS[name].name, "mode": mode, "error": proc.stderr[-500:]}
    return orjson.loads(lines[-1])  # type: ignore[no-any-return]


def median_spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def collect(
    names: list[str], events: int, calls: int, rounds: int, workdir: Path
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {n: {"caller": [], "e2e": []} for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            cls = CONTENDERS[name]
            print(f"round {r + 1}/{rounds}: {name}", file=sys.stderr, flush=True)
            runs[name]["caller"].append(run_child(name, "caller", calls, workdir))
            if not cls.caller_only:
                n = min(events, cls.e2e_events) if cls.e2e_events else events
                runs[name]["e2e"].append(run_child(name, "e2e", n, workdir))
    return runs


def summarise(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, modes in runs.items():
        row: dict[str, Any] = {"name": CONTENDERS[name].name}
        callers = [r for r in modes["caller"] if "error" not in r]
        if callers:
            timer = statistics.median(r["timer_ns"] for r in callers)
            row["timer_ns"] = timer
            for key in ("p50_ns", "p99_ns", "mean_ns"):
                row[key] = median_spread([r[key] for r in callers])
            row["p50_net_ns"] = row["p50_ns"][0] - timer
            row["caller_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in callers)
        e2es = [r for r in modes["e2e"] if "error" not in r]
        if e2es:
            row["e2e_events"] = e2es[0]["events"]
            row["events_per_s"] = median_spread([r["events_per_s"] for r in e2es])
            row["peak_rss_mb"] = median_spread([r["peak_rss_mb"] for r in e2es])
            row["lost"] = max(r["lost"] for r in e2es)
            row["duplicates"] = max(r["duplicates"] for r in e2es)
            row["garbled"] = max(r["garbled"] for r in e2es)
        row["errors"] = [r["error"] for m in modes.values() for r in m if "error" in r]
        out[name] = row
    return out


def _fmt_spread(triple: tuple[float, float, float], fmt: str) -> str:
    mid, lo, hi = triple
    return f"{mid:{fmt}} ({lo:{fmt}}-{hi:{fmt}})"


def render(table: dict[str, dict[str, Any]]) -> str:
    floor = table.get("floor", {}).get("p50_net_ns")
    limit = table.get("limit", {}).get("events_per_s", (None,))[0]
    stdlib = table.get("stdlib-queue", {}).get("p50_net_ns")
    lines = [
        "| contender | caller p50 ns | p99 ns | mean ns | p50 net ÷ floor | stdlib ÷ this"
        " | end-to-end events/s | % of limit | peak RSS MB | lost / dup / garbled |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in table.values():
        if "p50_ns" not in row:
            lines.append(f"| {row['name']} | failed: {row['errors'][:1]} |")
            continue
        net = row["p50_net_ns"]
        ratio_floor = f"{net / floor:.2f}×" if floor else "-"
        ratio_std = f"{stdlib / net:.0f}×" if stdlib and net > 0 else "-"
        if "events_per_s" in row:
            eps = _fmt_spread(row["events_per_s"], ",.0f")
            if row["e2e_events"] < 1_000_000:
                eps += f" (N={row['e2e_events']:,})"
            pct = f"{100 * row['events_per_s'][0] / limit:.0f} %" if limit else "-"
            rss = f"{row['peak_rss_mb'][0]:.0f}"
            loss = f"{row['lost']:,} / {row['duplicates']:,} / {row['garbled']:,}"
        else:
            eps, pct, rss, loss = "-", "-", f"{row['caller_rss_mb']:.0f}", "-"
        lines.append(
            f"| {row['name']} | {_fmt_spread(row['p50_ns'], '.0f')} | {row['p99_ns'][0]:,.0f}"
            f" | {row['mean_ns'][0]:,.0f} | {ratio_floor} | {ratio_std} | {eps} | {pct}"
            f" | {rss} | {loss} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="end-to-end events")
    parser.add_argument("--calls", type=int, default=200_000, help="individually timed calls")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=ORDER, help="a subset of contenders")
    parser.add_argument("--skip-extras", action="store_true", help="no loop-lag/reader runs")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    names = args.only or ORDER
    with tempfile.TemporaryDirectory(prefix="asynctokens-bench-") as tmp:
        workdir = Path(tmp)
        runs = collect(names, args.events, args.calls, args.rounds, workdir)
        table = summarise(runs)
        report: dict[str, Any] = {"contenders": table, "python": sys.version.split()[0]}
        text = render(table)
        if not args.skip_extras:
            from benchmarks import loop_lag, reader_bench

            print("loop lag", file=sys.stderr, flush=True)
            report["loop_lag"] = loop_lag.measure(rounds=args.rounds)
            text += "\n\n" + loop_lag.render(report["loop_lag"])
            print("reader", file=sys.stderr, flush=True)
            report["reader"] = reader_bench.measure(args.events, args.rounds)
            text += "\n\n" + reader_bench.render(report["reader"])
    print(text)
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return 0
