"""TokenTracker: the facade (log, the SDK entry points, health, summaries).
The caller's side is one check and one ``deque.append`` of a tuple: ``deque.append`` is atomic
under the GIL, so any thread may log with no lock, no await and no syscall. A call the fast
path does not take is checked (``record._event.build_record``) and queued by ``_enqueue``,
which starts the worker, refuses after close, or applies the full-queue policy. The worker
and its lifetime are the base classes' (``_loop``, ``_lifetime``), and so are the SDK
entry points (``_sdk``: the integrations, imported on first use). ``_log_read`` queues the
counts an SDK reply's reader has checked already.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from time import time_ns
from typing import Any, Final, cast

from asynctokens._errors import TrackerClosedError
from asynctokens.budgets import Alert, Budget, BudgetEvent
from asynctokens.budgets._watch import gate
from asynctokens.record import _event
from asynctokens.record._context import current as _labels_now
from asynctokens.record._event import Extra as _Extra
from asynctokens.record._event import FullRecord, Record
from asynctokens.record._format import resolve_log_dir
from asynctokens.sinks import Sink
from asynctokens.writer import _health, _runtime, _summaries
from asynctokens.writer._config import OverflowPolicy, TrackerConfig
from asynctokens.writer._health import TrackerHealth
from asynctokens.writer._lifetime import _RUNNING, _UNSTARTED, TrackerState
from asynctokens.writer._loop import WorkerLoop
from asynctokens.writer._sdk import SdkEntryPoints

__all__ = ["TokenTracker", "TrackerHealth", "TrackerState", "configure", "get_tracker"]

_BLOCK_STEP_S: Final = 0.001
#: ``x is _ZERO`` is true only for the int 0 (not False, 0.0 or a numpy zero): CPython keeps
#: one 0 object (elsewhere, the realistic call's checks still run).
_ZERO: Final = 0
_INF: Final = float("inf")
_MAX_ERROR: Final = _event.MAX_ERROR_CHARS
_LIMIT: Final = _event.TOKENS_LIMIT


class TokenTracker(WorkerLoop, SdkEntryPoints):
    """Records token events without making the caller wait for any I/O."""

    def __init__(
        self,
        log_dir: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 2000,
        flush_interval_s: float = 0.01,
        stats_interval_s: float = 5.0,
        max_queue_events: int = 200_000,
        overflow: OverflowPolicy = "block",
        block_timeout_s: float = 1.0,
        close_timeout_s: float = 10.0,
        file_mode: int = 0o600,
        dir_mode: int = 0o700,
        sinks: Sequence[Sink] = (),
        sink_timeout_s: float = 5.0,
        host: str | bool = True,
        max_queue_bytes: int = 64 * 1024 * 1024,
        budgets: Sequence[Budget] = (),
        alerts: Sequence[Alert] = (),
        on_budget: Callable[[BudgetEvent], None] | None = None,
        budget_webhook: str | None = None,
        budget_interval_s: float = 2.0,
        label_keys: Sequence[str] | None = None,
    ) -> None:
        config = TrackerConfig(
            log_dir, batch_size, flush_interval_s, stats_interval_s, max_queue_events, overflow,
            block_timeout_s, close_timeout_s, file_mode, dir_mode, sinks, sink_timeout_s, host,
            max_queue_bytes, budgets, alerts, on_budget, budget_webhook, budget_interval_s,
            label_keys,
        )  # fmt: skip
        self._set_options(config)
        self._init_runtime()
        _runtime.track(self)

    # -- the hot path --------------------------------------------------------------------
    def log(
        self,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        api_type: str | None = None,
        model: str = "unknown",
        success: bool = True,
        error_message: str | None = None,
        # by keyword from here (no part of the API), yet not keyword-only: docs/PERF.md
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        latency_ms: float | None = None,
        api_key: str | None = None,
        request_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        ts: Any = None,
        labels: dict[str, str] | None = None,
        response_model: str | None = None,
        service_tier: str | None = None,
        cache_write_1h_tokens: int = 0,
        counts_unknown: bool = False,
    ) -> None:
        """Queue one API call's token counts and return at once. Never performs I/O.

        ``prompt_tokens`` counts all input (cached and cache-written included);
        ``completion_tokens`` counts all output (reasoning included). Only the last 4
        characters of ``api_key`` are kept. ``metadata`` is serialised now, so later changes
        to the dict are not logged and values JSON cannot hold raise ``TypeError`` here.
        ``ts`` (an aware datetime or epoch seconds) defaults to now. Without ``api_type``
        the provider is read from the model name (``gpt-4o`` -> ``openai``) on the worker,
        ``"unknown"`` when the name does not say. ``labels`` add to those of the
        ``labels()`` block in force; ``response_model`` is the model the reply named (when
        it differs from the one asked for, ``model``), ``service_tier`` the tier it was
        served at (``flex``, ``priority``, ``batch`` for a batch API's results, ...);
        ``cache_write_1h_tokens`` the cache writes kept for an hour (Anthropic's ``ttl``).
        ``counts_unknown=True`` marks a billed call whose counts are not all known (passed
        as 0): reports count such calls and call their totals a lower bound.
        """
        # The fast path: plain ints below 2**30, str names, the realistic call's optional
        # fields (latency, request id, key, an error message) in their final form. Two
        # shapes, one test and one append each: the bare call queues a 5-tuple (the worker
        # knows the rest are defaults), any other a full record; with no room (_capacity 0:
        # a sleeping worker, a full queue, not started or closed) it goes to _enqueue, which
        # wakes, starts, refuses or drops. Anything else goes through build_record, whose
        # line a queued record must equal (tests/test_fast_path.py). Why it reads as it does
        # (CPython 3.11, docs/PERF.md): ``x.__class__ is int`` is cheaper than ``type(x) is
        # int``, and a mock or proxy claiming int compares as one or raises TypeError below
        # (to the checked path); names and text are tested with ``type()``, as a proxy for a
        # str would reach the writer, which cannot encode it; ``x < 1 << 30`` is one
        # specialised compare-and-jump. The key is queued whole, cut to its last 4
        # characters on the worker (the slice cost more than every other check).
        q = self._queue
        queued: Record | None = None
        extra = _labels_now()  # the labels() block in force, ready to queue (or None)
        try:
            if (
                prompt_tokens.__class__ is int
                and completion_tokens.__class__ is int
                and (api_type is None or type(api_type) is str)  # None: read from the model
                and type(model) is str
                and prompt_tokens >= 0
                and completion_tokens >= 0
                and prompt_tokens < 1 << 30
                and completion_tokens < 1 << 30
                and metadata is None
                and ts is None
                and labels is None
                and cache_write_1h_tokens is _ZERO
                and counts_unknown is False
            ):
                if (
                    # the bare call leaves every other argument at its default (the int 0
                    # object for the parts: CPython keeps one), and no labels are in force
                    extra is None
                    and response_model is None
                    and service_tier is None
                    and cached_tokens is _ZERO
                    and cache_write_tokens is _ZERO
                    and reasoning_tokens is _ZERO
                    and latency_ms is None
                    and request_id is None
                    and api_key is None
                    and error_message is None
                    and success is True
                ):
                    queued = (time_ns(), prompt_tokens, completion_tokens, api_type, model)
                    if len(q) < self._capacity:
                        q.append(queued)
                        return
                if (
                    cached_tokens.__class__ is int
                    and cache_write_tokens.__class__ is int
                    and reasoning_tokens.__class__ is int
                    # the parts are >= 0 and at most their wholes, so below 2**30 too
                    and cached_tokens >= 0
                    and cache_write_tokens >= 0
                    and reasoning_tokens >= 0
                    and cached_tokens + cache_write_tokens <= prompt_tokens
                    and reasoning_tokens <= completion_tokens
                    and (success is True or success is False)
                    # a float in [0, inf): NaN fails both comparisons
                    and (
                        latency_ms is None
                        or (type(latency_ms) is float and 0.0 <= latency_ms < _INF)
                    )
                    and (request_id is None or type(request_id) is str)
                    and (api_key is None or type(api_key) is str)
                    and (
                        error_message is None
                        or (type(error_message) is str and len(error_message) <= _MAX_ERROR)
                    )
                    # what an instrumented client passes: the served model and the tier
                    and (response_model is None or type(response_model) is str)
                    and (service_tier is None or type(service_tier) is str)
                ):
                    if response_model is not None or service_tier is not None:
                        extra = _Extra(response_model, service_tier, extra and extra.labels)
                    queued = (
                        time_ns(),
                        prompt_tokens,
                        completion_tokens,
                        api_type,
                        model,
                        success,
                        error_message,
                        cached_tokens,
                        cache_write_tokens,
                        reasoning_tokens,
                        latency_ms,
                        api_key,
                        request_id,
                        None,
                        extra,
                    )
                    if len(q) < self._capacity:
                        q.append(queued)
                        return
        except TypeError:  # it claims int as its class and is none: the checked path says so
            pass
        if queued is not None:  # checked, but _capacity is 0: see _enqueue
            self._enqueue(queued)
            return
        record = _event.build_record(
            prompt_tokens,
            completion_tokens,
            api_type,
            model,
            success,
            error_message,
            cached_tokens,
            cache_write_tokens,
            reasoning_tokens,
            latency_ms,
            api_key,
            request_id,
            metadata,
            ts,
            _event.call_extra(
                extra, labels, response_model, service_tier, cache_write_1h_tokens, counts_unknown
            ),
        )
        self._enqueue(record)

    def _log_read(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        api_type: str,
        model: str,
        cached_tokens: int,
        cache_write_tokens: int,
        reasoning_tokens: int,
        latency_ms: float,
        api_key: str | None,
        request_id: str | None,
        metadata: dict[str, Any] | None,
        response_model: str | None,
        service_tier: str | None,
        cache_write_1h_tokens: int,
    ) -> None:
        """Queue a successful reply's counts that its reader has checked already (a
        provider's ``fast_fields``: plain ints, each part within its whole, text or None),
        as ``log()`` queues them with the same arguments (tests/test_fast_path.py holds the
        lines equal) but without re-checking what the reader checked: every instrumented
        reply and stream ends here, right after the SDK's own work, when each bytecode
        costs a cache miss. What came from the user's code (the model asked for, the key)
        and the sum of the input parts are still checked: anything else takes ``log()``."""
        if not (
            type(model) is str
            and (api_key is None or type(api_key) is str)
            and prompt_tokens < _LIMIT
        ):
            self.log(prompt_tokens, completion_tokens, api_type, model, True, None,
                     cached_tokens, cache_write_tokens, reasoning_tokens, latency_ms, api_key,
                     request_id, metadata, None, None, response_model, service_tier,
                     cache_write_1h_tokens)  # fmt: skip
            return
        extra = _labels_now()
        if response_model is not None or service_tier is not None or cache_write_1h_tokens:
            labels = None if extra is None else extra.labels
            extra = _Extra(response_model, service_tier, labels, cache_write_1h_tokens)
        meta = None if metadata is None else _event.encode_metadata(metadata)
        record = (time_ns(), prompt_tokens, completion_tokens, api_type, model, True, None,
                  cached_tokens, cache_write_tokens, reasoning_tokens, latency_ms, api_key,
                  request_id, meta, extra)  # fmt: skip
        q = self._queue
        if meta is None and len(q) < self._capacity:
            q.append(record)
            return
        self._enqueue(record)

    def _enqueue(self, record: Record) -> None:
        """Queue a checked record: start the worker, refuse after close, or handle a full queue."""
        if _runtime.draining and (self._state is _UNSTARTED or self._closed_at_exit):
            self._write_at_exit(record)
            return
        state = self._state
        if state is _UNSTARTED:
            # may return with the tracker still starting, when this call interrupted the
            # start on this very thread (a signal handler): the record then waits in the
            # queue, which the worker reads once it runs
            self._start_thread()
        elif state is not _RUNNING:
            raise TrackerClosedError(
                "Cannot log tokens, as the tracker has been closed. Log before aclose()/close(),"
                " or create a new TokenTracker."
            )
        size = len(cast("FullRecord", record)[13] or "") if len(record) == 15 else 0  # metadata
        if len(self._queue) < self.max_queue_events and (size == 0 or self._reserve(size)):
            self._queue.append(record)
        else:
            self._on_full(record, size)
        if self._asleep:
            self._wake_worker()

    def _write_at_exit(self, record: Record) -> None:
        """An event logged after the exit drain (a late atexit handler, a ``__del__``).

        There is no worker any more, and at interpreter shutdown no thread can start: the
        event is written here, in the caller's thread, or refused on stderr and counted.
        """
        if sys.is_finalizing():
            self._note_drop()
            print(
                "asynctokens: an event logged during interpreter shutdown (after the exit"
                " drain, e.g. from __del__) cannot be written; log it before exit",
                file=sys.stderr,
            )
            return
        with self._lock:
            try:
                if self._writer is None:
                    self._log_dir = resolve_log_dir(self._log_dir_arg).absolute()
                    self._writer = self._new_writer()
                self._writer.add_batch([record])
                self._writer.write_pending()
            except Exception as exc:  # the app is exiting: say it, never raise into it
                self._note_drop()
                print(f"asynctokens: an event logged at exit was not written: {exc}",
                      file=sys.stderr)  # fmt: skip
                return
            try:
                self._writer.update_stats()
            except Exception as exc:  # the line is written; readers fold it from the file
                self._record_error(f"updating token_stats.json at exit failed: {exc!r}")

    def _note_drop(self) -> None:
        dropped = next(self._drop_count)
        if dropped > self._dropped:
            self._dropped = dropped

    def _reserve(self, size: int) -> bool:
        """Room for ``size`` bytes of metadata within ``max_queue_bytes``: counted if so.

        Only the checked path comes here (the fast path queues no metadata). Callers count
        what they queue and the worker what it takes (``Engine.bytes_out``), each counter
        with one writer; the callers' count is kept under a lock of their own, never the
        worker's (re-entrant: a signal handler may log on a thread holding it)."""
        engine = self._engine
        if engine is None:  # a call that interrupted the worker's start: counted by events
            return True
        with self._bytes_lock:
            if engine.bytes_in - engine.bytes_out + size > self.max_queue_bytes:
                return False
            engine.bytes_in += size
        return True

    def _on_full(self, record: Record, size: int = 0) -> None:
        """The queue is full (in events, or in bytes of metadata): wait for room (threads
        without a loop, policy "block") or drop.

        "block" waits as long as the worker keeps writing, whatever the number of threads
        waiting: ``block_timeout_s`` is how long it may make no progress at all. While the
        writes fail (a full disk, an unwritable directory) it does not wait: each call would
        stall for nothing, so the event is dropped and counted at once.
        """
        writer, engine = self._writer, self._engine
        if (
            self.overflow == "block"
            and self.block_timeout_s > 0
            and writer is not None
            and engine is not None
            and not engine.writes_failing
            and not _runtime.in_event_loop()
        ):
            seen = writer.written
            deadline = time.monotonic() + self.block_timeout_s
            while self._state is _RUNNING and not engine.writes_failing:
                time.sleep(_BLOCK_STEP_S)
                if len(self._queue) < self.max_queue_events and (size == 0 or self._reserve(size)):
                    self._queue.append(record)
                    return
                now = time.monotonic()
                if writer.written != seen:  # progress: the wait goes on
                    seen, deadline = writer.written, now + self.block_timeout_s
                elif now >= deadline:
                    break
        self._note_drop()

    # -- reading back --------------------------------------------------------------------
    def budget_gate(self, api_type: str, model: str | None) -> None:
        """BudgetExceededError when an enforced budget covering this call is spent (the SDK
        wrappers and ``track`` ask before a request is sent; ``budgets._watch.gate``)."""
        gate(self._watcher, api_type, model)

    def health(self) -> TrackerHealth:
        """What the worker has done so far, for dashboards and alerts (``_health``)."""
        return _health.of(self)

    def get_summary(self) -> dict[str, Any]:
        """Totals and per-model/per-provider/per-day rows; never raises, never blocks a loop.

        Off an event loop: flushes, then reads the whole log directory (every process that
        writes it), with ``"scope": "directory"``. On a thread that runs an event loop, where
        reading files could stall every other task: what this tracker itself has written,
        from memory, with ``"scope": "process"`` (``await aget_summary()`` gives the
        directory there). When the directory cannot be read, the in-memory figures too,
        with the reason in ``"error"``.
        """
        if _runtime.in_event_loop():
            return _summaries.own(self)
        if self._state is _RUNNING:
            self.flush_sync()
        return _summaries.directory(self)

    async def aget_summary(self) -> dict[str, Any]:
        """The whole directory's summary, read on a worker thread so the loop runs on."""
        await self.flush()
        return await _summaries.in_thread(self)

    def print_summary(self, file: Any = None) -> None:
        """The summary as a table, with the cost of what is priced (``_summaries.costs``)."""
        summary = self.get_summary()
        text = _summaries.render(summary, _summaries.costs(self, summary))
        print(text, file=file or sys.stdout)


#: The tracker behind ``log_tokens()``; its directory is resolved when it first logs.
_DEFAULT = TokenTracker()


def get_tracker() -> TokenTracker:
    """The process-wide tracker that ``log_tokens()`` writes to."""
    return _DEFAULT


def configure(**options: Any) -> TokenTracker:
    """Change some of the default tracker's options before its first event.

    Options not given keep their current value (a second ``configure()`` does not undo the
    first); every option is checked before any is changed.
    """
    if _DEFAULT.state is not _UNSTARTED:
        raise RuntimeError(
            "configure() must be called before the first log_tokens() call:"
            " the default tracker is already running."
        )
    try:
        config = _DEFAULT.config.merged(**options)
    except TypeError as exc:
        raise TypeError(f"configure() got {exc}") from None
    _DEFAULT._set_options(config)
    return _DEFAULT


# anyio's backend is imported with the writer, at start-up, not by the first log_tokens():
# that call may come from a request handler on an event loop, which an import would stall
# (20 ms here) -- and it must happen before the worker thread starts anyway (_runtime)
_runtime.import_backend()
if threading.current_thread() is threading.main_thread():
    _runtime.install_sigterm_handler()
# registered now, early, so it runs after the atexit handlers an application registers later
# (atexit runs last-registered first) and their events are drained with the rest
_runtime.register_atexit()

log_tokens = _DEFAULT.log
log_response = _DEFAULT.log_response
