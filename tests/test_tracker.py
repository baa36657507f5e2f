"""TokenTracker behaviour through the public API, on real files in tmp_path."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
from conftest import read_lines, read_stats, sums

from asynctokens import TokenTracker, TrackerClosedError, TrackerState
from asynctokens.record._format import STATS_VERSION

UTC = dt.UTC


def log_seed_example(tracker: TokenTracker) -> None:
    tracker.log(
        prompt_tokens=150, completion_tokens=320, api_type="gemini", model="gemini-2.5-flash"
    )
    tracker.log(300, 450, model="gemini-2.5-flash")
    tracker.log(0, 0, success=False, error_message="429 quota exceeded", model="gemini-2.5-flash")
    tracker.log(250, 500, model="gemini-2.5-flash-lite")


SEED_TOTALS = {
    "total_prompt_tokens": 700,
    "total_completion_tokens": 1270,
    "total_tokens": 1970,
    "total_requests": 4,
    "successful_requests": 3,
    "failed_requests": 1,
    "success_rate": 75.0,
}


def test_seed_quick_start_gives_the_seed_totals(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    log_seed_example(tracker)
    summary = tracker.get_summary()
    assert {k: summary[k] for k in SEED_TOTALS} == SEED_TOTALS
    flash = summary["by_model"]["gemini-2.5-flash"]
    lite = summary["by_model"]["gemini-2.5-flash-lite"]
    assert (
        flash["total_prompt_tokens"],
        flash["total_completion_tokens"],
        flash["total_tokens"],
        flash["total_requests"],
        flash["success_rate"],
    ) == (450, 770, 1220, 3, 66.67)
    assert (
        lite["total_prompt_tokens"],
        lite["total_completion_tokens"],
        lite["total_tokens"],
        lite["total_requests"],
        lite["success_rate"],
    ) == (250, 500, 750, 1, 100.0)
    assert list(summary["by_api"]) == ["gemini"]
    stats = read_stats(log_dir)
    assert {k: stats[k] for k in SEED_TOTALS} == SEED_TOTALS
    assert stats["format_version"] == STATS_VERSION


def test_print_summary_shows_the_seed_rows(make_tracker: Any, capsys: Any) -> None:
    tracker = make_tracker()
    log_seed_example(tracker)
    tracker.print_summary()
    out = capsys.readouterr().out
    assert "Total tokens              1,970" in out
    assert "Requests                      4  (3 ok, 1 failed, 75.0% success)" in out
    # flash: 450 x $0.30/M + 770 x $2.50/M; flash-lite: 250 x $0.10/M + 500 x $0.40/M
    assert "Cost (USD)              $0.0023" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  gemini-2.5")]
    assert rows == [
        ["gemini-2.5-flash", "450", "770", "1,220", "3", "66.7%", "$0.0021"],
        ["gemini-2.5-flash-lite", "250", "500", "750", "1", "100.0%", "$0.0002"],
    ]


async def test_print_summary_on_a_loop_prices_what_this_tracker_wrote(
    make_tracker: Any, capsys: Any
) -> None:
    tracker = make_tracker()
    tracker.log(1_000_000, 0, "openai", "gpt-4o")  # $2.50
    tracker.log(500, 100, "vllm", "my-llama-70b")  # no price
    assert await tracker.flush() is True
    tracker.print_summary()  # on the loop: from memory, no file read
    out = capsys.readouterr().out
    assert "Cost (USD)               $2.50*" in out
    assert "* priced tokens only: no price for my-llama-70b (600 tokens)" in out
    assert [line.split()[-1] for line in out.splitlines() if "my-llama-70b  " in line] == ["n/a"]


async def test_asyncio_task_worker_writes_every_event(make_tracker: Any, log_dir: Path) -> None:
    async with make_tracker(batch_size=500) as tracker:
        assert tracker.health().worker == "task"
        for i in range(10_000):
            tracker.log(i % 7, 3, model="m")
            if i % 1000 == 0:
                await asyncio.sleep(0)
    assert tracker.state is TrackerState.CLOSED
    events = read_lines(log_dir)
    assert sums(events) == (10_000, sum(i % 7 for i in range(10_000)), 30_000)
    assert len({e["event_id"] for e in events}) == 10_000
    assert read_stats(log_dir)["total_requests"] == 10_000


def test_trio_task_worker_writes_every_event(make_tracker: Any, log_dir: Path) -> None:
    async def main() -> None:
        async with make_tracker(batch_size=300) as tracker:
            for i in range(5_000):
                tracker.log(1, i % 3, api_type="anthropic", model="claude-sonnet-4-5")
                if i % 700 == 0:
                    await trio.lowlevel.checkpoint()
            assert await tracker.flush() is True
            assert read_stats(log_dir)["total_requests"] == 5_000

    trio.run(main)
    events = read_lines(log_dir)
    assert sums(events) == (5_000, 5_000, sum(i % 3 for i in range(5_000)))
    assert read_stats(log_dir)["by_api"]["anthropic"]["total_requests"] == 5_000


def test_eight_threads_log_into_one_thread_worker(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker(batch_size=1000)
    start = threading.Barrier(8)

    def work(n: int) -> None:
        start.wait()
        for i in range(5_000):
            tracker.log(n, i % 2, model=f"model-{n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tracker.close() is True
    events = read_lines(log_dir)
    assert sums(events) == (40_000, sum(n * 5_000 for n in range(8)), 8 * 2_500)
    stats = read_stats(log_dir)
    assert stats["total_requests"] == 40_000
    assert {m: r["total_requests"] for m, r in stats["by_model"].items()} == {
        f"model-{n}": 5_000 for n in range(8)
    }
    assert tracker.health().written == 40_000


async def test_flush_puts_everything_logged_so_far_on_disk(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker(flush_interval_s=60, stats_interval_s=60)
    for _ in range(3):
        tracker.log(10, 20, model="m")
    assert await tracker.flush() is True
    assert sums(read_lines(log_dir)) == (3, 30, 60)
    assert read_stats(log_dir)["total_tokens"] == 90
    tracker.log(1, 1, model="m")
    assert tracker.flush_sync() is True
    assert read_stats(log_dir)["total_tokens"] == 92


def test_batch_across_midnight_goes_to_two_daily_files(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    before = dt.datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    after = dt.datetime(2027, 1, 1, 0, 0, 0, 0, tzinfo=UTC)
    for i in range(6):
        tracker.log(1, i, ts=before if i % 2 == 0 else after)
    tracker.close()
    old = [e["completion_tokens"] for e in read_lines_of(log_dir / "tokens_2026-12-31.jsonl")]
    new = [e["completion_tokens"] for e in read_lines_of(log_dir / "tokens_2027-01-01.jsonl")]
    assert (old, new) == ([0, 2, 4], [1, 3, 5])
    by_day = read_stats(log_dir)["by_day"]
    assert {d: r["total_completion_tokens"] for d, r in by_day.items()} == {
        "2026-12-31": 6,
        "2027-01-01": 9,
    }
    assert read_lines_of(log_dir / "tokens_2027-01-01.jsonl")[0]["ts"] == (
        "2027-01-01T00:00:00.000000+00:00"
    )


def read_lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_close_is_idempotent_and_logging_after_close_raises(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    tracker.log(1, 2)
    assert tracker.close() is True
    assert tracker.close() is True
    with pytest.raises(TrackerClosedError, match="Cannot log tokens, as the tracker has been"):
        tracker.log(1, 2)
    assert sums(read_lines(log_dir)) == (1, 1, 2)


async def test_aclose_is_idempotent_and_drains_a_thread_worker(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker(flush_interval_s=60)
    for _ in range(2_500):
        tracker.log(2, 2)
    assert tracker.health().worker == "thread"
    assert await tracker.aclose() is True
    assert await tracker.aclose() is True
    assert sums(read_lines(log_dir)) == (2_500, 5_000, 5_000)


def test_closing_an_unstarted_tracker_writes_nothing(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    assert tracker.close() is True
    assert tracker.state is TrackerState.CLOSED
    assert not log_dir.exists()


async def test_entering_a_started_tracker_says_why_it_cannot(make_tracker: Any) -> None:
    tracker = make_tracker()
    tracker.log(1, 1)
    with pytest.raises(RuntimeError, match=r"already running\. Use a new TokenTracker"):
        async with tracker:
            pass


async def test_full_queue_with_drop_policy_counts_every_dropped_event(
    make_tracker: Any, log_dir: Path
) -> None:
    async with make_tracker(max_queue_events=10, batch_size=10, overflow="drop") as tracker:
        for _ in range(100):  # no await: the worker task cannot run in between
            tracker.log(1, 1)
        assert tracker.health().dropped == 90
    assert sums(read_lines(log_dir)) == (10, 10, 10)
    assert "dropped 90 events (90 in all)" in (log_dir / "token_debug.log").read_text()


async def test_the_queue_is_bounded_in_bytes_of_metadata_as_well_as_events(
    make_tracker: Any, log_dir: Path
) -> None:
    """Ten events with 60,000 bytes of metadata each into a 200,000-byte queue: three fit,
    seven are dropped and counted; events without metadata still go in; what the worker
    takes leaves room again."""
    big = {"doc": "x" * (60_000 - len('{"doc":""}'))}  # 60,000 bytes as JSON
    async with make_tracker(max_queue_bytes=200_000, overflow="drop") as tracker:
        for _ in range(10):  # no await: the worker task cannot run in between
            tracker.log(1, 1, metadata=big)
        tracker.log(2, 2)
        tracker.log(3, 3, metadata={"small": 1})
        health = tracker.health()
        assert (health.dropped, health.queue_depth, health.queued_bytes) == (7, 5, 180_011)
        await tracker.flush()
        assert tracker.health().queued_bytes == 0
        tracker.log(4, 4, metadata=big)  # room again
        assert tracker.health().dropped == 7
    lines = read_lines(log_dir)
    assert [line["prompt_tokens"] for line in lines] == [1, 1, 1, 2, 3, 4]
    assert "dropped 7 events (7 in all)" in (log_dir / "token_debug.log").read_text()


def test_a_queue_full_in_bytes_makes_a_thread_wait_for_room_not_drop(
    make_tracker: Any, log_dir: Path
) -> None:
    big = {"doc": "y" * 60_000}
    tracker = make_tracker(max_queue_bytes=65_536 * 2, block_timeout_s=30)
    for i in range(60):  # 3.6 MB of metadata through a 128 KiB queue
        tracker.log(i, 1, metadata=big)
    assert tracker.close() is True
    assert tracker.health().dropped == 0
    assert [line["prompt_tokens"] for line in read_lines(log_dir)] == list(range(60))


def test_max_queue_bytes_below_one_events_metadata_is_refused() -> None:
    with pytest.raises(ValueError) as info:
        TokenTracker(max_queue_bytes=1000)
    assert str(info.value) == (
        "max_queue_bytes must be an int >= 65,536 (one event's largest metadata), got 1000"
    )


async def test_block_policy_never_blocks_the_loop_the_worker_runs_on(
    make_tracker: Any, log_dir: Path
) -> None:
    async with make_tracker(
        max_queue_events=5, batch_size=5, overflow="block", block_timeout_s=30
    ) as tracker:
        for _ in range(8):
            tracker.log(1, 1)
        assert tracker.health().dropped == 3
    assert len(read_lines(log_dir)) == 5


def test_block_policy_waits_for_room_instead_of_dropping(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker(max_queue_events=50, batch_size=50, block_timeout_s=30)
    for _ in range(20_000):
        tracker.log(1, 1)
    tracker.close()
    assert tracker.health().dropped == 0
    assert len(read_lines(log_dir)) == 20_000


def test_write_fault_is_retried_and_nothing_is_lost_when_it_clears(
    make_tracker: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the log directory should be")
    log_dir = blocker / "tokens"
    tracker = make_tracker(log_dir=log_dir)
    for _ in range(100):
        tracker.log(3, 4, model="m")
    assert tracker.flush_sync(timeout=0.5) is False
    health = tracker.health()
    assert health.write_errors >= 1
    assert health.written == 0
    assert health.pending_write + health.queue_depth >= 100
    assert health.last_error is not None
    assert health.last_error.startswith(f"writing 100 events to {log_dir} failed: [Errno 20]")
    blocker.unlink()  # the fault clears
    for _ in range(50):
        tracker.log(3, 4, model="m")
    assert tracker.flush_sync(timeout=10) is True
    events = read_lines(log_dir)
    assert sums(events) == (150, 450, 600)
    assert len({e["event_id"] for e in events}) == 150
    assert read_stats(log_dir)["total_tokens"] == 1050
    debug_log = (log_dir / "token_debug.log").read_text()
    assert f"writing 100 events to {log_dir} failed: [Errno 20] Not a directory" in debug_log


def test_stats_are_rebuilt_from_the_lines_when_deleted_or_corrupt(
    make_tracker: Any, log_dir: Path
) -> None:
    first = make_tracker()
    for i in range(30):
        first.log(i, 1, model="a" if i % 2 else "b")
    first.close()
    (log_dir / "token_stats.json").unlink()
    second = make_tracker()
    second.log(100, 0, model="c")
    second.close()
    stats = read_stats(log_dir)
    assert (stats["total_requests"], stats["total_prompt_tokens"]) == (31, 435 + 100)
    assert {m: r["total_requests"] for m, r in stats["by_model"].items()} == {
        "a": 15,
        "b": 15,
        "c": 1,
    }
    (log_dir / "token_stats.json").write_text('{"format_version": 1, "cells": [[')
    third = make_tracker()
    third.log(1, 1, model="c")
    third.close()
    stats = read_stats(log_dir)
    assert (stats["total_requests"], stats["total_prompt_tokens"]) == (32, 536)


def test_torn_last_line_is_ended_and_counted_not_glued(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    tracker.log(5, 5, ts=dt.datetime(2026, 5, 5, 12, tzinfo=UTC))
    tracker.close()
    path = log_dir / "tokens_2026-05-05.jsonl"
    with path.open("ab") as f:
        f.write(b'{"event_id":"dead-1","ts":"2026-05-05T12:00')  # a writer killed mid-line
    second = make_tracker()
    second.log(7, 7, ts=dt.datetime(2026, 5, 5, 13, tzinfo=UTC))
    second.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[1] == b'{"event_id":"dead-1","ts":"2026-05-05T12:00'
    assert b'"prompt_tokens":7' in lines[2]
    stats = read_stats(log_dir)
    assert (stats["total_requests"], stats["total_tokens"], stats["invalid_lines"]) == (2, 24, 1)
    assert (
        "ended a torn last line in tokens_2026-05-05.jsonl"
        in (log_dir / "token_debug.log").read_text()
    )


def test_files_are_owner_only(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    tracker.log(1, 1)
    tracker.close()
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in log_dir.iterdir()}
    assert set(modes.values()) == {0o600}
    assert "token_stats.json" in modes


def test_configured_modes_are_used(make_tracker: Any, log_dir: Path) -> None:
    old = os.umask(0)
    try:
        tracker = make_tracker(file_mode=0o640, dir_mode=0o750)
        tracker.log(1, 1)
        tracker.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o750
    assert {stat.S_IMODE(p.stat().st_mode) for p in log_dir.glob("tokens_*")} == {0o640}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
        ({"max_queue_events": 1.5}, "max_queue_events must be an int >= 1, got 1.5"),
        ({"flush_interval_s": 0}, "flush_interval_s must be > 0, got 0"),
        ({"stats_interval_s": -1}, "stats_interval_s must be > 0, got -1"),
        ({"overflow": "wait"}, "overflow must be 'block' or 'drop', got 'wait'"),
        ({"block_timeout_s": -0.5}, "block_timeout_s must be >= 0, got -0.5"),
    ],
)
def test_bad_tracker_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        TokenTracker(**options)
    assert str(info.value) == message


def test_health_reports_what_was_written(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    assert tracker.health().as_dict() == {
        "state": "unstarted",
        "worker": None,
        "log_dir": str(log_dir),
        "queue_depth": 0,
        "pending_write": 0,
        "written": 0,
        "dropped": 0,
        "stats_errors": 0,
        "sink_errors": 0,
        "rejected": 0,
        "write_errors": 0,
        "last_error": None,
        "last_error_at": None,
        "sink_dropped": 0,
        "sinks": (),
        "queued_bytes": 0,
        "budget_events": (),
        "budgets_spent": (),
    }
    for _ in range(7):
        tracker.log(1, 1)
    tracker.flush_sync()
    health = tracker.health()
    assert (health.state, health.worker, health.written, health.queue_depth) == (
        "running",
        "thread",
        7,
        0,
    )


def test_plain_and_optional_field_lines_have_one_shape(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    tracker.log(7, 8, "openai", 'gpt-"quoted"-\u00e9\u4e2d')  # the template path
    tracker.log(7, 8, "openai", 'gpt-"quoted"-\u00e9\u4e2d', request_id="r-1")  # the dict path
    tracker.close()
    raw = sorted(log_dir.glob("tokens_*.jsonl"))[0].read_bytes().splitlines()
    plain, full = (json.loads(line) for line in raw)
    assert list(plain) == list(full)  # same fields, same order
    for event in (plain, full):
        del event["event_id"], event["ts"]
    assert full.pop("request_id") == "r-1"
    assert plain.pop("request_id") is None
    assert plain == full
    assert plain["model"] == 'gpt-"quoted"-\u00e9\u4e2d'
    assert b"\\u" not in raw[0]  # UTF-8 as orjson writes it, not \\u escapes


def test_a_call_without_api_type_is_logged_under_the_provider_its_model_names(
    make_tracker: Any, log_dir: Path
) -> None:
    from asynctokens.testing import InMemorySink

    sink = InMemorySink()
    tracker = make_tracker(sinks=[sink])
    tracker.log(1200, 350, model="gpt-4o")  # the caller's fast path: named on the worker
    tracker.log(10, 5, model="claude-sonnet-4-5", metadata={"job": 1})  # the checked path
    tracker.log(7, 3, model="models/gemini-2.5-flash", latency_ms=12.5)
    tracker.log(4, 2, model="my-llama-70b")  # names no provider: unknown, never a guess
    tracker.log(4, 2, "gemini", "gpt-4o")  # an explicit api_type is kept as given
    tracker.log(6, 1, None, "o3")  # None is the same as leaving it out
    assert tracker.close() is True
    expected = [
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-5"),
        ("gemini", "models/gemini-2.5-flash"),
        ("unknown", "my-llama-70b"),
        ("gemini", "gpt-4o"),
        ("openai", "o3"),
    ]
    assert [(e["api_type"], e["model"]) for e in read_lines(log_dir)] == expected
    assert [(e.api_type, e.model) for e in sink.events] == expected
    assert read_stats(log_dir)["by_api"]["openai"]["total_tokens"] == 1550 + 7
    assert read_stats(log_dir)["by_api"]["unknown"]["total_tokens"] == 6


def test_the_first_log_tokens_on_an_event_loop_imports_nothing(tmp_path: Path) -> None:
    """The writer's imports (anyio's backend among them) happen with ``import asynctokens``'s
    writer names, at start-up: the first call from a request handler only queues and starts
    the thread. (Its cost: ``python -m benchmarks.first_call``.)"""
    from tests.conftest import run_script

    result = run_script(
        """
        import asyncio, sys
        from asynctokens import log_tokens

        async def main():
            before = set(sys.modules)
            log_tokens(1, 1, "openai", "gpt-4o")
            print(sorted(set(sys.modules) - before))

        asyncio.run(main())
        """,
        cwd=tmp_path,
    )
    assert result.stdout == "[]\n", result.stderr
