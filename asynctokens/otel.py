"""``asynctokens.otel``: usage as OpenTelemetry GenAI metrics (``pip install 'asynctokens[otel]'``).

from asynctokens.otel import OTelSink
configure(sinks=[OTelSink()])  # the global MeterProvider, as instrumentations use
"""

from __future__ import annotations

from asynctokens.sinks.otel import OTelExportError as OTelExportError
from asynctokens.sinks.otel import OTelSink as OTelSink
from asynctokens.sinks.otel import WatchedExporter as WatchedExporter
from asynctokens.sinks.otel import watch as watch

__all__ = ["OTelExportError", "OTelSink", "WatchedExporter", "watch"]
