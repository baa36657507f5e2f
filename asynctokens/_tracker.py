"""TokenTracker: the facade (log, flush, close, health, summaries) and where its worker runs.

The caller's side is one check and one ``deque.append`` of a tuple: ``deque.append`` is atomic
under the GIL, so any thread may log with no lock, no await and no syscall. The worker's
decisions (batches, retries, stats, flush answers, sinks) are the ``Engine``'s (``_engine``);
this module runs its steps, owns the lifetime (UNSTARTED -> RUNNING -> CLOSING -> CLOSED) and
lets the worker sleep when there is nothing to do: the fast path never signals it; while it
sleeps the fast path is closed (``_capacity`` 0), so the next ``log()`` takes the slow path,
which wakes it. Exit hooks, signals and fork are ``_runtime``'s.

Where the worker runs:

* ``async with TokenTracker(...)`` runs it as a task of the running event loop (asyncio or
  trio, via anyio); the encoding and file I/O of each batch go to anyio's worker threads,
  so the loop only sleeps and hands off.
* otherwise (the first ``log()`` starts it) it runs on a daemon thread with its own anyio
  event loop. The process-wide tracker behind ``log_tokens()`` always does this, because
  it must outlive any one event loop; it is drained at exit, on SIGTERM and when a
  multiprocessing child ends.

``flush()`` puts a marker in the queue and waits until the worker has written everything
before it and updated the stats: FIFO order is what makes "everything logged so far" exact.
"""

from __future__ import annotations

import enum
import itertools
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from time import time_ns
from types import TracebackType
from typing import Any, Final

import anyio

from asynctokens import _event, _files, _runtime, _statsfile
from asynctokens._config import OverflowPolicy, TrackerConfig
from asynctokens._engine import IDLE_WAKE_S, POLL_S, RETRY_MAX_S, Engine, FlushMarker
from asynctokens._errors import TrackerClosedError
from asynctokens._event import Record
from asynctokens._format import resolve_log_dir
from asynctokens._stats import Aggregate
from asynctokens._writer import BatchWriter
from asynctokens.integrations import _call, _instrument, _stream, _track
from asynctokens.integrations._dispatch import usage_from
from asynctokens.integrations._usage import Usage
from asynctokens.render import text as _text
from asynctokens.sinks import Sink

_BLOCK_STEP_S: Final = 0.001
#: ``x is _ZERO`` is true only for the int 0 (not False, 0.0 or a numpy zero): CPython keeps
#: one 0 object. Where an implementation does not, the realistic call's checks still run.
_ZERO: Final = 0
_INF: Final = float("inf")
_MAX_ERROR: Final = _event.MAX_ERROR_CHARS


class TrackerState(enum.Enum):
    """A tracker's lifetime: UNSTARTED -> RUNNING -> CLOSING -> CLOSED."""

    UNSTARTED = "unstarted"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


_UNSTARTED, _RUNNING, _CLOSING, _CLOSED = (
    TrackerState.UNSTARTED,
    TrackerState.RUNNING,
    TrackerState.CLOSING,
    TrackerState.CLOSED,
)


