"""A tracker's worker and its lifetime: UNSTARTED -> RUNNING -> CLOSING -> CLOSED.

Where the worker runs:

* ``async with TokenTracker(...)`` runs it as a task of the running event loop (asyncio or
  trio, via anyio); the encoding and file I/O of each batch go to anyio's worker threads,
  so the loop only sleeps and hands off.
* otherwise (the first ``log()`` starts it) it runs on a daemon thread with its own anyio
  event loop. The process-wide tracker behind ``log_tokens()`` always does this, because
  it must outlive any one event loop; it is drained at exit, on SIGTERM and when a
  multiprocessing child ends (the hooks are ``_runtime``'s; they call the methods here).

``flush()`` puts a marker in the queue and waits until the worker has written everything
before it and updated the stats: FIFO order is what makes "everything logged so far" exact.
``close()`` ends the fast path (``_capacity`` 0) before it waits, so nothing is queued behind
the drain. What the worker does while running is ``_loop.WorkerLoop``'s; what the caller does,
``_tracker.TokenTracker``'s.
"""

from __future__ import annotations

import enum
import itertools
import os
import socket
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio

from asynctokens._errors import TrackerClosedError
from asynctokens.budgets._watch import Watcher, watcher_for
from asynctokens.record import _files, _threads
from asynctokens.record._event import Record
from asynctokens.record._format import resolve_log_dir
from asynctokens.sinks import Sink
from asynctokens.writer import _closing, _runtime
from asynctokens.writer._batch import BatchWriter
from asynctokens.writer._config import OverflowPolicy, TrackerConfig
from asynctokens.writer._engine import POLL_S, Engine, FlushMarker


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


async def _wait_async(event: threading.Event, deadline: float | Callable[[], float]) -> bool:
    """Poll ``event`` until it is set or ``deadline`` (a time, or a function giving the
    current one: a close's moves on with progress) has passed."""
    while not event.is_set():
        left = (deadline() if callable(deadline) else deadline) - time.monotonic()
        if left <= 0:
            return False
        await anyio.sleep(min(POLL_S / 4, left))
    return True


def _held_weakly(
    method: Callable[[str], None], fallback: Callable[[str], None]
) -> Callable[[str], None]:
    """``method`` without a strong reference to its object (the engine outlives a tracker
    dropped unclosed); ``fallback`` once the object is gone."""
    ref = weakref.WeakMethod(method)

    def call(message: str) -> None:
        bound = ref()
        (bound if bound is not None else fallback)(message)

    return call


