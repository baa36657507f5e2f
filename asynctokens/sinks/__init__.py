"""Where the worker sends what it wrote, beside the JSONL files.

The daily files and ``token_stats.json`` are the source of truth and are always written;
a sink receives the same events after they are on disk, in batches, on a thread of its own
with a bounded buffer (``writer/_sinkfeed.py``): never on the caller's path, never in the
files' way. A sink that raises is counted in ``health().sink_errors`` and said in
``token_debug.log``; one that falls behind drops (and counts) only its own events; the files,
the other sinks and the application carry on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from asynctokens.record._event import TokenEvent


@runtime_checkable
class Sink(Protocol):
    """Receives every written event, in batches, then one ``shutdown()`` at close."""

    def export(self, events: Sequence[TokenEvent]) -> None:
        """Take one batch of events already written to the files."""

    def shutdown(self) -> None:
        """The tracker closed: flush what is buffered and release resources."""


# A sink may also have ``poll() -> list[str]``: what went wrong on a thread of its own since
# the last call (each is counted in ``sink_errors`` and said); the writer asks after each
# batch and whenever ``health()`` is read.


__all__ = ["Sink", "TokenEvent"]
