"""A test application for tests/test_prometheus.py: logs a fixed set of calls through a
tracker whose OTelSink records into a Prometheus endpoint of its own
(opentelemetry-exporter-prometheus), prints that endpoint's port, and serves it until killed.

    python tests/prometheus_app.py LOG_DIR
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import start_http_server

from asynctokens import TokenTracker
from asynctokens.otel import OTelSink
from asynctokens.pricing import load_prices

#: (api_type, model, prompt, completion, cached, customer, success): logged 40 times each
CALLS = (
    ("openai", "gpt-4o", 1200, 300, 1024, "acme", True),
    ("openai", "gpt-4o", 0, 0, 0, "acme", False),
    ("anthropic", "claude-sonnet-4-5", 5000, 700, 0, "globex", True),
    ("gemini", "gemini-2.5-flash", 800, 90, 0, None, True),
)


def main() -> None:
    server, _ = start_http_server(0, addr="127.0.0.1")
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    sink = OTelSink(provider, prices=load_prices(), label_keys=["customer"])
    tracker = TokenTracker(Path(sys.argv[1]), sinks=[sink])
    for i in range(40):
        for api, model, prompt, completion, cached, customer, ok in CALLS:
            tracker.log(
                prompt + i, completion, api, model, success=ok, cached_tokens=cached,
                latency_ms=100.0 + i, labels={"customer": customer} if customer else None,
                error_message=None if ok else "429 rate_limit_error: slow down",
            )  # fmt: skip
    assert tracker.close()
    print(server.server_port, flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