@dataclass(frozen=True)
class TrackerHealth:
    """What the worker has done so far, for dashboards and alerts."""

    state: str
    worker: str | None  # "thread", "task" or None before the first event
    log_dir: str
    queue_depth: int
    pending_write: int  # encoded, waiting for a retry after a write error
    written: int
    dropped: int
    stats_errors: int  # failed updates of token_stats.json (the lines were written)
    sink_errors: int  # batches an extra sink failed on (the files are not affected)
    rejected: int  # passed the call-site checks yet could not be written: counted, never hidden
    write_errors: int
    last_error: str | None
    last_error_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TokenTracker:
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
        host: str | bool = True,
    ) -> None:
        self._set_options(
            TrackerConfig(
                log_dir,
                batch_size,
                flush_interval_s,
                stats_interval_s,
                max_queue_events,
                overflow,
                block_timeout_s,
                close_timeout_s,
                file_mode,
                dir_mode,
                sinks,
                host,
            )
        )
        self._init_runtime()
        _runtime.track(self)

    def _set_options(self, config: TrackerConfig) -> None:
        """Take a validated config; the worker reads the options as plain attributes."""
        self.config = config
        self._log_dir_arg = config.log_dir
        self._log_dir: Path | None = None
        self.batch_size = config.batch_size
        self.flush_interval_s = config.flush_interval_s
        self.stats_interval_s = config.stats_interval_s
        self.max_queue_events = config.max_queue_events
        self.overflow: OverflowPolicy = config.overflow
        self.block_timeout_s = config.block_timeout_s
        self.close_timeout_s = config.close_timeout_s
        self.file_mode = config.file_mode
        self.dir_mode = config.dir_mode
        self.sinks: tuple[Sink, ...] = tuple(config.sinks)
        self.host = config.host

    def _init_runtime(self) -> None:
        """Fresh per-process state; also what a fork child starts from."""
        self._queue: deque[Record | FlushMarker] = deque()
        self._state = _UNSTARTED
        self._capacity = 0  # max_queue_events while running, else 0 to divert log() to checks
        self._worker_kind: str | None = None
        self._writer: BatchWriter | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread: int | None = None
        self._task_group: Any = None
        self._done = threading.Event()
        # guards start-up and flush requests; re-entrant because a signal handler that logs
        # may run on this thread while it holds the lock (the first log() starting the worker)
        self._lock = threading.RLock()
        self._starting = False
        # counted without a lock for the same reason: next() on a count is atomic, and the
        # largest value taken is the number of drops whatever the interleaving
        self._drop_count = itertools.count(1)
        self._dropped = 0
        self._dropped_reported = 0
        # the worker's sleep when it has nothing to do: the slow path of log(), flush() and
        # close() wake it; the fast path never does (it sees _capacity == 0 while the worker
        # sleeps, so the next log() takes the slow path, which wakes it)
        self._wake = threading.Event()
        self._asleep = False
        self._loss_reported = False
        self._closed_at_exit = False
        self._last_error: str | None = None
        self._last_error_at: str | None = None
        self._engine: Engine | None = None  # made when the worker starts
        self._close_deadline = float("inf")
        self._close_wait = self.close_timeout_s

    # -- the hot path --------------------------------------------------------------------
    def log(
        self,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        api_type: str | None = None,
        model: str = "unknown",
        success: bool = True,
        error_message: str | None = None,
        *,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        latency_ms: float | None = None,
        api_key: str | None = None,
        request_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        ts: Any = None,
    ) -> None:
        """Queue one API call's token counts and return at once. Never performs I/O.

        ``prompt_tokens`` counts all input (cached and cache-written included);
        ``completion_tokens`` counts all output (reasoning included). Only the last 4
        characters of ``api_key`` are kept. ``metadata`` is serialised now, so later changes
        to the dict are not logged and values JSON cannot hold raise ``TypeError`` here.
        ``ts`` (an aware datetime or epoch seconds) defaults to now. Without ``api_type``
        the provider is read from the model name (``gpt-4o`` -> ``openai``) on the worker,
        ``"unknown"`` when the name does not say.
        """
        # The fast path: plain ints below 2**30, str names, and the optional fields the
        # realistic call passes (latency, request id, key, an error message) already in their
        # final form; room in the queue. Two shapes, each one test and one append: the bare
        # call queues a 5-tuple (the worker knows the rest are defaults), any other a full
        # record. Anything else (metadata, ts, an int latency, a long message, a count from
        # 2**30 on, a stopped worker or a full queue, signalled by _capacity == 0) goes through
        # build_record and _enqueue, which explain or handle it. What is queued must write
        # the line build_record's record writes (tests/test_fast_path.py compares them, and
        # fails if a call meant for this path leaves it).
        #
        # Why it reads as it does (CPython 3.11, docs/PERF.md): ``x.__class__ is int`` is
        # cheaper than ``type(x) is int`` (no call), and an object that claims int as its
        # class (a mock, a proxy) either compares as an int or raises TypeError below, which
        # sends it to the checked path; names and text are tested with ``type()``, since a
        # proxy for a str would pass every test here and reach the writer, which cannot
        # encode it; ``x < 1 << 30`` compares compact ints
        # and jumps in one specialised step, where ``(a | b) >> 40`` ran two unspecialised
        # operations and a chained ``0 <= x < y`` needs stack shuffles; ``is None`` tests
        # jump in one instruction, chains of ``is`` take five.
        # The key is queued as given and cut to its last 4 characters on the worker: the
        # slice and length test cost the caller more than all the other checks of the
        # realistic call together. The key never reaches a file, a sink or a log whole.
        q = self._queue
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
                and len(q) < self._capacity
            ):
                if (
                    # the bare call leaves every other argument at its default (the int 0
                    # object for the parts: CPython keeps one)
                    cached_tokens is _ZERO
                    and cache_write_tokens is _ZERO
                    and reasoning_tokens is _ZERO
                    and latency_ms is None
                    and request_id is None
                    and api_key is None
                    and error_message is None
                    and success is True
                ):
                    q.append((time_ns(), prompt_tokens, completion_tokens, api_type, model))
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
                ):
                    q.append(
                        (
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
                        )
                    )
                    return
        except TypeError:  # it claims int as its class and is none: the checked path says so
            pass
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
        )
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
        if len(self._queue) < self.max_queue_events:
            self._queue.append(record)
        else:
            self._on_full(record)
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

    def _wake_worker(self) -> None:
        """Undo the worker's sleep: the fast path is open again and the worker runs.

        Under the lock that ``_begin_close`` holds, so a wake racing a close cannot open
        the fast path of a closing tracker again.
        """
        with self._lock:
            self._asleep = False
            if self._state is _RUNNING:
                self._capacity = self.max_queue_events
        self._wake.set()

    def _on_full(self, record: Record) -> None:
        """The queue is full: wait for room (threads without a loop, policy "block") or drop.

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
                if len(self._queue) < self.max_queue_events:
                    self._queue.append(record)
                    return
                now = time.monotonic()
                if writer.written != seen:  # progress: the wait goes on
                    seen, deadline = writer.written, now + self.block_timeout_s
                elif now >= deadline:
                    break
        self._note_drop()

    # -- straight from the SDKs ----------------------------------------------------------
    def log_response(
        self,
        obj: Any,
        *,
        latency_ms: float | None = None,
        api_key: str | None = None,
        metadata: dict[str, Any] | None = None,
        model: str | None = None,
    ) -> Usage | None:
        """Log the usage an SDK response (or SDK exception, or stream's items) carries.

        Exactly one event, with the counts in the file format's meaning whatever the
        provider (see ``usage_from``). ``model`` is used only when the object names none.
        An object with no usage is not logged: a ``UsageMissingWarning`` says so, once per
        call site, and None is returned; otherwise the ``Usage`` that was logged.
        """
        usage = usage_from(obj)
        if usage is None:
            _call.warn_no_usage(obj, None)
            return None
        _call.log_usage(
            self, usage, latency_ms=latency_ms, api_key=api_key, metadata=metadata, model=model
        )
        return usage

    def wrap_stream(
        self,
        stream: Any,
        *,
        model: str | None = None,
        api_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Any:
        """Pass a sync or async stream through unchanged and log its call once at its end.

        Logged when the stream is read to the end, raises (a failure), or is left early
        (``break``, ``close()``, garbage: marked as such); latency runs to that moment.
        """
        call = _call.CallLog(
            self, model=model, api_key=api_key, metadata=metadata, site=_call.call_site(1)
        )
        return _stream.wrap(stream, call)

    def instrument(self, client: Any) -> Any:
        """Log every call of one OpenAI, Anthropic or google.genai client (returned as is)."""
        return _instrument.instrument(self, client)

    def track(
        self,
        *,
        api_type: str,
        model: str,
        api_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> _track.TrackedCall:
        """Time a call to any other API: a (sync or async) context manager or a decorator."""
        return _track.TrackedCall(
            self, api_type=api_type, model=model, api_key=api_key, metadata=metadata
        )

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def state(self) -> TrackerState:
        return self._state

    @property
    def log_dir(self) -> Path:
        """The absolute directory this tracker writes (resolved when it starts)."""
        if self._log_dir is None:
            return resolve_log_dir(self._log_dir_arg).absolute()
        return self._log_dir

    def _new_writer(self) -> BatchWriter:
        assert self._log_dir is not None
        host = socket.gethostname() if self.host is True else self.host or None
        return BatchWriter(
            self._log_dir, file_mode=self.file_mode, dir_mode=self.dir_mode, host=host
        )

    def _prepare(self, kind: str) -> None:
        self._log_dir = resolve_log_dir(self._log_dir_arg).absolute()
        self._writer = self._new_writer()
        self._engine = Engine(
            self._queue,
            self._writer,
            batch_size=self.batch_size,
            flush_interval_s=self.flush_interval_s,
            stats_interval_s=self.stats_interval_s,
            sinks=self.sinks,
            on_error=self._record_error,
        )
        self._worker_kind = kind
        self._done.clear()
        self._check_log_dir(self._log_dir, self._engine)

    def _check_log_dir(self, log_dir: Path, engine: Engine) -> None:
        """Say at once, not after the first batch, when the directory cannot be written.

        Nothing is raised (the application never sees a writer fault): the events stay
        queued and the worker retries, so a directory fixed in time loses nothing.
        """
        try:
            _files.ensure_dir(log_dir, self.dir_mode)
            if not os.access(log_dir, os.W_OK | os.X_OK):
                raise PermissionError(f"no write permission on {log_dir}")
        except OSError as exc:
            engine.writes_failing = True
            message = (
                f"cannot write token logs to {log_dir}: {exc}. Events are kept in memory"
                f" (up to max_queue_events={self.max_queue_events}, then dropped and counted)"
                " and the writes are retried; fix the directory or pass another log_dir."
            )
            self._record_error(message)
            print(f"asynctokens: {message}", file=sys.stderr)

    def _start_thread(self) -> None:
        with self._lock:
            if self._state is not _UNSTARTED or self._starting:
                return  # started, or being started by the call this one interrupted
            self._starting = True
            try:
                self._prepare("thread")
                # anyio imports its backend on first run; doing that on the new thread could
                # leave a module import lock held in a child forked meanwhile, and the child's
                # own worker would then hang importing it. Import it here, before the thread.
                _runtime.import_backend()
                self._thread = threading.Thread(
                    target=anyio.run,
                    args=(self._run, False),
                    name="asynctokens-writer",
                    daemon=True,
                )
                self._state = _RUNNING  # before start(): the worker reads it at once
                self._capacity = self.max_queue_events
                self._thread.start()
            except RuntimeError as exc:  # "can't create new thread at interpreter shutdown"
                self._state, self._capacity = _UNSTARTED, 0
                raise TrackerClosedError(
                    f"Cannot log tokens: the writer thread could not start ({exc})."
                ) from None
            finally:
                self._starting = False
        _runtime.register_exit_hooks()
        if threading.current_thread() is threading.main_thread():
            _runtime.install_sigterm_handler()  # a server may have installed its own since

    async def __aenter__(self) -> TokenTracker:
        """Run the worker as a task of the current event loop until the block exits."""
        with self._lock:
            if self._state is not _UNSTARTED:
                raise RuntimeError(
                    f"Cannot enter the tracker, as it is already {self._state.value}."
                    " Use a new TokenTracker for each `async with` block."
                )
            self._prepare("task")
            self._state = _RUNNING
            self._capacity = self.max_queue_events
        self._loop_thread = threading.get_ident()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._run, True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            await self.aclose()
        finally:
            if not self._done.is_set():
                self._task_group.cancel_scope.cancel()
            result = await self._task_group.__aexit__(exc_type, exc, tb)
        return bool(result) if result is not None else None

    async def aclose(self, timeout: float | None = None) -> bool:
        """Drain everything queued, write stats and stop. Idempotent.

        Returns False when the timeout (default ``close_timeout_s``) passed before the queue
        was on disk, e.g. while the disk is full; the count of what was left is in
        ``token_debug.log`` and ``health()``.
        """
        if self._worker_kind == "thread":
            return await anyio.to_thread.run_sync(self.close, timeout)
        self._begin_close(timeout)
        return await self._wait_async(self._done, self._close_deadline)

    def close(self, timeout: float | None = None) -> bool:
        """Blocking form of :meth:`aclose`, for scripts and threads. Idempotent."""
        self._begin_close(timeout)
        if self._worker_kind is None:
            return True
        if self._worker_kind == "task" and threading.get_ident() == self._loop_thread:
            return self._done.is_set()  # cannot block the loop the worker runs on
        done = self._done.wait(max(0.0, self._close_deadline - time.monotonic()))
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # the worker sets _done as its last act: its thread ends right after
            thread.join(max(0.0, self._close_deadline - time.monotonic()) if done else 0)
        if not done:
            self._report_loss()
        return done

    def _report_loss(self) -> None:
        """Say once, on stderr and in the debug log, what a close left unwritten."""
        with self._lock:
            if self._loss_reported:
                return
            self._loss_reported = True
        engine = self._engine
        left = engine.unwritten() if engine is not None else 0
        message = (
            f"closed with {left} events not written after {self._close_wait:g}s"
            f" (last error: {self._last_error})"
        )
        self._record_error(message)
        print(f"asynctokens: {message}", file=sys.stderr)

    def _begin_close(self, timeout: float | None) -> None:
        with self._lock:
            if self._state is _UNSTARTED:
                self._state = _CLOSED
                self._done.set()
            elif self._state is _RUNNING:
                wait = self.close_timeout_s if timeout is None else timeout
                self._close_wait = wait
                self._close_deadline = time.monotonic() + wait
                self._capacity = 0
                self._state = _CLOSING
        self._wake.set()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is on disk and in ``token_stats.json``."""
        marker = self._request_flush()
        if marker is None:
            return True
        deadline = time.monotonic() + (self.close_timeout_s if timeout is None else timeout)
        return await self._wait_async(marker, deadline) and marker.ok

    def flush_sync(self, timeout: float | None = None) -> bool:
        """Blocking form of :meth:`flush`; not for the event loop a task worker runs on."""
        if self._worker_kind == "task" and threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "flush_sync() would block the event loop the tracker's worker runs on;"
                " use `await tracker.flush()` there."
            )
        marker = self._request_flush()
        if marker is None:
            return True
        return marker.wait(self.close_timeout_s if timeout is None else timeout) and marker.ok

    def _request_flush(self) -> FlushMarker | None:
        if self._state is _UNSTARTED or (self._state is _CLOSED and not self._queue):
            return None
        engine = self._engine
        if engine is None:  # a flush from a signal handler while the worker starts
            return None
        marker = FlushMarker()
        with self._lock:
            engine.flush_requested += 1
            self._queue.append(marker)
        self._wake_worker()
        return marker

    @staticmethod
    async def _wait_async(event: threading.Event, deadline: float) -> bool:
        while not event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await anyio.sleep(min(POLL_S / 4, left))
        return True

    # -- reading back --------------------------------------------------------------------
    def health(self) -> TrackerHealth:
        writer, engine = self._writer, self._engine
        return TrackerHealth(
            state=self._state.value,
            worker=self._worker_kind,
            log_dir=str(self.log_dir),
            # flush markers still queued are not events
            queue_depth=len(self._queue)
            - (engine.flush_requested - engine.flush_taken if engine else 0),
            pending_write=writer.pending_events if writer else 0,
            written=writer.written if writer else 0,
            dropped=self._dropped,
            stats_errors=engine.stats_errors if engine else 0,
            sink_errors=engine.sink_errors if engine else 0,
            rejected=writer.rejected if writer else 0,
            write_errors=engine.write_errors if engine else 0,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
        )

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
            return self._own_summary()
        if self._state is _RUNNING:
            self.flush_sync()
        return self._directory_summary()

    async def aget_summary(self) -> dict[str, Any]:
        """The whole directory's summary, read on a worker thread so the loop runs on."""
        await self.flush()
        return await anyio.to_thread.run_sync(self._directory_summary)

    def _directory_summary(self) -> dict[str, Any]:
        try:
            if not self.log_dir.is_dir():
                return {**Aggregate().summary(), "scope": "directory"}
            return {**_statsfile.current(self.log_dir).summary(), "scope": "directory"}
        except Exception as exc:  # e.g. sums an edited line pushed past 64 bits, EACCES
            self._record_error(f"reading {self.log_dir} for a summary failed: {exc!r}")
            return {**self._own_summary(), "error": f"{type(exc).__name__}: {exc}"}

    def _own_summary(self) -> dict[str, Any]:
        writer = self._writer
        totals = writer.totals if writer is not None else Aggregate()
        return {**totals.summary(), "scope": "process"}

    def print_summary(self, file: Any = None) -> None:
        """The summary as a table, with the cost of what is priced: the read side prices it
        (imported here, on first use, so a tracker that never prints never loads prices)."""
        summary = self.get_summary()
        print(_text.render_summary(summary, self._costs(summary)), file=file or sys.stdout)

    def _costs(self, summary: dict[str, Any]) -> dict[str, Any] | None:
        """The cost rows of the same scope as ``summary``; None (shown as n/a) if pricing
        failed, which is recorded like any error of the tracker's, never raised."""
        try:
            from asynctokens import summary as reports

            if summary["scope"] == "directory" and "error" not in summary:
                if not self.log_dir.is_dir():
                    return reports.costs(Aggregate())
                agg = reports.load(reports.Query(log_dir=self.log_dir))
            else:
                agg = self._writer.totals if self._writer is not None else Aggregate()
            return reports.costs(agg)
        except Exception as exc:  # a price file or a directory gone bad: the counts still print
            self._record_error(f"pricing the summary of {self.log_dir} failed: {exc!r}")
            return None

    # -- the worker ----------------------------------------------------------------------
    async def _run(self, offload: bool) -> None:
        """Hand work to :meth:`_cycle` until closed and drained; sleep when there is none."""
        engine = self._engine
        assert engine is not None
        try:
            while True:
                if not engine.has_work(self._state is not _RUNNING):
                    if self._queue or engine.busy():
                        await anyio.sleep(engine.idle_delay())  # a batch is filling: look again
                    else:
                        await self._sleep(offload)
                    continue
                if offload:
                    delay = await anyio.to_thread.run_sync(self._safe_step)
                else:
                    delay = self._safe_step()
                if delay is None:
                    return
                await anyio.sleep(delay)
        finally:
            with anyio.CancelScope(shield=True):
                if self._state is _RUNNING:
                    self._capacity = 0
                    self._state = _CLOSING
                    self._close_deadline = time.monotonic() + self.close_timeout_s
                while not self._done.is_set():
                    run = self._safe_step
                    delay = await anyio.to_thread.run_sync(run) if offload else run()
                    if delay is None:
                        break
                    await anyio.sleep(delay)

    async def _sleep(self, offload: bool) -> None:
        """Nothing queued, nothing pending: sleep until an event, a flush or close wakes us.

        The fast path of ``log()`` cannot wake a sleeping worker (it makes no call that
        could), so ``_capacity`` goes to 0 first: the next ``log()`` takes the slow path,
        which wakes the worker. An event appended by a call that had read the old capacity
        in the few instructions before (a thread switch there is rare) is found when the
        sleep times out, after ``IDLE_WAKE_S``: an idle tracker wakes that seldom, and 300
        idle trackers cost about 0.1 % of a core.
        """
        self._wake.clear()
        self._asleep = True
        self._capacity = 0
        engine = self._engine
        assert engine is not None
        if (
            self._queue
            or self._state is not _RUNNING
            or engine.flush_requested != engine.flush_taken
        ):
            self._wake_worker()  # raced with a log(), flush() or close(): not asleep after all
            return
        timeout = IDLE_WAKE_S
        if offload:  # a task of the app's loop: wait on a worker thread, not on the loop
            await anyio.to_thread.run_sync(self._wake.wait, timeout, abandon_on_cancel=True)
        else:  # our own thread and loop: nothing else runs on it
            self._wake.wait(timeout)
        if self._asleep:
            self._wake_worker()

    def _safe_step(self) -> float | None:
        """One engine step; the tracker's own bookkeeping around it; None when it is over."""
        engine = self._engine
        assert engine is not None
        try:
            delay = engine.step(self._state is not _RUNNING, self._close_deadline)
        except Exception as exc:  # a bug must not kill the worker or reach the application
            self._record_error(f"internal error: {exc!r}")
            return RETRY_MAX_S
        self._report_drops(engine)
        if delay is None:
            self._finish(engine, lost=bool(engine.unwritten()))
        return delay

    def _record_error(self, message: str) -> None:
        self._last_error = message
        self._last_error_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self._writer is not None:
            self._writer.debug(message)

    def _report_drops(self, engine: Engine) -> None:
        dropped = self._dropped
        if dropped != self._dropped_reported:
            engine.writer.debug(
                f"queue full ({self.max_queue_events} events): dropped"
                f" {dropped - self._dropped_reported} events ({dropped} in all)"
            )
            self._dropped_reported = dropped

    def _finish(self, engine: Engine, *, lost: bool) -> None:
        if lost:
            self._report_loss()
        engine.finish(lost=lost)
        self._state = _CLOSED
        self._done.set()

    def _needs_drain(self) -> bool:
        return self._worker_kind == "thread" and self._state is _RUNNING

    def _drain_at_exit(self) -> None:
        if self._worker_kind == "thread" and self._state in (_RUNNING, _CLOSING):
            self._closed_at_exit = True
            self.close()

    def _after_fork_in_child(self) -> None:
        """The parent writes what was queued before the fork; the child starts empty."""
        if self._state is not _UNSTARTED:
            was_closed = self._state is _CLOSED
            self._init_runtime()
            if was_closed:
                self._state = _CLOSED


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


if threading.current_thread() is threading.main_thread():
    _runtime.install_sigterm_handler()
# registered now, early, so it runs after the atexit handlers an application registers later
# (atexit runs last-registered first) and their events are drained with the rest
_runtime.register_atexit()

log_tokens = _DEFAULT.log
log_response = _DEFAULT.log_response
