"""The call users really make, next to the bare call, each against its floor and stdlib.

    python -m benchmarks.realistic [--calls 200000] [--rounds 3]

Shapes: the bare call ``log_tokens(i, 320, api_type=..., model=...)`` and the realistic one
that integrations make (cached and reasoning counts, latency, request id, API key). For each
shape: ``log_tokens()`` on a running thread worker, and the same with the OpenTelemetry sink
(``asynctokens.otel.OTelSink`` into an SDK MeterProvider: its work is on the worker, so the
caller's cost should not change); the floor, a plain function with the same
signature that appends a tuple of its arguments (and a timestamp) to a deque; and a stdlib
``QueueHandler`` call carrying the same fields with its ``QueueListener`` running. Every
(contender, shape, round) is its own process; rounds interleave; figures are medians, with
the timer's own cost taken off. Read the ratios.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import logging.handlers
import os
import queue
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from benchmarks.child import _percentiles, _timer_cost
from benchmarks.contenders import Floor

KEY = "sk-test-0000000000000000abcd"
CONTENDERS = ("asynctokens", "asynctokens+otel", "floor", "stdlib")
SHAPES = ("bare", "realistic")


def _make(name: str, log_dir: Path) -> Any:
    if name.startswith("asynctokens"):
        from asynctokens import TokenTracker

        sinks = []
        if name == "asynctokens+otel":  # the GenAI metrics sink, into an SDK MeterProvider
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader

            from asynctokens.otel import OTelSink

            sinks.append(OTelSink(MeterProvider(metric_readers=[InMemoryMetricReader()])))
        tracker = TokenTracker(log_dir, max_queue_events=4_000_000, sinks=sinks)
        tracker.log(0, 0)  # the worker runs before the timing starts
        return tracker.log
    if name == "floor":
        return Floor().start(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = logging.FileHandler(log_dir / "stdlib.jsonl", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s %(tokens)s"))
    logging.handlers.QueueListener(q, handler).start()
    logger = logging.getLogger("bench.realistic")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.handlers.QueueHandler(q))
    info = logger.info

    def log(prompt_tokens: int, completion_tokens: int, api_type: str, model: str,
            **fields: Any) -> None:  # fmt: skip
        info("llm_call", extra={"tokens": {"api_type": api_type, "model": model,
             "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             **fields}})  # fmt: skip

    return log


def _child(name: str, shape: str, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = _make(name, Path(tmp) / "logs")
        timer = _timer_cost()
        samples = [0] * calls
        gc.collect()
        if shape == "bare":
            for i in range(calls):
                a = perf_counter_ns()
                log(i, 320, api_type="openai", model="gpt-4o")
                samples[i] = perf_counter_ns() - a
        else:
            for i in range(calls):
                a = perf_counter_ns()
                log(i + 1000, 320, api_type="openai", model="gpt-4o", cached_tokens=100,
                    reasoning_tokens=50, latency_ms=812.5, request_id="r8a1f",
                    api_key=KEY)  # fmt: skip
                samples[i] = perf_counter_ns() - a
        result = _percentiles(samples)
        result["timer_ns"] = timer
        os._exit(print(json.dumps(result), flush=True) or 0)  # skip the drains: not timed


def measure(calls: int, rounds: int) -> dict[str, dict[str, dict[str, float]]]:
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    pairs = [(n, s) for s in SHAPES for n in CONTENDERS]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for r in range(rounds):
        for name, shape in pairs[r % len(pairs) :] + pairs[: r % len(pairs)]:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.realistic", "--child", name, shape,
                 "--calls", str(calls)],
                capture_output=True, text=True, check=True, env=env,
            )  # fmt: skip
            runs.setdefault((name, shape), []).append(json.loads(out.stdout))
    table: dict[str, dict[str, dict[str, float]]] = {}
    for (name, shape), results in runs.items():
        timer = statistics.median(r["timer_ns"] for r in results)
        table.setdefault(shape, {})[name] = {
            "p50_net_ns": statistics.median(r["p50_ns"] for r in results) - timer,
            "p99_ns": statistics.median(r["p99_ns"] for r in results),
        }
    return table


def render(table: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        "| call | `log_tokens()` p50 ns (net) | p99 ns | floor p50 ns | ÷ floor"
        " | stdlib QueueHandler p50 ns | stdlib ÷ `log_tokens()` |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for shape in SHAPES:
        row = table[shape]
        ours, floor, std = row["asynctokens"], row["floor"], row["stdlib"]
        lines.append(
            f"| {shape} | {ours['p50_net_ns']:,.0f} | {ours['p99_ns']:,.0f}"
            f" | {floor['p50_net_ns']:,.0f} | {ours['p50_net_ns'] / floor['p50_net_ns']:.2f}×"
            f" | {std['p50_net_ns']:,.0f} | {std['p50_net_ns'] / ours['p50_net_ns']:.0f}× |"
        )
    lines += ["", "| call | `log_tokens()` p50 ns | with `OTelSink` p50 ns | ratio |",
              "|---|---:|---:|---:|"]  # fmt: skip
    for shape in SHAPES:
        ours, otel = table[shape]["asynctokens"], table[shape]["asynctokens+otel"]
        lines.append(
            f"| {shape} | {ours['p50_net_ns']:,.0f} | {otel['p50_net_ns']:,.0f}"
            f" | {otel['p50_net_ns'] / ours['p50_net_ns']:.2f}× |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.realistic", description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("CONTENDER", "SHAPE"))
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child, args.calls)
    print(render(measure(args.calls, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
