"""os.fork() never waits for the writer's file work (an append, a stats rebuild)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.fork_bench import LINE  # one line, 300,000 times: the rebuild forked under
from tests.conftest import read_stats

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork"),
    # Python 3.12+ warns of fork in a process with threads: that is the case under test
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def test_a_fork_returns_while_a_stats_rebuild_is_still_running(
    make_tracker: Any, log_dir: Path
) -> None:
    """A fork that waited for the writer's file work would return only after the rebuild
    ended; each one here returns with the rebuild still under way. (How long a fork takes
    meanwhile is timed by ``python -m benchmarks.fork_bench``.)"""
    log_dir.mkdir(parents=True)
    events = 300_000
    (log_dir / "tokens_2026-11-20.jsonl").write_text(
        "".join(LINE.format(n=n) for n in range(events))
    )
    tracker = make_tracker()
    tracker.log(1, 1, "openai", "gpt-4o")  # starts the worker; no stats file: a full rebuild
    rebuilding = threading.Thread(target=tracker.flush_sync)
    rebuilding.start()
    during = 0  # forks that returned while the rebuild was still running
    while rebuilding.is_alive():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        during += rebuilding.is_alive()
        assert os.waitpid(pid, 0)[1] == 0
        time.sleep(0.005)
    assert during >= 5, f"only {during} fork(s) returned before the rebuild ended"
    assert tracker.close() is True
    assert read_stats(log_dir)["total_requests"] == events + 1
