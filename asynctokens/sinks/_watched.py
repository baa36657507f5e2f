"""An OpenTelemetry metric exporter, watched: what its exports did, and a bound at exit.

The provider's reader calls the exporter on its own thread, so neither a failure nor a hang
ever passes through the sink's ``export()``. Wrapped in :class:`WatchedExporter`, each export
is timed and its result kept: a failure (an exception, or ``FAILURE``) and an export that
has run past ``hang_after_s`` are reported by ``problems()``, which the writer asks each
time ``health()`` is read and after each batch (``SinkFeed.check``), so a collector that is
down or hanging shows within its own timeout, batch or no batch. Nothing is logged through
OpenTelemetry's loggers, which stay as the application configured them.

At interpreter exit (an ``atexit`` hook ``OTelSink`` registers, after the provider's own, so
it runs first) the exports still to come, the provider's own shutdown among them, get at
most ``exit_timeout_s`` in all: the exporter's own retries can otherwise hold the exit 10 s
and more with the collector away.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

from asynctokens.record import _threads


class WatchedExporter(MetricExporter):
    """Wraps ``inner`` (an ``OTLPMetricExporter``, ...); pass it to the metric reader, and
    to ``OTelSink(exporter=...)``."""

    def __init__(
        self, inner: MetricExporter, *, hang_after_s: float = 10.0, exit_timeout_s: float = 2.0
    ) -> None:
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self.inner = inner
        self.hang_after_s = hang_after_s
        self.exit_timeout_s = exit_timeout_s
        self.exported = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._problems: list[str] = []
        self._running_since: float | None = None
        self._hang_said = False
        self._deadline: float | None = None
        self._exiting = False

    # -- what the sink asks --------------------------------------------------------------------
    def problems(self) -> list[str]:
        """What went wrong since the last call: failed exports, and one that hangs (said
        once per hang)."""
        with self._lock:
            taken, self._problems = self._problems, []
            since = self._running_since
            if since is not None and not self._hang_said:
                running = time.monotonic() - since
                if running > self.hang_after_s:
                    self._hang_said = True
                    taken.append(
                        f"an OpenTelemetry export has not returned for {running:.1f}s"
                        " (the collector hangs?)"
                    )
        return taken

    def bound_exit(self, seconds: float | None = None) -> None:
        """From now on, every export, flush and shutdown together get ``seconds`` (default
        ``exit_timeout_s``); later ones fail at once, said."""
        bound = self.exit_timeout_s if seconds is None else seconds
        self._exiting = True
        with self._lock:
            deadline = time.monotonic() + bound
            if self._deadline is None or deadline < self._deadline:
                self._deadline = deadline

    @contextlib.contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """Within the block, exports get ``seconds`` in all (a flush at the tracker's close):
        the bound is lifted after it, unless the exit's holds."""
        with self._lock:
            outer = self._deadline
            self._deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            with self._lock:
                self._deadline = outer

    def _budget(self, timeout_millis: float) -> float | None:
        """The timeout an export may use now, in ms; None when the bound is spent."""
        with self._lock:
            deadline = self._deadline
        if deadline is None:
            return timeout_millis
        left = (deadline - time.monotonic()) * 1000
        return None if left <= 0 else min(timeout_millis, left)

    def _fail(self, message: str) -> None:
        with self._lock:
            self.failed += 1
            if len(self._problems) < 10:
                self._problems.append(message)
        if self._exiting:  # no health() will be read any more: said where the exit is seen
            print(f"asynctokens: {message}", file=sys.stderr)

    # -- the exporter's interface --------------------------------------------------------------
    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
        budget = self._budget(timeout_millis)
        if budget is None:
            self._fail("an OpenTelemetry export was dropped at exit: the exit bound was spent")
            return MetricExportResult.FAILURE
        with self._lock:
            self._running_since, self._hang_said = time.monotonic(), False
            bounded = self._deadline is not None
        try:
            if bounded:  # at exit: waited for no longer than the bound, however it retries
                result = self._within(budget / 1000, metrics_data, kwargs)
            else:
                result = self.inner.export(metrics_data, timeout_millis=budget, **kwargs)
        except Exception as exc:  # the reader logs it too; we count it and say why
            self._fail(f"an OpenTelemetry export raised {exc!r}")
            return MetricExportResult.FAILURE
        finally:
            with self._lock:
                self._running_since = None
        if result is MetricExportResult.SUCCESS:
            self.exported += 1
        else:
            self._fail(f"an OpenTelemetry export failed ({type(self.inner).__name__} said FAILURE)")
        return result

    def _within(self, seconds: float, metrics_data: Any, kwargs: dict[str, Any]) -> Any:
        """The inner export on a daemon thread, waited for ``seconds`` at most (exporters
        such as OTLP/HTTP retry until their own timeout, whatever they are asked)."""
        done: list[Any] = []

        def run() -> None:
            try:
                done.append(self.inner.export(metrics_data, timeout_millis=seconds * 1000,
                                              **kwargs))  # fmt: skip
            except Exception as exc:
                done.append(exc)

        thread = threading.Thread(target=run, name="asynctokens-otel-exit", daemon=True)
        _threads.start(thread)
        thread.join(seconds)
        if not done:
            self._fail(
                f"an OpenTelemetry export{' at exit' if self._exiting else ''} was left after"
                f" {seconds:.1f}s (the collector did not answer)"
            )
            return MetricExportResult.FAILURE
        if isinstance(done[0], Exception):
            raise done[0]
        return done[0]

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        budget = self._budget(timeout_millis)
        return budget is not None and bool(self.inner.force_flush(timeout_millis=budget))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        atexit.unregister(self.bound_exit)
        budget = self._budget(timeout_millis)
        self.inner.shutdown(timeout_millis=0 if budget is None else budget, **kwargs)
