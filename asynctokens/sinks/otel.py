"""Usage as OpenTelemetry metrics, per the GenAI semantic conventions (``asynctokens[otel]``).

A sink of the writer: it runs on the worker, from the batches just written to the files, so
``log_tokens()`` costs the caller nothing more with it. It records into the application's
``MeterProvider`` (the global one unless given, as OpenTelemetry instrumentations do); that
provider's reader and exporter (OTLP to a collector, Prometheus, ...) send the points on
their own thread. The files stay the source of truth on each host.

Per call: ``gen_ai.client.token.usage`` once for input and once for output (a failed call
with no counts records none; a call whose counts are not all known, ``counts_unknown``,
records only those above 0 and adds one to ``asynctokens.client.calls.counts_unknown``),
``gen_ai.client.operation.duration`` when the latency is known (``error.type`` on
failures), and the cached, cache-write and reasoning parts as counters. Attributes are
the operation, provider, both model names, the server where its host is known, the
writer's host, and the label keys the sink is told to keep (``label_keys``): never a
request id, key or metadata, so the number of series stays bounded. Names live in
``_genai_semconv``; ``semconv="latest"`` emits the proposed names (token counters of their
own, cache_write, ``gen_ai.usage.cost``) in place of the project's.

An exporter's failure or hang (a collector that is down or stuck) happens on the provider's
thread: wrap the exporter in :func:`watch` and pass it as ``exporter=``, and the sink's
``poll()`` reports each failed export and any export past its timeout, which the writer
counts in ``health().sink_errors`` and writes to ``token_debug.log`` (within the exporter's
own timeout: ``health()`` asks too). At close the provider is flushed (bounded by
``shutdown_timeout_s``) and that last export's result is reported; at interpreter exit the
watched exporter bounds every export left (the provider's own shutdown among them). The
application and the files never notice; OpenTelemetry's own logging is left as configured.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import re
import socket
import threading
from collections.abc import Sequence
from typing import Any, Final

import orjson

from asynctokens.record import _threads
from asynctokens.record._dims import is_label_key
from asynctokens.record._event import TokenEvent
from asynctokens.sinks import _genai_semconv as sc
from asynctokens.sinks._watched import WatchedExporter

try:
    from opentelemetry import metrics
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "asynctokens.otel needs OpenTelemetry: pip install 'asynctokens[otel]'"
    ) from exc

_ERROR_HEAD: Final = re.compile(r"(\d{3})\b|([A-Za-z_][A-Za-z0-9_.]{0,63}):")
#: Loggers whose warnings and errors are an export that failed.
_EXPORT_LOGGERS: Final = ("opentelemetry.sdk.metrics", "opentelemetry.exporter")


def error_type(message: str | None) -> str:
    """A low-cardinality ``error.type`` from a logged error message.

    The status code (``"429 quota exceeded"`` -> ``429``), else the error class or code the
    message starts with (``"RateLimitError: ..."``, ``"429 rate_limit_error: ..."`` ->
    ``429``), else ``_OTHER``: free text never becomes an attribute value.
    """
    if message:
        m = _ERROR_HEAD.match(message)
        if m:
            return m.group(1) or m.group(2)
    return sc.OTHER_ERROR


def provider_name(api_type: str) -> str:
    return sc.PROVIDERS.get(api_type.lower(), api_type)


def server_address(api_type: str) -> str | None:
    """The host a provider's calls go to, where that is one host for everyone; an api_type
    that is a host name (an endpoint logged by its host) is its own; else None."""
    known = sc.SERVERS.get(api_type.lower())
    if known is not None:
        return known
    return api_type if "." in api_type and " " not in api_type else None


def operation_name(metadata_json: str | None, api_type: str = "") -> str:
    """What the event's metadata says under ``gen_ai.operation.name`` (the SDK integrations
    put ``embeddings`` there for embedding calls), else ``generate_content`` for Google's
    Gemini APIs and ``chat`` for the others."""
    default = (
        sc.GENERATE_CONTENT
        if provider_name(api_type) in sc.GENERATE_CONTENT_PROVIDERS
        else sc.DEFAULT_OPERATION
    )
    if metadata_json is None or sc.OPERATION_NAME not in metadata_json:
        return default
    value = orjson.loads(metadata_json).get(sc.OPERATION_NAME)
    return value if isinstance(value, str) and value else default


#: What a call's attributes depend on: (api_type, model, response model, operation, the
#: values of the kept label keys).
_Key = tuple[str, str, "str | None", str, "tuple[str | None, ...]"]


class OTelExportError(Exception):
    """OpenTelemetry could not export metrics (the collector is down or refused them)."""


class OTelSink:
    """Records every written call as GenAI metrics; ``OTelSink(meter_provider=None)``."""

    def __init__(
        self,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        exporter: WatchedExporter | None = None,
        shutdown_timeout_s: float = 2.0,
        prices: Any = None,
        label_keys: Sequence[str] = (),
        semconv: str = "stable",
    ) -> None:
        from asynctokens import __version__

        if semconv not in sc.SEMCONV_MODES:
            raise ValueError(f"semconv must be 'stable' or 'latest', got {semconv!r}")
        if isinstance(label_keys, str) or not all(
            isinstance(k, str) and is_label_key(k) for k in label_keys
        ):
            raise ValueError(
                f"label_keys must be a list of label keys (e.g. ['customer']), got {label_keys!r}"
            )
        self._label_keys = tuple(label_keys)
        self._host = socket.gethostname()
        latest = semconv == "latest"
        provider = meter_provider or metrics.get_meter_provider()
        self._provider = provider
        self._exporter = exporter
        self.shutdown_timeout_s = shutdown_timeout_s
        #: a ``pricing.PriceBook`` (``load_prices()``): each call's cost as a counter too
        self._prices = prices
        if exporter is not None:
            # registered after the provider's own exit hook (made before this sink), so it
            # runs first and bounds the provider's last export at exit
            atexit.register(exporter.bound_exit)
        meter = provider.get_meter("asynctokens", __version__, schema_url=sc.SCHEMA_URL)
        self._cost = (
            None
            if prices is None
            else meter.create_counter(
                sc.LATEST_COST if latest else sc.COST,
                unit=sc.COST_UNIT,
                description="Cost of the calls, as reports price it.",
            )
        )
        self._tokens = meter.create_histogram(
            sc.TOKEN_USAGE,
            unit=sc.TOKEN_USAGE_UNIT,
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=sc.TOKEN_USAGE_BUCKETS,
        )
        self._duration = meter.create_histogram(
            sc.OPERATION_DURATION,
            unit=sc.OPERATION_DURATION_UNIT,
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=sc.OPERATION_DURATION_BUCKETS,
        )
        parts = (
            (sc.LATEST_INPUT_TOKENS if latest else None, "Input tokens, all of them."),
            (sc.LATEST_OUTPUT_TOKENS if latest else None, "Output tokens, all of them."),
            (sc.LATEST_CACHED_TOKENS if latest else sc.CACHED_TOKENS,
             "Input tokens served from a prompt cache."),
            (sc.LATEST_CACHE_WRITE_TOKENS if latest else sc.CACHE_WRITE_TOKENS,
             "Input tokens written to a prompt cache."),
            (sc.LATEST_REASONING_TOKENS if latest else sc.REASONING_TOKENS,
             "Output tokens spent on reasoning."),
        )  # fmt: skip
        #: per part (input, output, cached, cache write, reasoning) its counter, or None
        self._parts = tuple(
            None if name is None else
            meter.create_counter(name, unit=sc.TOKEN_USAGE_UNIT, description=what)
            for name, what in parts
        )  # fmt: skip
        self._unknown = meter.create_counter(
            sc.COUNTS_UNKNOWN,
            unit=sc.COUNTS_UNKNOWN_UNIT,
            description="Calls billed with token counts not all known (not recorded).",
        )
        self._attrs: dict[_Key, dict[str, Any]] = {}
        self._sets: dict[_Key, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}

    def _attributes(self, key: _Key) -> dict[str, Any]:
        attrs = self._attrs.get(key)
        if attrs is None:
            if len(self._attrs) > 10_000:
                self._attrs.clear()
            api_type, model, served, operation, labels = key
            attrs = self._attrs[key] = {
                sc.OPERATION_NAME: operation,
                sc.PROVIDER_NAME: provider_name(api_type),
                sc.REQUEST_MODEL: model,  # the name the call asked for
                sc.RESPONSE_MODEL: served or model,  # the snapshot the reply named
                sc.HOST_NAME: self._host,
            }
            server = server_address(api_type)
            if server is not None:
                attrs[sc.SERVER_ADDRESS], attrs[sc.SERVER_PORT] = server, 443
            for name, value in zip(self._label_keys, labels, strict=True):
                if value is not None:
                    attrs[sc.LABEL_PREFIX + name] = value
        return attrs

    def _key(self, e: TokenEvent) -> _Key:
        keys = self._label_keys
        labels = e.labels
        values = () if not keys else tuple(None if labels is None else labels.get(k) for k in keys)
        return (e.api_type, e.model, e.response_model,
                operation_name(e.metadata_json, e.api_type), values)  # fmt: skip

    def export(self, events: Sequence[TokenEvent]) -> None:
        """Record a batch: the histograms a point per call (their buckets need each value),
        with attribute sets made once per name; the counters summed per attribute set first,
        so a batch costs one ``add`` per set, not one per call."""
        record_tokens, record_duration = self._tokens.record, self._duration.record
        sums: dict[_Key, list[int]] = {}  # attribute key -> the parts' sums
        sets = self._sets
        key_of = self._key
        for e in events:
            key = key_of(e)
            found = sets.get(key)
            if found is None:
                found = sets[key] = self._attribute_sets(key)
            attrs, as_input, as_output = found
            unknown = e.counts_unknown
            if unknown:  # its 0s are no counts: recorded only where one is known
                self._unknown.add(1, attrs)
            if unknown or e.success or e.prompt_tokens or e.completion_tokens:
                if e.prompt_tokens or not unknown:
                    record_tokens(e.prompt_tokens, as_input)
                if e.completion_tokens or not unknown:
                    record_tokens(e.completion_tokens, as_output)
                part = sums.get(key)
                if part is None:
                    part = sums[key] = [0, 0, 0, 0, 0]
                part[0] += e.prompt_tokens
                part[1] += e.completion_tokens
                part[2] += e.cached_tokens
                part[3] += e.cache_write_tokens
                part[4] += e.reasoning_tokens
            if e.latency_ms is not None:
                duration_attrs: dict[str, Any] = attrs
                if not e.success:
                    duration_attrs = {**attrs, sc.ERROR_TYPE: error_type(e.error_message)}
                record_duration(e.latency_ms / 1000.0, duration_attrs)
        counters = self._parts
        for key, part in sums.items():
            attrs = sets[key][0]
            for counter, value in zip(counters, part, strict=True):
                if value and counter is not None:
                    counter.add(value, attrs)
        if self._cost is not None:
            self._add_costs(events)

    def _add_costs(self, events: Sequence[TokenEvent]) -> None:
        """Each priced call's cost, summed per attribute set and price source (a call no
        source prices adds nothing: the files' reports say which)."""
        prices = self._prices
        costs: dict[tuple[_Key, str], float] = {}
        for e in events:
            cost = prices.event_cost(_as_line(e))
            if cost:
                source = prices.source_of(e.api_type, e.response_model or e.model) or ""
                key = (self._key(e), source)
                costs[key] = costs.get(key, 0.0) + cost
        assert self._cost is not None
        for (call, source), total in costs.items():
            self._cost.add(total, {**self._attributes(call), sc.PRICE_SOURCE: source})

    def _attribute_sets(self, key: _Key) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """A call's attributes, and the same with each token type: made once per name."""
        if len(self._sets) > 10_000:
            self._sets.clear()
        attrs = self._attributes(key)
        return (
            attrs,
            {**attrs, sc.TOKEN_TYPE: sc.TOKEN_TYPE_INPUT},
            {**attrs, sc.TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT},
        )

    def poll(self) -> list[str]:
        """What the watched exporter met since the last call (failures, a hang)."""
        return [] if self._exporter is None else self._exporter.problems()

    def shutdown(self) -> None:
        """Export what was recorded, waiting ``shutdown_timeout_s`` at most, and raise
        OTelExportError when that failed: the provider stays the application's (it shuts
        down on its own)."""
        flush = getattr(self._provider, "force_flush", None)
        if self._exporter is None or flush is None:
            return
        exporter, bound = self._exporter, self.shutdown_timeout_s
        result: list[bool] = []

        def run() -> None:  # on a thread: a reader stuck in an export holds its lock
            with exporter.bounded(bound):
                result.append(bool(flush(timeout_millis=int(bound * 1000))))

        flushing = threading.Thread(target=run, name="asynctokens-otel-flush", daemon=True)
        _threads.start(flushing)
        flushing.join(bound + 0.5)
        done = bool(result and result[0])
        problems = exporter.problems()
        if problems or not done:
            raise OTelExportError(
                "the last OpenTelemetry export at close "
                + (problems[0] if problems else f"took over {self.shutdown_timeout_s:g}s")
            )


def _as_line(e: TokenEvent) -> dict[str, Any]:
    """What a pricer reads of a line, from an event."""
    ts = _dt.datetime.fromtimestamp(e.ts_ns // 1000 / 1e6, _dt.UTC).isoformat()
    return {
        "ts": ts, "api_type": e.api_type, "model": e.model, "prompt_tokens": e.prompt_tokens,
        "completion_tokens": e.completion_tokens, "cached_tokens": e.cached_tokens,
        "cache_write_tokens": e.cache_write_tokens, "success": e.success,
        "response_model": e.response_model, "service_tier": e.service_tier,
    }  # fmt: skip


def watch(
    exporter: Any, *, hang_after_s: float = 10.0, exit_timeout_s: float = 2.0
) -> WatchedExporter:
    """``exporter`` watched, for the metric reader and ``OTelSink(exporter=...)``: failed and
    hanging exports reach ``health()``, and at exit the exports left get ``exit_timeout_s``
    in all."""
    return WatchedExporter(exporter, hang_after_s=hang_after_s, exit_timeout_s=exit_timeout_s)


__all__ = [
    "OTelExportError", "OTelSink", "WatchedExporter", "error_type", "provider_name",
    "server_address", "watch",
]  # fmt: skip
