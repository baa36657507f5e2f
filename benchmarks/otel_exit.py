"""How long a program's exit takes with OTelSink when the collector is away.

    python -m benchmarks.otel_exit [--runs 3]

Runs the README's set-up (OTLP over HTTP or gRPC, the exporter watched, the default bounds:
``shutdown_timeout_s`` and ``exit_timeout_s`` 2 s each) in a fresh interpreter that logs 100
calls and ends, and times the whole process: with no sink (the baseline), with the collector
down (nothing listens: every connection refused) and hanging (it accepts and never answers).
The exporters' own timeout is 10 s and they retry; the bounds are what the exit waits.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

_SCRIPT = """
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from asynctokens import configure, log_tokens
from asynctokens.otel import OTelSink, watch

if {protocol!r} == "none":
    configure(log_dir={log_dir!r})
else:
    if {protocol!r} == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        exporter = watch(OTLPMetricExporter(endpoint="127.0.0.1:{port}", insecure=True))
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        exporter = watch(OTLPMetricExporter(endpoint="http://127.0.0.1:{port}/v1/metrics"))
    reader = PeriodicExportingMetricReader(exporter)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    configure(log_dir={log_dir!r}, sinks=[OTelSink(exporter=exporter)])
for _ in range(100):
    log_tokens(1000, 100, "openai", "gpt-4o")
"""


def _hanging() -> tuple[int, socket.socket]:
    """A listener that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server.getsockname()[1], server


def _down() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def _time(protocol: str, port: int) -> float:
    with tempfile.TemporaryDirectory() as log_dir:
        script = textwrap.dedent(_SCRIPT.format(protocol=protocol, port=port, log_dir=log_dir))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                       timeout=120)  # fmt: skip
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.otel_exit", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    hanging_port, server = _hanging()
    cases = [("no sink", "none", 0)]
    for protocol in ("http", "grpc"):
        cases += [(f"{protocol}, collector down", protocol, _down()),
                  (f"{protocol}, collector hanging", protocol, hanging_port)]  # fmt: skip
    print("| exit of a program that logged 100 calls | median s | max s |")
    print("|---|---:|---:|")
    for name, protocol, port in cases:
        times = [_time(protocol, port) for _ in range(args.runs)]
        print(f"| {name} | {statistics.median(times):.2f} | {max(times):.2f} |", flush=True)
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
