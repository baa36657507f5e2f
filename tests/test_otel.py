"""asynctokens.otel: usage as GenAI metrics, through the SDK's reader and a real OTLP export."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import read_lines, wait_until
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from test_tracker import log_seed_example

from asynctokens import TokenTracker
from asynctokens.otel import OTelSink, watch
from asynctokens.sinks.otel import error_type

USAGE = "gen_ai.client.token.usage"
DURATION = "gen_ai.client.operation.duration"


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """{metric name: [(attributes, data point)]} of what the reader collects now."""
    out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "asynctokens"
            assert sm.scope.schema_url == "https://opentelemetry.io/schemas/1.37.0"
            for metric in sm.metrics:
                out[metric.name] = [(dict(p.attributes), p) for p in metric.data.data_points]
    return out


HOST = socket.gethostname()


def attrs(model: str, token_type: str | None = None, **extra: Any) -> dict[str, Any]:
    a = {"gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gcp.gemini",
         "gen_ai.request.model": model, "gen_ai.response.model": model, "host.name": HOST,
         "server.address": "generativelanguage.googleapis.com", "server.port": 443}  # fmt: skip
    if token_type:
        a["gen_ai.token.type"] = token_type
    return {**a, **extra}


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    reader.provider = provider  # type: ignore[attr-defined]
    yield reader
    provider.shutdown()


def test_the_seed_calls_give_their_sums_counts_and_attributes(
    reader: InMemoryMetricReader, tmp_path: Path
) -> None:
    tracker = TokenTracker(tmp_path, sinks=[OTelSink(reader.provider)])  # type: ignore[attr-defined]
    log_seed_example(tracker)
    assert tracker.close()
    got = points(reader)
    usage = {(a["gen_ai.request.model"], a["gen_ai.token.type"]): (p.sum, p.count)
             for a, p in got[USAGE]}  # fmt: skip
    # 700 input and 1,270 output over the three calls with counts; the failed call has none
    assert usage == {
        ("gemini-2.5-flash", "input"): (450, 2),
        ("gemini-2.5-flash", "output"): (770, 2),
        ("gemini-2.5-flash-lite", "input"): (250, 1),
        ("gemini-2.5-flash-lite", "output"): (500, 1),
    }
    assert sorted((a for a, _ in got[USAGE]), key=str) == sorted(
        [attrs("gemini-2.5-flash", "input"), attrs("gemini-2.5-flash", "output"),
         attrs("gemini-2.5-flash-lite", "input"), attrs("gemini-2.5-flash-lite", "output")],
        key=str,
    )  # fmt: skip
    first = got[USAGE][0][1]
    assert list(first.explicit_bounds) == [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144,
                                           1048576, 4194304, 16777216, 67108864]  # fmt: skip
    assert DURATION not in got  # the seed's calls carry no latency


def test_durations_errors_parts_and_operations(
    reader: InMemoryMetricReader, tmp_path: Path
) -> None:
    tracker = TokenTracker(tmp_path, sinks=[OTelSink(reader.provider)])  # type: ignore[attr-defined]
    tracker.log(1000, 200, "openai", "gpt-4o", cached_tokens=600, reasoning_tokens=50,
                latency_ms=1500.0, request_id="req_1", api_key="sk-secret-abcd",
                metadata={"user": "u1"})  # fmt: skip
    tracker.log(0, 0, "openai", "gpt-4o", success=False, latency_ms=250.0,
                error_message="429 rate_limit_error: slow down")  # fmt: skip
    tracker.log(300, 0, "anthropic", "claude-opus-4-5", cache_write_tokens=100, latency_ms=40.0)
    tracker.log(8, 0, "openai", "text-embedding-3-small",
                metadata={"gen_ai.operation.name": "embeddings"})  # fmt: skip
    assert tracker.close()
    got = points(reader)
    durations = {(a["gen_ai.request.model"], a.get("error.type")): (p.sum, p.count)
                 for a, p in got[DURATION]}  # fmt: skip
    assert durations == {
        ("gpt-4o", None): (1.5, 1), ("gpt-4o", "429"): (0.25, 1),
        ("claude-opus-4-5", None): (0.04, 1),
    }  # fmt: skip
    assert list(got[DURATION][0][1].explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    parts = {name: [(a["gen_ai.provider.name"], p.value) for a, p in got[name]]
             for name in ("asynctokens.client.token.cached",
                          "asynctokens.client.token.cache_write",
                          "asynctokens.client.token.reasoning")}  # fmt: skip
    assert parts == {
        "asynctokens.client.token.cached": [("openai", 600)],
        "asynctokens.client.token.cache_write": [("anthropic", 100)],
        "asynctokens.client.token.reasoning": [("openai", 50)],
    }
    ops = {a["gen_ai.request.model"]: a["gen_ai.operation.name"] for a, _ in got[USAGE]}
    assert ops == {"gpt-4o": "chat", "claude-opus-4-5": "chat",
                   "text-embedding-3-small": "embeddings"}  # fmt: skip
    # bounded cardinality: nothing per request, key or metadata
    seen = {k for metric in got.values() for a, _ in metric for k in a}
    assert seen == {"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
                    "gen_ai.response.model", "gen_ai.token.type", "error.type", "host.name",
                    "server.address", "server.port"}  # fmt: skip


def test_a_call_whose_counts_are_unknown_records_no_zero_and_is_counted(
    reader: InMemoryMetricReader, tmp_path: Path
) -> None:
    """A 0 that stands for an unknown count is no count: the token histogram takes only
    the counts that are known, and a counter of its own says how many calls were such."""
    tracker = TokenTracker(tmp_path, sinks=[OTelSink(reader.provider)])  # type: ignore[attr-defined]
    tracker.log(150, 320, "gemini", "gemini-2.5-flash")
    tracker.log(0, 0, "gemini", "gemini-2.5-flash", counts_unknown=True)
    tracker.log(80, 0, "gemini", "gemini-2.5-flash", counts_unknown=True)  # output unreadable
    assert tracker.close()
    got = points(reader)
    usage = {a["gen_ai.token.type"]: (p.sum, p.count, p.min) for a, p in got[USAGE]}
    assert usage == {"input": (230, 2, 80), "output": (320, 1, 320)}
    assert [(a, p.value) for a, p in got["asynctokens.client.calls.counts_unknown"]] == [
        (attrs("gemini-2.5-flash"), 2)
    ]


@pytest.mark.parametrize(
    ("message", "expected"),
    [("429 quota exceeded", "429"), ("RateLimitError: slow down", "RateLimitError"),
     ("500 api_error: boom", "500"), ("the model melted", "_OTHER"), (None, "_OTHER"),
     ("x" * 100 + ": long", "_OTHER")],
)  # fmt: skip
def test_error_type_never_carries_free_text(message: str | None, expected: str) -> None:
    assert error_type(message) == expected


class _Receiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP metrics endpoint on 127.0.0.1 that keeps every request it is sent."""

    def __init__(self) -> None:
        self.requests: list[ExportMetricsServiceRequest] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(ExportMetricsServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def _sums(request: ExportMetricsServiceRequest) -> dict[tuple[str, str], tuple[float, int]]:
    out = {}
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name != USAGE:
                    continue
                for p in metric.histogram.data_points:
                    a = {kv.key: kv.value.string_value for kv in p.attributes}
                    out[(a["gen_ai.request.model"], a["gen_ai.token.type"])] = (p.sum, p.count)
    return out


@pytest.mark.slow  # a real HTTP export and its timeout: with the long variants (CI runs them)
def test_a_real_otlp_export_carries_the_logged_sums_and_a_dead_collector_costs_nothing(
    tmp_path: Path,
) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    receiver = _Receiver()
    serving = threading.Thread(target=receiver.serve_forever, daemon=True)
    serving.start()
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}/v1/metrics"
    exporter = watch(OTLPMetricExporter(endpoint=endpoint, timeout=1))
    provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)]
    )
    try:
        tracker = TokenTracker(tmp_path, sinks=[OTelSink(provider, exporter=exporter)])
        for i in range(1_000):
            tracker.log(100 + i, 10 + i % 7, "openai", "gpt-4o" if i % 2 else "gpt-4o-mini")
        assert tracker.close()
        assert provider.force_flush(10_000)
        lines = read_lines(tmp_path)
        expected = {}
        for model in ("gpt-4o", "gpt-4o-mini"):
            mine = [e for e in lines if e["model"] == model]
            expected[(model, "input")] = (float(sum(e["prompt_tokens"] for e in mine)), 500)
            expected[(model, "output")] = (float(sum(e["completion_tokens"] for e in mine)), 500)
        assert _sums(receiver.requests[-1]) == expected

        receiver.shutdown()
        receiver.server_close()
        tracker = TokenTracker(tmp_path, sinks=[OTelSink(provider, exporter=exporter)])
        for _ in range(100):
            tracker.log(1, 1, "openai", "gpt-4o")
        assert tracker.flush_sync()
        wait_until(lambda: tracker.health().sinks[0].exported == 100)  # the sink's own thread
        provider.force_flush(5_000)  # fails: the collector is gone (the SDK returns True)
        # said by health() itself, with no batch after it
        assert tracker.health().sink_errors == 1
        assert "an OpenTelemetry export failed" in (tracker.health().last_error or "")
        assert tracker.close()  # the files are complete: the sink's faults are only counted
        health = tracker.health()
        assert health.sink_errors == 2  # and the last export, at close, is waited for and said
        debug = (tmp_path / "token_debug.log").read_text()
        assert "sink OTelSink: an OpenTelemetry export failed" in debug
        assert "OTelSink.shutdown() failed: OTelExportError('the last OpenTelemetry export" in debug
        assert len(read_lines(tmp_path)) == 1_100
    finally:
        provider.shutdown()


