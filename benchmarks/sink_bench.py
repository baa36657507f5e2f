"""End-to-end with and without ``OTelSink``: do the files keep their speed with a sink on?

    python -m benchmarks.sink_bench [--events 200000] [--rounds 3]

Each round, in a fresh process per mode: log ``--events`` calls as fast as one thread can,
then ``close()``; the events per second until every line is on disk, and what the sink
exported and dropped (its own thread and buffer take what they can; the files take all).
Also the sink's own cost per event, ``OTelSink.export`` on 20,000 events into an SDK
``MeterProvider``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json, sys, tempfile, time
    from asynctokens import TokenTracker
    events, with_sink = int(sys.argv[1]), sys.argv[2] == "otel"
    sinks = []
    if with_sink:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from asynctokens.otel import OTelSink
        sinks = [OTelSink(MeterProvider(metric_readers=[InMemoryMetricReader()]))]
    models = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash")
    tracker = TokenTracker(tempfile.mkdtemp(), sinks=sinks, max_queue_events=events)
    start = time.perf_counter()
    for i in range(events):
        tracker.log(100 + i % 500, 10 + i % 50, "openai", models[i % 4], latency_ms=812.5)
    assert tracker.flush_sync(timeout=600)
    files = time.perf_counter() - start
    health = tracker.health()
    assert tracker.close(timeout=600)
    sink = health.sinks[0] if health.sinks else None
    print(json.dumps({"events_per_s": events / files, "written": health.written,
                      "exported": sink.exported if sink else None,
                      "dropped": sink.dropped if sink else None}))
    """
)

PER_EVENT = textwrap.dedent(
    """
    import time
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from asynctokens.otel import OTelSink
    from asynctokens.record._event import TokenEvent
    sink = OTelSink(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    models = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash")
    events = [TokenEvent(0, 100 + i % 500, 10 + i % 50, "openai", models[i % 4], True, None,
                         i % 3 * 10, 0, i % 5, 812.5, None, None, None) for i in range(20000)]
    times = []
    for _ in range(3):
        t = time.perf_counter(); sink.export(events); times.append(time.perf_counter() - t)
    print(min(times) / len(events) * 1e6)
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"none": [], "otel": []}
    for _ in range(args.rounds):
        for mode in results:  # interleaved: drift hits both alike
            out = subprocess.run([sys.executable, "-c", CHILD, str(args.events), mode],
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
            results[mode].append(json.loads(out))
    rate = {m: statistics.median(r["events_per_s"] for r in rs) for m, rs in results.items()}
    print(f"events: {args.events:,}, rounds: {args.rounds} (median)")
    print(f"  files, no sink:      {rate['none']:,.0f} events/s")
    last = results["otel"][-1]
    print(f"  files, OTelSink on:  {rate['otel']:,.0f} events/s"
          f" ({rate['otel'] / rate['none']:.0%} of no sink); the sink exported"
          f" {last['exported']:,.0f}, dropped {last['dropped']:,.0f} (last round)")  # fmt: skip
    cost = subprocess.run([sys.executable, "-c", PER_EVENT], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    print(f"  OTelSink.export: {float(cost):.1f} us/event")


if __name__ == "__main__":
    main()
