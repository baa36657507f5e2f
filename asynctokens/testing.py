"""Test helpers for code that logs with asynctokens (as ``structlog.testing`` is for structlog).

sink = InMemorySink()
async with TokenTracker(log_dir=tmp_path, sinks=[sink]) as tracker:
    await code_under_test(tracker)
# the block's close drained the sink (a flush does not wait for sinks: they have threads of
# their own)
assert [(e.model, e.prompt_tokens) for e in sink.events] == [("gpt-4o", 1200)]
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from asynctokens.record._event import TokenEvent


class InMemorySink:
    """A sink that keeps every event it is given, in order; safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[TokenEvent] = []
        self.is_shutdown = False

    def export(self, events: Sequence[TokenEvent]) -> None:
        with self._lock:
            self._events.extend(events)

    def shutdown(self) -> None:
        self.is_shutdown = True

    @property
    def events(self) -> list[TokenEvent]:
        """A copy of the events received so far."""
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


__all__ = ["InMemorySink"]
