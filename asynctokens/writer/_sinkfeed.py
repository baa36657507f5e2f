"""Each sink's own bounded buffer and thread: a slow, failing or hanging sink never holds up
the files.

The engine hands every written batch to each sink's feed (:meth:`SinkFeed.offer`: a
``deque.extend``, nothing more, on the writer's worker). The feed's thread turns records into
``TokenEvent``s and calls ``export()``; while it is busy, batches wait in its buffer, up to
``SINK_BUFFER_EVENTS``; beyond that the newest are dropped and counted for that sink alone (a
collector that is down for a minute costs the dashboards that minute, never a line). An
``export()`` that has not returned within the sink timeout is said (``health()``,
``token_debug.log``), once per episode. At close, after the files are done, each feed gets the
timeout to drain and shut its sink down; one that does not is named, and left behind (its
thread is a daemon).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from asynctokens.record import _threads
from asynctokens.record._event import Record, event_of
from asynctokens.sinks import Sink

#: Events one sink may have waiting before the newest are dropped (and counted).
SINK_BUFFER_EVENTS: Final = 100_000
#: The most events handed to one ``export()`` call: small, so that one call of a slow sink
#: (OTelSink: 20 ms for a thousand) never holds the GIL long against the files.
_SINK_BATCH: Final = 1_000
#: How often a closing feed looks again for its end.
_POLL_S: Final = 0.05
#: How often a feed looks for new events when fewer than a batch wait: each wake takes the
#: GIL from the writer, so a feed woken per written batch slowed the files by a third even
#: for a sink that does nothing; woken a few times a second it costs them nothing measurable.
_LOOK_S: Final = 0.2
#: After each export, a running feed rests this many times as long as the sink's call took,
#: so a sink that is slow in Python (OTelSink: about 20 us an event) holds the GIL a tenth
#: of the time at most and the files keep most of their speed, while a quick one (a buffer,
#: a counter) barely rests; what a slow one cannot take in a burst waits in its buffer, then
#: is dropped and counted. A closing feed does not rest.
_REST: Final = 9.0


@dataclass(frozen=True)
class SinkHealth:
    """One sink's part of ``TrackerHealth``: what it took, dropped and failed on."""

    name: str
    exported: int  # events handed to export() that returned
    pending: int  # events waiting in its buffer
    dropped: int  # events its full buffer could not take
    errors: int  # export() or shutdown() calls that raised
    stuck_for_s: float | None  # how long the current export() has run, past the timeout


class SinkFeed:
    """One sink, its buffer and its thread (started on the first batch)."""

    def __init__(self, sink: Sink, *, timeout_s: float, on_error: Callable[[str], None]) -> None:
        self.sink = sink
        self.name = type(sink).__name__
        self.timeout_s = timeout_s
        self.on_error = on_error
        self.exported = 0
        self.dropped = 0
        self.errors = 0
        self._buffer: deque[Record] = deque()
        self._wake = threading.Event()
        self._done = threading.Event()
        self._stop = threading.Event()  # set by close(): ends a rest at once
        self._closing = False
        self._busy_since: float | None = None
        self._stuck_said = False
        self._full_said = False
        self._thread: threading.Thread | None = None

    def offer(self, records: list[Record]) -> None:
        """Take a written batch for the sink, or drop (and count) what its buffer cannot."""
        room = SINK_BUFFER_EVENTS - len(self._buffer)
        if room < len(records):
            lost = len(records) - max(room, 0)
            self.dropped += lost
            records = records[: max(room, 0)]
            if not self._full_said:
                self._full_said = True
                self.on_error(
                    f"sink {self.name} is behind: its buffer of {SINK_BUFFER_EVENTS} events is"
                    f" full, {lost} events dropped for it (the files have them all)"
                )
        elif self._full_said and not self._buffer:
            self._full_said = False
        if records:
            self._buffer.extend(records)
        if self._thread is None:
            self._start()
        if len(self._buffer) >= _SINK_BATCH:
            self._wake.set()  # else the feed finds them at its next look (``_LOOK_S``)

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"asynctokens-sink-{self.name}", daemon=True
        )
        _threads.start(self._thread)

    def _run(self) -> None:
        buffer = self._buffer
        while True:
            self._wake.wait(_LOOK_S)
            self._wake.clear()
            while buffer:
                batch = [buffer.popleft() for _ in range(min(len(buffer), _SINK_BATCH))]
                events = [event_of(r) for r in batch]
                began = time.monotonic()
                self._call("export", events)
                self.exported += len(batch)
                self.check(time.monotonic())
                if not self._closing:
                    self._stop.wait((time.monotonic() - began) * _REST)  # close cuts it short
            if self._closing:
                break
        self._call("shutdown")
        self._done.set()

    def _call(self, method: str, *args: object) -> None:
        self._busy_since = time.monotonic()
        try:
            getattr(self.sink, method)(*args)
        except Exception as exc:  # one sink's fault never reaches the files or the app
            self.errors += 1
            self.on_error(f"sink {self.name}.{method}() failed: {exc!r}")
        finally:
            self._busy_since = None
            self._stuck_said = False

    def check(self, now: float) -> None:
        """Say, once per episode, that the sink's current call has outrun its timeout, and
        what the sink reports of its own (``poll()``, optional: an exporter's failures and
        hangs on a thread of its own, which no ``export()`` call sees)."""
        poll = getattr(self.sink, "poll", None)
        if poll is not None:
            try:
                problems = poll()
            except Exception as exc:
                problems = [f"poll() failed: {exc!r}"]
            for problem in problems:
                self.errors += 1
                self.on_error(f"sink {self.name}: {problem}")
        since = self._busy_since
        if since is not None and now - since > self.timeout_s and not self._stuck_said:
            self._stuck_said = True
            self.on_error(
                f"sink {self.name} has not returned for {now - since:.1f}s (timeout"
                f" {self.timeout_s:g}s): {len(self._buffer)} events wait for it, then are"
                " dropped; the files are not affected"
            )

    def close(self) -> bool:
        """Let the sink drain and shut down, while it makes progress within its timeout;
        False (and said) when it does not."""
        self._closing = True
        self._stop.set()
        if self._thread is None:  # never given a batch: shut it down here
            self._call("shutdown")
            return True
        self._wake.set()
        deadline, seen = time.monotonic() + self.timeout_s, self.exported
        while not self._done.wait(_POLL_S):
            now = time.monotonic()
            if self.exported != seen:
                deadline, seen = now + self.timeout_s, self.exported
            elif now >= deadline:
                self.on_error(
                    f"sink {self.name} did not finish within {self.timeout_s:g}s of close:"
                    f" {len(self._buffer)} events not exported to it (the files have them)"
                )
                return False
        return True

    def health(self, now: float) -> SinkHealth:
        since = self._busy_since
        stuck = now - since if since is not None and now - since > self.timeout_s else None
        return SinkHealth(
            self.name, self.exported, len(self._buffer), self.dropped, self.errors, stuck
        )
