"""What a tracker says it has written: the summary of its directory, or of its own writes.

The directory's summary comes from the stats (every process that writes there); on an event
loop, where reading files would stall every other task, a tracker answers from what its own
writer has folded in memory. ``print_summary()`` adds the cost: the read side prices it,
imported on the first print, so a tracker that never prints never loads prices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from asynctokens.render.text import render_summary as render
from asynctokens.stats import _update
from asynctokens.stats._fold import Aggregate

if TYPE_CHECKING:
    from asynctokens.writer._tracker import TokenTracker

__all__ = ["costs", "directory", "in_thread", "own", "render"]


def directory(tracker: TokenTracker) -> dict[str, Any]:
    """The whole directory's summary; this tracker's own (with the reason) if unreadable."""
    log_dir = tracker.log_dir
    try:
        if not log_dir.is_dir():
            return {**Aggregate().summary(), "scope": "directory"}
        return {**_update.current(log_dir).summary(), "scope": "directory"}
    except Exception as exc:  # e.g. sums an edited line pushed past 64 bits, EACCES
        tracker._record_error(f"reading {log_dir} for a summary failed: {exc!r}")
        return {**own(tracker), "error": f"{type(exc).__name__}: {exc}"}


async def in_thread(tracker: TokenTracker) -> dict[str, Any]:
    """:func:`directory`, read on a worker thread so the caller's loop runs on."""
    return await anyio.to_thread.run_sync(directory, tracker)


def own(tracker: TokenTracker) -> dict[str, Any]:
    """What this tracker itself has written, from memory."""
    return {**_written(tracker).summary(), "scope": "process"}


def _written(tracker: TokenTracker) -> Aggregate:
    """The counts this tracker's own writer has folded (none before its first write)."""
    writer = tracker._writer
    return writer.totals if writer is not None else Aggregate()


def costs(tracker: TokenTracker, summary: dict[str, Any]) -> dict[str, Any] | None:
    """The cost rows of the same scope as ``summary``; None (shown as n/a) if pricing
    failed, which is recorded like any error of the tracker's, never raised."""
    try:
        from asynctokens.read import summary as reports

        if summary["scope"] == "directory" and "error" not in summary:
            if not tracker.log_dir.is_dir():
                return reports.costs(Aggregate())
            agg = reports.load(reports.Query(log_dir=tracker.log_dir))
        else:
            agg = _written(tracker)
        return reports.costs(agg)
    except Exception as exc:  # a price file or a directory gone bad: the counts still print
        tracker._record_error(f"pricing the summary of {tracker.log_dir} failed: {exc!r}")
        return None
