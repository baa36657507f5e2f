"""Many writers into one directory: exact line counts, no torn or interleaved line, and stats
equal to the sums over the lines. Default sizes keep CI quick; `pytest -m slow` runs the
issue's full 8 x 50k."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import read_lines, read_stats

from asynctokens import TokenTracker

SIZES = [
    pytest.param(8, 5_000, id="8x5k"),
    pytest.param(8, 50_000, id="8x50k", marks=pytest.mark.slow),
]


def _child(log_dir: str, n: int, events: int) -> None:
    tracker = TokenTracker(log_dir, batch_size=1_000, stats_interval_s=0.05)
    for i in range(events):
        tracker.log(n, i % 7, model=f"proc-{n}")
    assert tracker.close(timeout=120) is True


def check(log_dir: Path, writers: int, events: int) -> None:
    lines = read_lines(log_dir)  # json.loads of every line: a torn or glued line fails here
    assert len(lines) == writers * events
    assert len({e["event_id"] for e in lines}) == writers * events
    per_writer: dict[str, list[int]] = {}
    for e in lines:
        per_writer.setdefault(e["model"], []).append(e["completion_tokens"])
    assert {m: len(v) for m, v in per_writer.items()} == {
        f"proc-{n}": events for n in range(writers)
    }
    stats = read_stats(log_dir)
    assert stats["total_requests"] == len(lines)
    assert stats["total_prompt_tokens"] == sum(e["prompt_tokens"] for e in lines)
    assert stats["total_completion_tokens"] == sum(e["completion_tokens"] for e in lines)
    assert stats["invalid_lines"] == 0


# Python 3.12+ warns when a process with threads forks (the test runner may have some);
# forking while threads run is exactly what this test exercises.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize(
    "method", [pytest.param("spawn", marks=pytest.mark.slow), "fork"]
)  # fresh interpreters by default: tests/test_processes.py
@pytest.mark.parametrize(("writers", "events"), SIZES)
def test_processes_write_one_directory_exactly(
    tmp_path: Path, method: str, writers: int, events: int
) -> None:
    ctx = multiprocessing.get_context(method)
    procs = [ctx.Process(target=_child, args=(str(tmp_path), n, events)) for n in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    check(tmp_path, writers, events)


@pytest.mark.parametrize(("writers", "events"), SIZES)
def test_threads_write_through_one_tracker_exactly(
    tmp_path: Path, writers: int, events: int
) -> None:
    tracker = TokenTracker(tmp_path)
    start = threading.Barrier(writers)

    def work(n: int) -> None:
        start.wait()
        for i in range(events):
            tracker.log(n, i % 7, model=f"proc-{n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tracker.close(timeout=120) is True
    assert tracker.health().dropped == 0
    check(tmp_path, writers, events)


async def test_asyncio_tasks_and_threads_mixed(tmp_path: Path) -> None:
    events = 5_000

    async def task_writer(tracker: TokenTracker, n: int) -> None:
        for i in range(events):
            tracker.log(n, i % 7, model=f"proc-{n}")
            if i % 250 == 0:
                await asyncio.sleep(0)

    def thread_writer(tracker: TokenTracker, n: int) -> None:
        for i in range(events):
            tracker.log(n, i % 7, model=f"proc-{n}")

    async with TokenTracker(tmp_path) as tracker:
        threads = [threading.Thread(target=thread_writer, args=(tracker, n)) for n in (4, 5, 6, 7)]
        for t in threads:
            t.start()
        await asyncio.gather(*(task_writer(tracker, n) for n in range(4)))
        await asyncio.to_thread(lambda: [t.join() for t in threads])
    check(tmp_path, 8, events)


def test_out_of_order_caller_timestamps_land_in_their_days(tmp_path: Path) -> None:
    import datetime as dt

    utc = dt.UTC
    days = [dt.datetime(2026, 1, d, 12, tzinfo=utc) for d in (3, 1, 2, 1, 3, 2, 1)]
    tracker = TokenTracker(tmp_path)
    for i, ts in enumerate(days):
        tracker.log(i, 1, ts=ts)
    tracker.close()
    got: dict[str, Any] = {
        p.name: [e["prompt_tokens"] for e in read_lines_in(p)]
        for p in sorted(tmp_path.glob("tokens_*.jsonl"))
    }
    assert got == {
        "tokens_2026-01-01.jsonl": [1, 3, 6],
        "tokens_2026-01-02.jsonl": [2, 5],
        "tokens_2026-01-03.jsonl": [0, 4],
    }
    by_day = read_stats(tmp_path)["by_day"]
    assert {d: r["total_prompt_tokens"] for d, r in by_day.items()} == {
        "2026-01-01": 10, "2026-01-02": 7, "2026-01-03": 4,
    }  # fmt: skip


def read_lines_in(path: Path) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


def test_forking_while_the_worker_writes_deadlocks_nothing_and_loses_nothing(
    tmp_path: Path,
) -> None:
    from conftest import run_script

    result = run_script(
        f"""
        import os
        from asynctokens import TokenTracker
        tracker = TokenTracker({str(tmp_path)!r}, batch_size=50, stats_interval_s=0.001)
        children = []
        for k in range(20):
            for i in range(500):
                tracker.log(k, 1, model="parent")   # the worker appends all the while
            pid = os.fork()
            if pid == 0:
                for _ in range(10):
                    tracker.log(k, 2, model="child")
                ok = tracker.close(timeout=20)
                os._exit(0 if ok else 3)
            children.append(pid)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
        assert tracker.close(timeout=20)
        """,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = read_lines(tmp_path)
    parent = [e for e in lines if e["model"] == "parent"]
    child = [e for e in lines if e["model"] == "child"]
    assert (len(parent), len(child)) == (10_000, 200)
    assert len({e["event_id"] for e in lines}) == 10_200
    assert read_stats(tmp_path)["total_requests"] == 10_200