class Lifetime:
    """Start (a thread, or a task of the caller's loop), flush, close, exit and fork."""

    async def _run(self, offload: bool) -> None:
        """The worker as a task of the caller's loop (``_loop.WorkerLoop``): runs until
        closed and drained."""
        raise NotImplementedError

    def _thread_main(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        """The worker thread's target and arguments (``_loop.WorkerLoop``): they hold the
        tracker weakly, so one dropped unclosed is collected and its thread ends."""
        raise NotImplementedError

    def _set_options(self, config: TrackerConfig) -> None:
        """Take a validated config; the worker reads the options as plain attributes."""
        self.config = config
        self._log_dir_arg = config.log_dir
        self._log_dir: Path | None = None
        self.batch_size = config.batch_size
        self.flush_interval_s = config.flush_interval_s
        self.stats_interval_s = config.stats_interval_s
        self.max_queue_events = config.max_queue_events
        self.max_queue_bytes = config.max_queue_bytes
        self.overflow: OverflowPolicy = config.overflow
        self.block_timeout_s = config.block_timeout_s
        self.close_timeout_s = config.close_timeout_s
        self.file_mode = config.file_mode
        self.dir_mode = config.dir_mode
        self.sinks: tuple[Sink, ...] = tuple(config.sinks)
        self.sink_timeout_s = config.sink_timeout_s
        self.host = config.host
        self.label_keys = config.label_keys
        self._watcher: Watcher | None = None

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
        self._bytes_lock = threading.RLock()  # the callers' count of metadata bytes queued
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
        self._sinks_closed = False
        self._closed_at_exit = False
        self._last_error: str | None = None
        self._last_error_at: str | None = None
        self._engine: Engine | None = None  # made when the worker starts
        self._close_deadline = float("inf")
        self._close_seen = 0  # events written when the deadline was last moved on
        self._close_wait = self.close_timeout_s

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
            self._log_dir,
            file_mode=self.file_mode,
            dir_mode=self.dir_mode,
            host=host,
            label_keys=self.label_keys,
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
            sink_timeout_s=self.sink_timeout_s,
            on_error=_held_weakly(self._record_error, self._writer.debug),
        )
        self._worker_kind = kind
        self._done.clear()
        _check_log_dir(self, self._log_dir, self._engine)
        if self.sinks:
            _runtime.drain_before_later_hooks()
        self._watcher = watcher_for(self.config, self._log_dir, self._writer.debug)
        if self._watcher is not None:
            self._engine.on_stats = self._watcher.poke

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
                target, args = self._thread_main()
                self._thread = threading.Thread(
                    target=target,
                    args=args,
                    name="asynctokens-writer",
                    daemon=True,
                )
                self._state = _RUNNING  # before start(): the worker reads it at once
                self._capacity = self.max_queue_events
                _threads.start(self._thread)
                # dropped unclosed: the worker drains, and the exit waits for it; still
                # alive at exit, it is drained as every tracker is (not by the finalizer)
                finalizer = weakref.finalize(
                    self, _runtime.orphaned, self._thread, self._wake, self.close_timeout_s
                )
                finalizer.atexit = False
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

    async def __aenter__(self) -> Self:
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

        The timeout (default ``close_timeout_s``) bounds time *without progress*, as
        ``block_timeout_s`` does for a full queue: each batch written moves the deadline on,
        so a healthy backlog is written whatever its size, and a stuck one (a full disk) is
        given up on after the timeout. Returns False then; what was left is counted in
        ``token_debug.log``, ``health()`` and one stderr line.
        """
        if self._worker_kind == "thread":
            return await anyio.to_thread.run_sync(self.close, timeout)
        self._begin_close(timeout)
        # the worker may have given up at the deadline itself: then it said what it left
        done = await _wait_async(self._done, lambda: self._close_deadline)
        done = done and not self._loss_reported
        if done:  # the sinks drain after the files, off the loop
            await anyio.to_thread.run_sync(_closing.close_sinks, self)
        return done

    def close(self, timeout: float | None = None) -> bool:
        """Blocking form of :meth:`aclose`, for scripts and threads. Idempotent."""
        self._begin_close(timeout)
        if self._worker_kind is None:
            return True
        if self._worker_kind == "task" and threading.get_ident() == self._loop_thread:
            return self._done.is_set()  # cannot block the loop the worker runs on
        # the worker may have given up at the deadline itself: then it said what it left
        done = self._wait_closed() and not self._loss_reported
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # the worker sets _done as its last act: its thread ends right after
            thread.join(max(0.0, self._close_deadline - time.monotonic()) if done else 0)
        if not done:
            _closing.report_loss(self)
        else:
            _closing.close_sinks(self)
        return done

    def _wait_closed(self) -> bool:
        """Wait for the worker's end while the deadline (moved on by progress) lies ahead."""
        while True:
            left = self._close_deadline - time.monotonic()
            if left <= 0:
                return self._done.is_set()
            if self._done.wait(min(left, POLL_S)):
                return True

    def _begin_close(self, timeout: float | None) -> None:
        with self._lock:
            if self._state is _UNSTARTED:
                self._state = _CLOSED
                self._done.set()
            elif self._state is _RUNNING:
                wait = self.close_timeout_s if timeout is None else timeout
                self._close_wait = wait
                self._close_deadline = time.monotonic() + wait
                self._close_seen = self._writer.written if self._writer is not None else 0
                self._capacity = 0
                self._state = _CLOSING
        self._wake.set()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is on disk and in ``token_stats.json``."""
        marker = self._request_flush()
        if marker is None:
            return True
        deadline = time.monotonic() + (self.close_timeout_s if timeout is None else timeout)
        return await _wait_async(marker, deadline) and marker.ok

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

    def _record_error(self, message: str) -> None:
        self._last_error = message
        self._last_error_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self._writer is not None:
            self._writer.debug(message)


def _check_log_dir(t: Lifetime, log_dir: Path, engine: Engine) -> None:
    """Say at once, not after the first batch, when the directory cannot be written.

    Nothing is raised (the application never sees a writer fault): the events stay
    queued and the worker retries, so a directory fixed in time loses nothing.
    """
    try:
        _files.ensure_dir(log_dir, t.dir_mode)
        if not os.access(log_dir, os.W_OK | os.X_OK):
            raise PermissionError(f"no write permission on {log_dir}")
    except OSError as exc:
        engine.writes_failing = True
        message = (
            f"cannot write token logs to {log_dir}: {exc}. Events are kept in memory"
            f" (up to max_queue_events={t.max_queue_events}, then dropped and counted)"
            " and the writes are retried; fix the directory or pass another log_dir."
        )
        t._record_error(message)
        print(f"asynctokens: {message}", file=sys.stderr)
