"""The OpenTelemetry sink's health is true: a collector that hangs, is down or flaps shows in
health() and token_debug.log within the exporter's timeout, batch or no batch; no line waits
for it; the exit is bounded whatever the exporter's retries; OpenTelemetry's own logging is
left alone. Real OTLP/HTTP exports to local sockets."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from asynctokens import TokenTracker
from asynctokens.otel import OTelSink, watch
from tests.conftest import read_lines

pytestmark = pytest.mark.slow  # real sockets and the exporter's own timeouts


def wait_until(test: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not test():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


@pytest.fixture
def hanging() -> Iterator[str]:
    """An endpoint that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1/metrics"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _dead() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1/metrics"


def _setup(endpoint: str, timeout_s: float, hang_after_s: float) -> tuple[MeterProvider, object]:
    exporter = watch(OTLPMetricExporter(endpoint=endpoint, timeout=timeout_s),
                     hang_after_s=hang_after_s, exit_timeout_s=1.0)  # fmt: skip
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    return MeterProvider(metric_readers=[reader], shutdown_on_exit=False), exporter


def test_a_hanging_collector_shows_in_health_while_it_hangs(hanging: str, tmp_path: Path) -> None:
    # the exporter's own timeout far past the hang's: the hang is seen while it lasts
    provider, exporter = _setup(hanging, timeout_s=60, hang_after_s=0.3)
    tracker = TokenTracker(tmp_path, sinks=[OTelSink(provider, exporter=exporter,  # type: ignore[arg-type]
                                                     shutdown_timeout_s=0.5)])  # fmt: skip
    for _ in range(100):
        tracker.log(1, 1, "openai", "gpt-4o")
    assert tracker.flush_sync()  # the lines are written: no wait for the collector
    wait_until(lambda: tracker.health().sinks[0].exported == 100, "the sink's batch")
    flushing = threading.Thread(target=provider.force_flush, daemon=True)
    flushing.start()  # the reader's export hangs on the provider's thread
    wait_until(lambda: tracker.health().sink_errors >= 1, "the hang in health()")
    assert "has not returned for" in (tracker.health().last_error or "")
    tracker.log(1, 1, "openai", "gpt-4o")
    assert tracker.close()  # the close's own flush is bounded too, and said
    assert len(read_lines(tmp_path)) == 101
    debug = (tmp_path / "token_debug.log").read_text()
    assert "sink OTelSink: an OpenTelemetry export has not returned for" in debug
    assert "OTelSink.shutdown() failed" in debug
    provider.shutdown(timeout_millis=100)


def test_a_collector_down_from_the_start_and_one_that_flaps(tmp_path: Path) -> None:
    provider, exporter = _setup(_dead(), timeout_s=0.5, hang_after_s=5)
    tracker = TokenTracker(tmp_path, sinks=[OTelSink(provider, exporter=exporter)])  # type: ignore[arg-type]
    tracker.log(1, 1, "openai", "gpt-4o")
    assert tracker.flush_sync()
    wait_until(lambda: tracker.health().sinks[0].exported == 1, "the sink's batch")
    provider.force_flush()
    wait_until(lambda: tracker.health().sink_errors == 1, "the failure in health()")
    assert exporter.failed == 1  # type: ignore[attr-defined]
    assert tracker.close() is True  # the files do not notice
    assert len(read_lines(tmp_path)) == 1
    provider.shutdown(timeout_millis=100)


def test_otelsink_leaves_opentelemetry_logging_as_configured(tmp_path: Path) -> None:
    """No handler of ours on OpenTelemetry's loggers: its warnings still reach stderr
    through logging's last resort, as the application left it."""
    provider, exporter = _setup(_dead(), timeout_s=0.5, hang_after_s=5)
    sink = OTelSink(provider, exporter=exporter)  # type: ignore[arg-type]
    for name in ("opentelemetry.sdk.metrics", "opentelemetry.exporter"):
        assert not logging.getLogger(name).handlers
    sink.poll()
    provider.shutdown(timeout_millis=100)


def test_the_exit_is_bounded_with_the_collector_hanging(hanging: str, tmp_path: Path) -> None:
    """The README's set-up (the SDK shuts its provider down at exit, which exports once
    more) with a collector that never answers and an exporter timeout of 30 s: the export
    left at exit is abandoned after the bound (1 s), said, and the process ends."""
    script = textwrap.dedent(f"""
        from opentelemetry import metrics
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from asynctokens import configure, log_tokens
        from asynctokens.otel import OTelSink, watch

        exporter = watch(OTLPMetricExporter(endpoint={hanging!r}, timeout=30), exit_timeout_s=1)
        metrics.set_meter_provider(MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporter)]))
        configure(log_dir={str(tmp_path)!r}, sinks=[OTelSink(exporter=exporter, shutdown_timeout_s=1)])
        for _ in range(10):
            log_tokens(1, 1, "openai", "gpt-4o")
    """)  # noqa: E501
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(read_lines(tmp_path)) == 10
    # the close's flush gave up after its bound, and said so
    assert "the last OpenTelemetry export at close" in (tmp_path / "token_debug.log").read_text()
    # the SDK's own export at exit was left within the exit bound, and said on stderr
    assert "asynctokens: an OpenTelemetry export at exit was left after" in done.stderr