@pytest.mark.slow  # a real gRPC server and export: with the long variants
def test_a_real_otlp_grpc_export_carries_the_logged_sums(tmp_path: Path) -> None:
    """The other exporter the extra brings: OTLP over gRPC to a local server speaking the
    collector's MetricsService, decoded with the official messages."""
    from concurrent import futures

    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.proto.collector.metrics.v1 import (
        metrics_service_pb2,
        metrics_service_pb2_grpc,
    )
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    received: list[ExportMetricsServiceRequest] = []

    class Service(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
        def Export(self, request: Any, context: Any) -> Any:
            received.append(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    exporter = watch(OTLPMetricExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=5))
    provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)]
    )
    try:
        tracker = TokenTracker(tmp_path, sinks=[OTelSink(provider, exporter=exporter)])
        for i in range(200):
            tracker.log(100 + i, 10, "openai", "gpt-4o")
        assert tracker.close()
        assert provider.force_flush(10_000)
        assert _sums(received[-1]) == {
            ("gpt-4o", "input"): (float(200 * 100 + sum(range(200))), 200),
            ("gpt-4o", "output"): (2000.0, 200),
        }
        assert tracker.health().sink_errors == 0
    finally:
        provider.shutdown()
        server.stop(None)


def test_the_model_asked_for_and_the_one_that_served_are_apart(
    reader: InMemoryMetricReader, tmp_path: Path
) -> None:
    """gen_ai.request.model is the name the call asked for, gen_ai.response.model the
    snapshot the reply named; a call that named none has the same in both."""
    tracker = TokenTracker(tmp_path, sinks=[OTelSink(reader.provider)])  # type: ignore[attr-defined]
    tracker.log(100, 10, "openai", "gpt-4o", response_model="gpt-4o-2024-08-06")
    tracker.log(0, 0, "openai", "gpt-4o", success=False, error_message="429 slow down",
                latency_ms=5.0)  # fmt: skip
    assert tracker.close()
    got = points(reader)
    models = {(a["gen_ai.request.model"], a["gen_ai.response.model"], a["gen_ai.operation.name"])
              for a, _ in got[USAGE]}  # fmt: skip
    assert models == {("gpt-4o", "gpt-4o-2024-08-06", "chat")}
    [(failed, _)] = got[DURATION]
    assert (failed["gen_ai.request.model"], failed["gen_ai.response.model"]) == ("gpt-4o", "gpt-4o")


