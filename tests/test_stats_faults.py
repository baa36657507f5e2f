"""An unusable stats file or absurd hand-edited counts never wedge the writer or the app."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from asynctokens import reader
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
    assert tracker.flush_sync(timeout=3600) is True  # done, not waited out
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
        # False at once: a flush that waited for the stats would hold the suite for an hour
        assert tracker.flush_sync(timeout=3600) is False  # the lines are written, the stats not
    health = tracker.health()
    assert health.stats_errors == 3
    assert health.last_error is not None and "token_stats.json" in health.last_error
    assert [line["prompt_tokens"] for line in read_lines(log_dir)] == [0, 1, 2]
    summary = tracker.get_summary()  # never raises: the lines, read around the directory
    assert (summary["scope"], summary["total_requests"]) == ("directory", 3)
    assert "error" not in summary
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


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["columns"][0][1].__setitem__(0, -5),  # a negative count
        lambda m: m["columns"][0][2].__setitem__(0, "12"),  # text for a number
        lambda m: m["columns"][0][3].__setitem__(0, 1.5),  # a fraction
        lambda m: m["columns"][0].__setitem__(0, 30 * 24),  # past the month's last hour
        lambda m: m["columns"][0][4].append(0),  # columns of unequal length
        lambda m: m["keys"][0].pop(),  # a key without its host
        lambda m: m.pop("columns"),
        lambda m: m["spans"]["tokens_2026-11-20.jsonl"].__setitem__("2026-11-20T10", [9, 2]),
    ],
    ids=[
        "negative",
        "text",
        "fraction",
        "past-the-month",
        "unequal",
        "short-key",
        "no-columns",
        "bad-span",
    ],
)
def test_a_hand_edited_month_file_is_rebuilt_not_believed(
    log_dir: Path, edit: Any, make_tracker: Any
) -> None:
    """A month file is a cache: any edit its checks catch makes it stale, so reports come
    from the lines (exact, no traceback) and the next writer's update rewrites it."""
    at = dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)
    tmp_path = log_dir
    tracker = make_tracker()
    tracker.log(100, 10, "openai", "gpt-4o", ts=at)
    tracker.log(200, 20, "openai", "gpt-4o", ts=at + dt.timedelta(hours=1))
    assert tracker.close()
    path = tmp_path / "token_stats_2026-11.json"
    month = orjson.loads(path.read_bytes())
    edit(month)
    path.write_bytes(orjson.dumps(month))
    kolkata = reader.aggregate(tmp_path, tz=reader.get_timezone("Asia/Kolkata"))
    assert kolkata.totals()["total_prompt_tokens"] == 300
    assert reader.aggregate(tmp_path).totals()["total_requests"] == 2
    # a range ending inside hour 10 (not on a quarter hour) reads that hour by its span
    until = at + dt.timedelta(minutes=10)
    assert reader.aggregate(tmp_path, at, until).totals()["total_prompt_tokens"] == 100
    tracker = make_tracker()
    tracker.log(1, 1, "openai", "gpt-4o", ts=at)
    assert tracker.close()
    rebuilt = orjson.loads(path.read_bytes())
    assert rebuilt["columns"][0][:3] == [19 * 24 + 10, [2, 1], [2, 1]]


def _quarters_edit(name: str) -> Any:
    def edit(path: Path) -> None:
        data = path.read_bytes()
        header, body = data[:12], data[12:]
        if name == "deleted":
            path.unlink()
        elif name == "cut":
            path.write_bytes(data[:-8])
        elif name == "other-update":  # the token of another update than the month file's
            path.write_bytes(header[:4] + bytes(8) + body)
        elif name == "negative":
            path.write_bytes(header + (-1).to_bytes(8, "little", signed=True) * (len(body) // 8))
        else:  # "more-than-the-hour": every early counter above the hour's own
            path.write_bytes(header + (1000).to_bytes(8, "little") * (len(body) // 8))

    return edit


@pytest.mark.parametrize(
    "edit", ["deleted", "cut", "other-update", "negative", "more-than-the-hour"]
)
def test_a_bad_quarters_file_is_never_believed(log_dir: Path, edit: str, make_tracker: Any) -> None:
    """The early counters are a cache too: a quarters file that is gone, cut, of another
    update or absurd is not used (the cut hours' lines decide, or a scan), and the next
    writer's update rewrites it."""
    at = dt.datetime(2026, 11, 20, 18, 10, tzinfo=dt.UTC)  # Kolkata's 21st begins at 18:30
    tracker = make_tracker()
    tracker.log(100, 10, "openai", "gpt-4o", ts=at)
    tracker.log(200, 20, "openai", "gpt-4o", ts=at + dt.timedelta(minutes=30))
    tracker.log(400, 40, "openai", "gpt-4o", ts=at - dt.timedelta(hours=8))
    assert tracker.close()
    kolkata = reader.get_timezone("Asia/Kolkata")
    expected = {"2026-11-20": (2, 500), "2026-11-21": (1, 200)}

    def days(report: reader.ReadReport) -> dict[str, tuple[int, int]]:
        by_day = reader.aggregate(log_dir, tz=kolkata, report=report).by("day")
        return {d: (r["total_requests"], r["total_prompt_tokens"]) for d, r in by_day.items()}

    clean = reader.ReadReport()
    assert days(clean) == expected and clean.lines_read == 0
    _quarters_edit(edit)(log_dir / "token_stats_2026-11.quarters")
    edited = reader.ReadReport()
    assert days(edited) == expected and edited.lines_read > 0  # the lines decided
    tracker = make_tracker()
    tracker.log(1, 1, "openai", "gpt-4o", ts=at - dt.timedelta(hours=9))
    assert tracker.close()
    rewritten = reader.ReadReport()
    assert days(rewritten) == {"2026-11-20": (3, 501), "2026-11-21": (1, 200)}
    assert rewritten.lines_read == 0
