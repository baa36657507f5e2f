"""The engine's decisions on a fake clock and a fake writer: no thread, no disk, no waiting."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from asynctokens.writer._engine import BUSY_POLL_S, POLL_S, RETRY_MIN_S, Engine, FlushMarker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeWriter:
    """Keeps what it is given; fails writes or stats updates when told to."""

    log_dir = "/fake"

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.pending: list[Any] = []
        self.written: list[Any] = []
        self.stats_dirty = False
        self.fail_writes = 0
        self.fail_stats = False
        self.debug_lines: list[str] = []

    @property
    def pending_events(self) -> int:
        return len(self.pending)

    def add_batch(self, records: list[Any]) -> None:
        self.batches.append(records)
        self.pending += records

    def write_pending(self) -> int:
        if self.fail_writes:
            self.fail_writes -= 1
            raise OSError(28, "No space left on device")
        done = len(self.pending)
        self.written += self.pending
        self.pending = []
        self.stats_dirty = True
        return done

    def update_stats(self) -> None:
        if self.fail_stats:
            raise OSError(21, "Is a directory")
        self.stats_dirty = False

    def forget_own(self) -> None:
        self.stats_dirty = False

    def debug(self, message: str) -> None:
        self.debug_lines.append(message)


def record(n: int) -> tuple[Any, ...]:
    return (n, n, 1, "openai", "gpt-4o", True, None, 0, 0, 0, None, None, None, None)


def make(batch_size: int = 3) -> tuple[Engine, deque[Any], FakeWriter, Clock, list[str]]:
    queue: deque[Any] = deque()
    writer, clock, errors = FakeWriter(), Clock(), []
    engine = Engine(queue, writer, batch_size=batch_size, flush_interval_s=1.0,
                    stats_interval_s=5.0, on_error=errors.append, clock=clock)  # fmt: skip
    return engine, queue, writer, clock, errors


def test_a_full_batch_leaves_at_once() -> None:
    engine, queue, writer, _clock, _ = make(batch_size=3)
    queue.extend(record(n) for n in range(4))
    assert engine.has_work(closing=False)
    # one more waits for its batch; right after a full one the worker looks again soon
    assert engine.step(False, float("inf")) == BUSY_POLL_S
    assert [r[0] for r in writer.written] == [0, 1, 2]


def test_a_partial_batch_leaves_after_the_flush_interval() -> None:
    engine, queue, writer, clock, _ = make(batch_size=10)
    queue.append(record(1))
    clock.now += 0.5
    assert not engine.has_work(closing=False)
    clock.now += 0.5
    assert engine.has_work(closing=False)
    engine.step(False, float("inf"))
    assert [r[0] for r in writer.written] == [1]


def test_a_failed_write_is_retried_with_backoff_and_never_taken_twice() -> None:
    engine, queue, writer, clock, errors = make()
    queue.extend(record(n) for n in range(3))
    writer.fail_writes = 2
    assert engine.step(False, float("inf")) == pytest.approx(RETRY_MIN_S)
    assert engine.write_errors == 1 and engine.writes_failing
    assert errors[0] == (
        "writing 3 events to /fake failed: [Errno 28] No space left on device; retrying in 0.05s"
    )
    clock.now += 0.01
    # still waiting to retry: it looks again within POLL_S
    assert engine.step(False, float("inf")) == pytest.approx(min(0.04, POLL_S))
    clock.now += 0.04
    assert engine.step(False, float("inf")) == pytest.approx(0.1)  # failed again: doubled
    clock.now += 0.1
    engine.step(False, float("inf"))
    assert len(writer.batches) == 1 and [r[0] for r in writer.written] == [0, 1, 2]
    assert not engine.writes_failing


def test_a_flush_is_answered_once_what_came_before_it_is_written_and_counted() -> None:
    engine, queue, writer, _clock, _ = make(batch_size=10)
    queue.append(record(1))
    marker = FlushMarker()
    engine.flush_requested += 1
    queue.append(marker)
    queue.append(record(2))
    assert engine.has_work(closing=False)
    engine.step(False, float("inf"))
    assert marker.is_set() and marker.ok
    assert [r[0] for r in writer.written] == [1, 2] and not writer.stats_dirty


def test_a_stats_failure_answers_the_flush_with_false_at_once() -> None:
    engine, queue, writer, _clock, errors = make()
    writer.fail_stats = True
    queue.append(record(1))
    marker = FlushMarker()
    engine.flush_requested += 1
    queue.append(marker)
    engine.step(False, float("inf"))
    assert marker.is_set() and not marker.ok
    assert engine.stats_errors == 1
    assert errors[0].startswith("updating token_stats.json failed: IsADirectoryError(21")


def test_closing_drains_then_stops_and_giving_up_counts_what_is_left() -> None:
    engine, queue, writer, clock, _ = make(batch_size=2)
    queue.extend(record(n) for n in range(3))
    assert engine.step(True, clock.now + 10) == 0
    assert engine.step(True, clock.now + 10) is None  # drained
    assert len(writer.written) == 3 and engine.unwritten() == 0

    engine, queue, writer, clock, _ = make(batch_size=2)
    queue.extend(record(n) for n in range(3))
    writer.fail_writes = 99
    assert engine.step(True, clock.now + 10) == pytest.approx(min(RETRY_MIN_S, POLL_S * 5))
    clock.now += 11
    assert engine.step(True, clock.now - 1) is None  # past the deadline: given up
    assert engine.unwritten() == 3
