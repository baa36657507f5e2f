"""The worker's half of a tracker: queue -> batches -> the files and sinks -> the stats.

One ``step()`` writes at most one batch and maybe the stats, and says how long to wait
before the next; the time comes from an injected clock, so the decisions are tested with no
thread and no real time: a batch leaves when full, or once ``flush_interval_s`` (10 ms) has
passed since the last write (a group commit: what arrived during the previous write goes
next, so at low rates an event is on disk within tens of milliseconds and under load
batches stay full); failed writes back off; the stats follow every ``stats_interval_s``; a
flush is answered once everything before it is written. Where the steps run (a thread, a
task of the app's loop), and the tracker's lifetime, belong to ``_loop`` and ``_lifetime``.
The engine never raises into its caller's loop for a write fault: it counts it, says it
through ``on_error`` and retries.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from asynctokens.record._event import Record
from asynctokens.sinks import Sink
from asynctokens.writer._sinkfeed import SinkFeed

#: How often the worker looks at a queue that holds less than a batch, and ...
POLL_S: Final = 0.02
#: ... how often right after a full batch: under load the queue refills within
#: microseconds, and a 20 ms nap would cap throughput at batch_size / 20 ms.
BUSY_POLL_S: Final = 0.001
BUSY_FOR_S: Final = 0.2
#: How long a worker with nothing to do sleeps before it looks anyway (see _tracker._sleep).
IDLE_WAKE_S: Final = 10.0
RETRY_MIN_S: Final = 0.05
RETRY_MAX_S: Final = 5.0


class FlushMarker(threading.Event):
    """A flush request in the queue: set once everything before it is written.

    ``ok`` is False when the lines were written but ``token_stats.json`` could not be
    updated (the error is in ``health()``): the flush returns at once, with False.
    """

    ok = True


class Writer(Protocol):
    """What the engine needs of the JSONL writer (``_writer.BatchWriter``)."""

    log_dir: Any
    written: int  # events on disk so far: progress, for a drain's deadline

    @property
    def pending_events(self) -> int: ...

    @property
    def stats_dirty(self) -> bool: ...

    def add_batch(self, records: list[Record]) -> None: ...

    def write_pending(self) -> int: ...

    def update_stats(self) -> None: ...

    def forget_own(self) -> None: ...

    def debug(self, message: str) -> None: ...


class Engine:
    """Consumes one tracker's queue; every method runs on the worker (or a test)."""

    def __init__(
        self,
        queue: deque[Any],
        writer: Writer,
        *,
        batch_size: int,
        flush_interval_s: float,
        stats_interval_s: float,
        sinks: Sequence[Sink] = (),
        sink_timeout_s: float = 5.0,
        on_error: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.writer = writer
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.stats_interval_s = stats_interval_s
        #: each sink's own buffer and thread (``_sinkfeed``): the files never wait for one
        self.feeds = [SinkFeed(s, timeout_s=sink_timeout_s, on_error=on_error) for s in sinks]
        self.on_error = on_error
        self.clock = clock
        self.flush_requested = 0  # markers put in the queue (by the tracker) ...
        self.flush_taken = 0  # ... and taken by the engine: unequal means a flush waits
        self.bytes_in = 0  # bytes of metadata queued (counted by the callers) ...
        self.bytes_out = 0  # ... and taken by the engine: the queue holds the difference
        self.flush_waiters: list[FlushMarker] = []
        self.write_errors = 0
        self.stats_errors = 0
        #: told after each stats update that worked (the budgets' watcher: one Event.set)
        self.on_stats: Callable[[], None] | None = None
        self.writes_failing = False
        self._unexported: list[Record] = []  # taken from the queue, for the sinks once written
        now = clock()
        self._next_stats = now + stats_interval_s
        self._last_write = now
        self._retry_at = 0.0
        self._retry_delay = RETRY_MIN_S
        self._busy_until = 0.0

    def busy(self) -> bool:
        """Something taken from the queue is not done: lines to retry, stats to merge."""
        return bool(self.writer.pending_events or self.writer.stats_dirty)

    def has_work(self, closing: bool) -> bool:
        """Cheap test, on the loop, of whether a step is due (avoids idle thread hops)."""
        q, writer, now = self.queue, self.writer, self.clock()
        return bool(
            closing
            or len(q) >= self.batch_size
            or (q and now - self._last_write >= self.flush_interval_s)
            or self.flush_requested != self.flush_taken
            or (writer.pending_events and now >= self._retry_at)
            or (writer.stats_dirty and now >= self._next_stats)
        )

    def idle_delay(self) -> float:
        return BUSY_POLL_S if self.clock() < self._busy_until else POLL_S

    def step(self, closing: bool, give_up_at: float) -> float | None:
        """Write at most one batch and maybe the stats; the delay before the next step.

        None means drained (``closing``) or given up (past ``give_up_at`` while closing,
        with events left: :meth:`unwritten` counts them): the worker stops.
        """
        writer = self.writer
        now = self.clock()
        give_up = closing and now >= give_up_at
        if writer.pending_events and now < self._retry_at and not give_up:
            return min(self._retry_at - now, POLL_S)
        if not writer.pending_events:
            self._take_batch()
        if writer.pending_events:
            try:
                writer.write_pending()
            except OSError as exc:
                self._write_failed(exc)
                if not give_up:
                    return min(self._retry_at - now, POLL_S * 5)
            else:
                self._last_write = now
                self._retry_delay = RETRY_MIN_S
                self.writes_failing = False
                if self._unexported:
                    self._export(self._unexported)
                    self._unexported = []
        more = bool(self.queue) and (
            closing
            or len(self.queue) >= self.batch_size
            or self.flush_requested != self.flush_taken
        )
        stats_due = writer.stats_dirty and (
            now >= self._next_stats or self.flush_waiters or (closing and not self.queue)
        )
        if stats_due and not writer.pending_events:
            self._update_stats(now)
        if self.flush_waiters and not writer.pending_events and not writer.stats_dirty:
            for marker in self.flush_waiters:
                marker.set()
            self.flush_waiters.clear()
        if more and not give_up:
            return 0
        if closing and (give_up or (not self.queue and not writer.pending_events)):
            return None
        return self.idle_delay()

    def unwritten(self) -> int:
        """Events taken or still queued that are not on disk."""
        queued = sum(1 for item in list(self.queue) if type(item) is tuple)
        return self.writer.pending_events + queued

    @property
    def sink_errors(self) -> int:
        """``export()`` and ``shutdown()`` calls that raised, over every sink."""
        return sum(feed.errors for feed in self.feeds)

    def close_sinks(self) -> list[str]:
        """After the files: let each sink drain and shut down within its timeout; the names
        of those that did not (said, and left to their daemon threads)."""
        return [feed.name for feed in self.feeds if not feed.close()]

    def finish(self, *, lost: bool) -> None:
        """After the last step: answer (or drop) the flushes. Sinks close after, apart."""
        for marker in self.flush_waiters:
            if not lost:
                marker.set()
        self.flush_waiters.clear()

    def _take_batch(self) -> None:
        """Pop up to batch_size items; flush markers among them are answered after this batch.

        A marker is satisfied once everything queued before it is written; writing a few
        records queued after it too does no harm, and lets the pop be one comprehension.
        """
        q = self.queue
        popleft = q.popleft
        items = [popleft() for _ in range(min(self.batch_size, len(q)))]
        if self.flush_requested != self.flush_taken:
            markers = [m for m in items if type(m) is FlushMarker]
            if markers:
                self.flush_waiters.extend(markers)
                self.flush_taken += len(markers)
                items = [r for r in items if type(r) is tuple]
        if self.bytes_in != self.bytes_out:  # metadata is queued: count what leaves
            self.bytes_out += sum(len(r[13] or "") for r in items if len(r) == 15)
        if items:
            self.writer.add_batch(items)
            if self.feeds:
                self._unexported.extend(items)
            if len(items) == self.batch_size:
                self._busy_until = self.clock() + BUSY_FOR_S

    def _update_stats(self, now: float) -> None:
        ok = True
        try:
            self.writer.update_stats()
        except Exception as exc:  # an unusable stats file must never wedge the writer
            ok = False
            self.stats_errors += 1
            self.on_error(
                f"updating token_stats.json failed: {exc!r}; the lines are written and"
                " the next update (or any reader) folds them from the files"
            )
            self.writer.forget_own()  # an optimisation only: nothing is lost by dropping it
        if ok and self.on_stats is not None:
            self.on_stats()
        self._next_stats = now + self.stats_interval_s
        for marker in self.flush_waiters:
            marker.ok = ok

    def _write_failed(self, exc: OSError) -> None:
        self.write_errors += 1
        self.writes_failing = True
        self.on_error(
            f"writing {self.writer.pending_events} events to {self.writer.log_dir} failed: {exc};"
            f" retrying in {self._retry_delay:.2f}s"
        )
        self._retry_at = self.clock() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)

    def _export(self, records: list[Record]) -> None:
        """Hand written records to each sink's feed: a ``deque.extend`` each, never a wait;
        a stuck sink is said once its call outruns its timeout."""
        now = self.clock()
        for feed in self.feeds:
            feed.offer(records)
            feed.check(now)
