"""What a close says it left undone, and the sinks' drain after the files.

A close that runs out of time without progress says once, on stderr and in
``token_debug.log``, exactly what was left: how many events were not written, or that every
event was written and only the stats update did not finish. Once the files are done, each
sink drains and shuts down within its own timeout; one that does not is named.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asynctokens.writer._lifetime import Lifetime


def close_sinks(t: Lifetime) -> None:
    """After the files: each sink drains and shuts down within its own timeout (once)."""
    engine = t._engine
    with t._lock:
        if engine is None or t._sinks_closed:
            return
        t._sinks_closed = True
    watcher = t._watcher
    if watcher is not None:  # a last look at what this process wrote last
        watcher.stop(t.sink_timeout_s)
    late = engine.close_sinks()
    if late:
        print(
            f"asynctokens: closed with every event written; sink(s) {', '.join(late)} did"
            f" not finish within {t.sink_timeout_s:g}s (see token_debug.log)",
            file=sys.stderr,
        )


def report_loss(t: Lifetime) -> None:
    """Say once, on stderr and in the debug log, what a close left undone: events not
    written (exactly), or, with every event written, the stats update that timed out."""
    with t._lock:
        if t._loss_reported:
            return
        t._loss_reported = True
    engine = t._engine
    left = engine.unwritten() if engine is not None else 0
    if left:
        what = f"{left} events not written"
    else:
        what = "every event written, but token_stats.json not updated (the next update will)"
    cause = f" (last error: {t._last_error})" if t._last_error else ""
    message = f"closed with {what}: no progress for {t._close_wait:g}s{cause}"
    t._record_error(message)
    print(f"asynctokens: {message}", file=sys.stderr)
