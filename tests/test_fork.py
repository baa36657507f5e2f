"""os.fork() never waits for the writer's file work (an append, a stats rebuild)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import read_stats

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork"),
    # Python 3.12+ warns of fork in a process with threads: that is the case under test
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

LINE = (
    '{{"event_id":"x-{n}","ts":"2026-11-20T10:00:00.000000+00:00","api_type":"openai",'
    '"model":"gpt-4o","prompt_tokens":3,"completion_tokens":2,"total_tokens":5,'
    '"cached_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"success":true,'
    '"error_message":null,"latency_ms":null,"api_key_suffix":null,"request_id":null,'
    '"metadata":{{}},"pid":1}}\n'
)


def test_fork_during_a_stats_rebuild_takes_milliseconds(make_tracker: Any, log_dir: Path) -> None:
    log_dir.mkdir(parents=True)
    events = 300_000
    (log_dir / "tokens_2026-11-20.jsonl").write_text(
        "".join(LINE.format(n=n) for n in range(events))
    )
    tracker = make_tracker()
    tracker.log(1, 1, "openai", "gpt-4o")  # starts the worker; no stats file: a full rebuild
    rebuilding = threading.Thread(target=tracker.flush_sync)
    rebuilding.start()
    longest = 0.0
    forks = 0
    started = time.monotonic()
    while rebuilding.is_alive():
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        longest = max(longest, time.perf_counter() - t0)
        forks += 1
        assert os.waitpid(pid, 0)[1] == 0
        time.sleep(0.005)
    rebuild_s = time.monotonic() - started
    assert forks >= 5, f"the rebuild took {rebuild_s:.3f}s: too short to fork during it"
    assert longest < 0.050, f"a fork waited {longest * 1000:.1f} ms"
    assert tracker.close() is True
    assert read_stats(log_dir)["total_requests"] == events + 1
