"""``TokenTracker.health()``: what the worker has done so far, for dashboards and alerts.

Read from any thread while the worker runs: every figure is a counter the worker (or a sink's
thread) only adds to, read once.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from asynctokens.budgets import BudgetEvent
from asynctokens.writer._sinkfeed import SinkHealth

if TYPE_CHECKING:
    from asynctokens.writer._tracker import TokenTracker


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
    sink_dropped: int = 0  # events a sink's full buffer could not take (the files have them)
    sinks: tuple[SinkHealth, ...] = ()  # each sink's own figures
    queued_bytes: int = 0  # bytes of metadata in the queue (bounded by max_queue_bytes)
    #: the budget and alert events fired by this tracker, newest last (at most 20), and
    #: the enforced budgets spent now (calls that would be refused)
    budget_events: tuple[BudgetEvent, ...] = ()
    budgets_spent: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def of(tracker: TokenTracker) -> TrackerHealth:
    """A tracker's health now; a sink stuck past its timeout is said on the way."""
    writer, engine, watcher = tracker._writer, tracker._engine, tracker._watcher
    now = time.monotonic()
    feeds = engine.feeds if engine else []
    for feed in feeds:
        feed.check(now)  # a sink stuck past its timeout is said, even with no new batch
    return TrackerHealth(
        state=tracker._state.value,
        worker=tracker._worker_kind,
        log_dir=str(tracker.log_dir),
        # flush markers still queued are not events
        queue_depth=len(tracker._queue)
        - (engine.flush_requested - engine.flush_taken if engine else 0),
        pending_write=writer.pending_events if writer else 0,
        written=writer.written if writer else 0,
        dropped=tracker._dropped,
        stats_errors=engine.stats_errors if engine else 0,
        sink_errors=engine.sink_errors if engine else 0,
        rejected=writer.rejected if writer else 0,
        write_errors=engine.write_errors if engine else 0,
        last_error=tracker._last_error,
        last_error_at=tracker._last_error_at,
        sink_dropped=sum(feed.dropped for feed in feeds),
        sinks=tuple(feed.health(now) for feed in feeds),
        queued_bytes=max(0, engine.bytes_in - engine.bytes_out) if engine else 0,
        budget_events=tuple(watcher.fired) if watcher else (),
        budgets_spent=tuple(watcher.blocked) if watcher else (),
    )