def test_the_cost_of_the_calls_is_a_counter_of_its_own_with_its_price_source(
    reader: InMemoryMetricReader, tmp_path: Path
) -> None:
    """With prices given, each priced call adds its cost (USD) under its attributes and the
    source of its price; an unpriced call adds nothing (never $0)."""
    from asynctokens.pricing import load_prices

    sink = OTelSink(reader.provider, prices=load_prices())  # type: ignore[attr-defined]
    tracker = TokenTracker(tmp_path, sinks=[sink])
    tracker.log(1_000_000, 100_000, "openai", "gpt-4o")  # $2.50 + $1.00
    tracker.log(1_000_000, 0, "openai", "gpt-4o", service_tier="flex")  # $1.25
    tracker.log(1_000_000, 0, "vllm", "my-llama")  # no price
    assert tracker.close()
    got = points(reader)["asynctokens.client.cost"]
    assert [(a["gen_ai.request.model"], round(p.value, 6)) for a, p in got] == [("gpt-4o", 4.75)]
    assert got[0][0]["asynctokens.price_source"].startswith("genai-prices ")


def test_kept_label_keys_and_the_server_are_attributes(
    reader: InMemoryMetricReader, tmp_path: Path
) -> None:
    sink = OTelSink(reader.provider, label_keys=["customer"])  # type: ignore[attr-defined]
    tracker = TokenTracker(tmp_path, sinks=[sink])
    tracker.log(100, 10, "gemini", "gemini-2.5-flash", labels={"customer": "acme", "job": "j1"})
    tracker.log(200, 20, "gemini", "gemini-2.5-flash", labels={"customer": "acme"})
    tracker.log(400, 40, "gemini", "gemini-2.5-flash")  # no label: no attribute
    tracker.log(7, 1, "llm.example.com", "m1")  # an endpoint known by its host
    assert tracker.close()
    got = {(a.get("asynctokens.label.customer"), a["gen_ai.token.type"], a["gen_ai.request.model"],
            a.get("server.address")): p.sum for a, p in points(reader)[USAGE]}  # fmt: skip
    host = "generativelanguage.googleapis.com"
    assert got == {
        ("acme", "input", "gemini-2.5-flash", host): 300,
        ("acme", "output", "gemini-2.5-flash", host): 30,
        (None, "input", "gemini-2.5-flash", host): 400,
        (None, "output", "gemini-2.5-flash", host): 40,
        (None, "input", "m1", "llm.example.com"): 7,
        (None, "output", "m1", "llm.example.com"): 1,
    }
    # a label the sink was not told to keep never becomes an attribute (bounded series)
    assert not any("asynctokens.label.job" in a for a, _ in points(reader)[USAGE])


