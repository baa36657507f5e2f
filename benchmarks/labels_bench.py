"""The caller's cost of ``log_tokens()`` inside a ``labels(...)`` block against without.

    python -m benchmarks.labels_bench [--calls 20000] [--blocks 41]

Paired blocks: each block times ``--calls`` calls without labels, then the same calls inside
``with labels(customer=..., feature=...)``, alternating which goes first; the figure is the
median over blocks of the per-call ratio (a shared machine's drift hits both halves alike).
Two call shapes: the bare call (counts, provider, model) and the realistic one (plus latency,
request id and key). Each call is timed alone and a block's figure is its median, less the
timer's; the queue is drained between blocks so it never fills.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

from asynctokens import TokenTracker, labels


def _time(calls: int, log: Callable[[], None]) -> float:
    """The median of ``calls`` calls, each timed alone (the worker thread's turns on the GIL
    land in a few calls' times, not in every one's), less the timer's own cost."""
    clock = time.perf_counter_ns
    samples = [0] * calls
    timer = [0] * calls
    for i in range(calls):
        a = clock()
        log()
        b = clock()
        c = clock()
        samples[i] = b - a
        timer[i] = c - b
    return statistics.median(samples) - statistics.median(timer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--blocks", type=int, default=41)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tracker = TokenTracker(tmp, max_queue_events=10 * args.calls)
        log = tracker.log

        def bare() -> None:
            log(120, 30, "openai", "gpt-4o")

        def realistic() -> None:
            log(120, 30, "openai", "gpt-4o", latency_ms=812.5, request_id="req_1",
                api_key="sk-test-0000000000000000abcd")  # fmt: skip

        for name, call in (("bare", bare), ("realistic", realistic)):
            plain_ns: list[float] = []
            labelled_ns: list[float] = []
            for block in range(args.blocks):
                for inside in (block % 2 == 1, block % 2 == 0):
                    if inside:
                        with labels(customer="acme", feature="search"):
                            labelled_ns.append(_time(args.calls, call))
                    else:
                        plain_ns.append(_time(args.calls, call))
                    while tracker.health().queue_depth:  # drained: the queue never fills
                        time.sleep(0.001)
            ratios = [b / a for a, b in zip(plain_ns, labelled_ns, strict=True)]
            print(
                f"{name:9} without {statistics.median(plain_ns):6.0f} ns"
                f"  inside labels() {statistics.median(labelled_ns):6.0f} ns"
                f"  ratio {statistics.median(ratios):.2f}x"
                f" (blocks {min(ratios):.2f}-{max(ratios):.2f})"
            )
        tracker.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
