"""An unusable stats file or absurd hand-edited counts never wedge the writer or the app."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.conftest import read_lines, read_stats

EDITED = (
    '{"event_id":"edit-%d","ts":"2026-11-20T10:00:00+00:00","api_type":"openai","model":"m",'
    '"prompt_tokens":9223372036854775000,"completion_tokens":1,"total_tokens":9223372036854775001,'
    '"cached_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"success":true,'
    '"error_message":null,"latency_ms":null,"api_key_suffix":null,"request_id":null,'
    '"metadata":{},"pid":1}\n'
)


def test_lines_edited_to_counts_near_2_63_are_bad_lines_not_a_wedged_writer(
    make_tracker: Any, log_dir: Path
) -> None:
    log_dir.mkdir(parents=True)
    (log_dir / "tokens_2026-11-20.jsonl").write_text(EDITED % 1 + EDITED % 2)
    tracker = make_tracker()
    tracker.log(3, 2)
    started = time.monotonic()
    assert tracker.flush_sync(timeout=20) is True
    assert time.monotonic() - started < 10  # not the full timeout
    summary = tracker.get_summary()
    assert (summary["scope"], summary["total_requests"], summary["total_tokens"]) == (
        "directory",
        1,
        5,
    )
    assert read_stats(log_dir)["invalid_lines"] == 2
    assert tracker.health().stats_errors == 0


def test_a_stats_file_that_cannot_be_replaced_is_reported_and_lines_keep_coming(
    make_tracker: Any, log_dir: Path
) -> None:
    log_dir.mkdir(parents=True)
    (log_dir / "token_stats.json").mkdir()  # a directory where the stats file should be
    tracker = make_tracker()
    for round_ in range(3):
        tracker.log(round_, 1)
        started = time.monotonic()
        assert tracker.flush_sync(timeout=20) is False  # the lines are written, the stats not
        assert time.monotonic() - started < 10
    health = tracker.health()
    assert health.stats_errors == 3
    assert health.last_error is not None and "token_stats.json" in health.last_error
    assert [line["prompt_tokens"] for line in read_lines(log_dir)] == [0, 1, 2]
    summary = tracker.get_summary()  # never raises: what this process wrote, and why
    assert (summary["scope"], summary["total_requests"]) == ("process", 3)
    assert summary["error"].startswith("IsADirectoryError")
    assert "updating token_stats.json failed" in (log_dir / "token_debug.log").read_text()


async def test_get_summary_on_an_event_loop_reads_no_file(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    tracker.log(3, 2, "openai", "gpt-4o")
    tracker.log(5, 1, "openai", "gpt-4o")
    assert await tracker.flush() is True
    (log_dir / "tokens_2026-11-20.jsonl").write_text("")  # another process's file: not seen
    summary = tracker.get_summary()
    assert (summary["scope"], summary["total_requests"], summary["total_tokens"]) == (
        "process",
        2,
        11,
    )
    directory = await tracker.aget_summary()
    assert (directory["scope"], directory["total_requests"]) == ("directory", 2)
