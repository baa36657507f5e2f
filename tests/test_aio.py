"""asynctokens.aio: follow() yields what any process appends, once, as it lands."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import read_lines

from asynctokens import TokenTracker, aio
from asynctokens.reader import ReadReport

CHILD = textwrap.dedent(
    """
    import sys
    from asynctokens import TokenTracker
    tracker = TokenTracker(sys.argv[1], flush_interval_s=0.05)
    for i in range(1000):
        tracker.log(i, 1, "openai", "child-" + sys.argv[2])
    assert tracker.close()
    """
)


class Collector:
    """Runs follow() into a list; ``wait(n)`` returns once n events arrived (or 5 s passed)."""

    def __init__(self, log_dir: Path, **kw: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self._grew = asyncio.Event()
        self._task = asyncio.create_task(self._run(log_dir, kw))

    async def _run(self, log_dir: Path, kw: dict[str, Any]) -> None:
        async for event in aio.follow(log_dir, poll_s=0.05, **kw):
            self.events.append(event)
            self._grew.set()

    async def wait(self, n: int) -> None:
        deadline = time.perf_counter() + 5
        while len(self.events) < n and time.perf_counter() < deadline:
            self._grew.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._grew.wait(), deadline - time.perf_counter())

    def stop(self) -> None:
        self._task.cancel()


@pytest.mark.slow  # three interpreters start: with the long variants (CI runs them too)
async def test_three_processes_give_exactly_their_events_once(tmp_path: Path) -> None:
    """How soon they arrive and how late the follower's loop runs meanwhile are timed by
    ``python -m benchmarks.follow_bench``."""
    follower = Collector(tmp_path)
    await asyncio.sleep(0.2)  # the follower is running before the first line is written
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, str(tmp_path), str(k))
        for k in range(3)
    ]
    assert [await p.wait() for p in procs] == [0, 0, 0]
    await follower.wait(3000)
    follower.stop()
    seen = [e["event_id"] for e in follower.events]
    assert len(seen) == len(set(seen)) == 3000
    assert sorted(seen) == sorted(e["event_id"] for e in read_lines(tmp_path))


async def test_a_directory_made_later_and_midnight_are_followed(tmp_path: Path) -> None:
    log_dir = tmp_path / "not-yet"
    follower = Collector(log_dir)
    await asyncio.sleep(0.15)
    tracker = TokenTracker(log_dir)
    before = dt.datetime(2026, 11, 23, 23, 59, 59, tzinfo=dt.UTC)
    tracker.log(1, 1, ts=before)
    tracker.log(2, 2, ts=before + dt.timedelta(seconds=2))  # the next day's file
    assert await tracker.aclose()
    await follower.wait(2)
    follower.stop()
    assert [(e["ts"][:10], e["prompt_tokens"]) for e in follower.events] == [
        ("2026-11-23", 1), ("2026-11-24", 2),
    ]  # fmt: skip


async def test_a_line_being_written_is_pending_not_bad(tmp_path: Path) -> None:
    tracker = TokenTracker(tmp_path)
    tracker.log(1, 1, ts=dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC))
    assert await tracker.aclose()
    path = tmp_path / "tokens_2026-11-23.jsonl"
    first = read_lines(tmp_path)[0]
    line = orjson.dumps({**first, "event_id": "second"}) + b"\n"
    report = ReadReport()
    follower = Collector(tmp_path, from_start=True, report=report)
    await follower.wait(1)
    with path.open("ab") as f:
        f.write(line[:25])
        f.flush()
        await asyncio.sleep(0.2)  # several polls see half a line: nothing yielded, nothing bad
        assert [e["event_id"] for e in follower.events] == [first["event_id"]]
        f.write(line[25:])
    await follower.wait(2)
    follower.stop()
    assert [e["event_id"] for e in follower.events] == [first["event_id"], "second"]
    assert report.bad_lines == 0


async def test_reports_run_off_the_loop(fixture_dir: Path) -> None:
    from asynctokens import summary

    query = summary.Query(log_dir=fixture_dir)
    assert (await aio.asummary(query))["totals"]["total_requests"] == 6
    assert list((await aio.abreakdown(query, "api"))["rows"]) == ["anthropic", "gemini",
                                                                   "local", "openai"]  # fmt: skip
    assert len((await aio.arecent(query, 2))["events"]) == 2
    with pytest.raises(ValueError, match="poll_s must be > 0"):
        await anext(aio.follow(fixture_dir, poll_s=0))


async def test_a_bad_line_is_reported_at_its_own_byte(tmp_path: Path) -> None:
    tracker = TokenTracker(tmp_path)
    tracker.log(1, 1, ts=dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC))
    assert await tracker.aclose()
    path = tmp_path / "tokens_2026-11-23.jsonl"
    first = path.stat().st_size
    report = ReadReport()
    follower = Collector(tmp_path, from_start=True, report=report)
    await follower.wait(1)
    with path.open("ab") as f:
        f.write(b"garbage\n" + orjson.dumps({**read_lines(tmp_path)[0], "event_id": "x"}) + b"\n")
    await follower.wait(2)
    follower.stop()
    assert report.samples == [f"{path.name} byte {first}: not a valid event line"]


async def test_a_daily_file_moved_away_and_made_again_is_followed_anew(tmp_path: Path) -> None:
    """A log shipper moves today's file away while the writer runs; the next append makes a
    new one under the name. Every event of the new file arrives, once, even when the new
    file has grown past where the old one was read to."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    tracker.log(1, 1, "openai", "gpt-4o")
    assert tracker.flush_sync() is True
    follower = Collector(log_dir)
    await asyncio.sleep(0.2)  # it is following: the file's present end is its start
    for i in range(100):
        tracker.log(i, 1, "openai", "gpt-4o")
    assert tracker.flush_sync() is True
    await follower.wait(100)
    (day_file,) = log_dir.glob("tokens_*.jsonl")
    day_file.rename(tmp_path / "shipped.jsonl")
    for i in range(300):  # the new file outgrows the old one
        tracker.log(1000 + i, 1, "openai", "gpt-4o")
    assert tracker.close() is True
    await follower.wait(400)
    follower.stop()
    got = [e["prompt_tokens"] for e in follower.events]
    assert got == [*range(100), *range(1000, 1300)]