def test_semconv_latest_emits_the_proposed_counters_and_cost_name(
    reader: InMemoryMetricReader, tmp_path: Path
) -> None:
    from asynctokens.pricing import load_prices

    sink = OTelSink(reader.provider, semconv="latest", prices=load_prices())  # type: ignore[attr-defined]
    tracker = TokenTracker(tmp_path, sinks=[sink])
    tracker.log(1000, 200, "openai", "gpt-4o", cached_tokens=600, reasoning_tokens=50)
    tracker.log(300, 0, "anthropic", "claude-opus-4-5", cache_write_tokens=100)
    assert tracker.close()
    got = points(reader)
    sums = {name: sorted(p.value for _, p in got[name]) for name in got if name != USAGE}
    assert sums == {
        "gen_ai.client.inference.usage.input_tokens": [300, 1000],
        "gen_ai.client.inference.usage.output_tokens": [200],
        "gen_ai.client.inference.usage.cache_read.input_tokens": [600],
        "gen_ai.client.inference.usage.cache_write.input_tokens": [100],
        "gen_ai.client.inference.usage.reasoning.output_tokens": [50],
        # gpt-4o: 400 x $2.50 + 600 x $1.25 + 200 x $10 per 1M; opus 4.5: 200 x $5 + 100 x $6.25
        "gen_ai.usage.cost": [pytest.approx(0.001625), pytest.approx(0.00375)],
    }
    assert sorted(p.sum for _, p in got[USAGE]) == [0, 200, 300, 1000]  # the histogram stays


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"semconv": "newest"}, "semconv must be 'stable' or 'latest', got 'newest'"),
        ({"label_keys": "customer"}, "label_keys must be a list of label keys"),
        ({"label_keys": ["no spaces"]}, "label_keys must be a list of label keys"),
    ],
)
def test_a_wrong_switch_is_one_clear_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        OTelSink(MeterProvider(), **kwargs)
