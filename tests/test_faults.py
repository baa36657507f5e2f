"""I/O faults injected into the write layer: the app is never interrupted, health() says
what happened, and once the fault clears every queued event is on disk exactly once."""

from __future__ import annotations

import errno
import os
import shutil
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import read_lines, read_stats

from asynctokens.record import _files


class FlakyOs(types.SimpleNamespace):
    """The os module as _files sees it, with write() failing while ``fail`` is set."""

    def __init__(self) -> None:
        super().__init__(
            **{k: getattr(os, k) for k in dir(os) if not k.startswith("__") and k != "write"}
        )
        self.fail: int | None = None
        self.partial = False
        self.calls = 0

    def write(self, fd: int, data: Any) -> int:
        self.calls += 1
        if self.fail is not None:
            if self.partial and len(data) > 10:
                os.write(fd, bytes(data[: len(data) // 2]))  # half a batch reaches the disk
            raise OSError(self.fail, os.strerror(self.fail))
        return os.write(fd, data)


@pytest.mark.parametrize(
    ("code", "partial"),
    [(errno.ENOSPC, False), (errno.ENOSPC, True), (errno.EACCES, False), (errno.EIO, True)],
)
def test_write_fault_then_recovery_loses_and_duplicates_nothing(
    make_tracker: Any, log_dir: Path, monkeypatch: pytest.MonkeyPatch, code: int, partial: bool
) -> None:
    flaky = FlakyOs()
    monkeypatch.setattr(_files, "os", flaky)
    tracker = make_tracker(batch_size=50)
    tracker.log(1, 1, model="before")
    assert tracker.flush_sync() is True
    flaky.fail, flaky.partial = code, partial
    for i in range(300):
        tracker.log(i, 2, model="during")  # the app keeps logging: nothing raises
    assert tracker.flush_sync(timeout=0.3) is False
    health = tracker.health()
    assert health.write_errors >= 1
    assert health.last_error is not None and os.strerror(code) in health.last_error
    assert health.pending_write + health.queue_depth == 300
    flaky.fail = None
    assert tracker.flush_sync(timeout=20) is True
    events = read_lines(log_dir)  # json.loads of every line: a half batch would fail here
    assert [e["prompt_tokens"] for e in events if e["model"] == "during"] == list(range(300))
    assert len({e["event_id"] for e in events}) == 301
    assert read_stats(log_dir)["total_requests"] == 301
    debug = (log_dir / "token_debug.log").read_text()
    assert f"[Errno {code}] {os.strerror(code)}" in debug


def test_log_directory_removed_while_writing_is_recreated(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    for _ in range(10):
        tracker.log(1, 1)
    assert tracker.flush_sync() is True
    shutil.rmtree(log_dir)  # e.g. a cleanup job
    for _ in range(20):
        tracker.log(2, 2)
    assert tracker.flush_sync() is True
    assert [e["prompt_tokens"] for e in read_lines(log_dir)] == [2] * 20
    stats = read_stats(log_dir)
    assert (stats["total_requests"], stats["total_tokens"]) == (20, 80)  # equal to the lines


def test_overload_with_drop_policy_counts_exactly_what_is_missing(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker(max_queue_events=500, batch_size=500, overflow="drop")
    offered = 100_000
    deepest = 0
    for i in range(offered):
        tracker.log(i, 0)
        if i % 100 == 0:
            deepest = max(deepest, tracker.health().queue_depth)
    assert deepest <= 500  # bounded memory: the queue never outgrows its cap
    assert tracker.close() is True
    on_disk = read_lines(log_dir)
    health = tracker.health()
    assert health.dropped > 0
    assert health.dropped == offered - len(on_disk)
    values = [e["prompt_tokens"] for e in on_disk]
    assert values == sorted(set(values))  # in order, no duplicates
    assert f"({health.dropped} in all)" in (log_dir / "token_debug.log").read_text()
