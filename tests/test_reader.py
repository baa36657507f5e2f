"""reader: events in range, newest first, aggregates; bad lines skipped and counted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from asynctokens import LogDirError, reader


def models(events: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [e["model"] for e in events]


def test_iter_events_reads_every_event_in_order(fixture_dir: Path) -> None:
    report = reader.ReadReport()
    events = list(reader.iter_events(fixture_dir, report=report))
    assert models(events) == [
        "gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash", "gemini-2.5-flash",
        "my-local-llama",
    ]  # fmt: skip
    assert (report.files_read, report.lines_read, report.bad_lines) == (3, 6, 0)
    assert events[5]["metadata"] == {"article_id": 7}


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("2026-11-21", None, 3),
        (None, "2026-11-21", 5),
        ("2026-11-21", "2026-11-21", 2),
        ("2026-11-20T12:00:00+00:00", None, 5),  # an instant: included
        (None, "2026-11-21T00:30:00+00:00", 3),  # an instant: excluded
        (dt.date(2026, 11, 22), dt.date(2026, 11, 22), 1),
        ("2026-11-23", None, 0),
    ],
)
def test_since_and_until_bound_the_range(
    fixture_dir: Path, since: str | None, until: str | None, expected: int
) -> None:
    assert len(list(reader.iter_events(fixture_dir, since, until))) == expected


def test_day_bounds_follow_the_time_zone(fixture_dir: Path) -> None:
    ny = reader.get_timezone("America/New_York")  # UTC-5 in November
    events = list(reader.iter_events(fixture_dir, "2026-11-20", "2026-11-20", tz=ny))
    assert models(events) == ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"]
    days = reader.aggregate(fixture_dir, tz=ny).by("day")
    assert {d: r["total_requests"] for d, r in days.items()} == {
        "2026-11-20": 4, "2026-11-21": 1, "2026-11-22": 1,
    }  # fmt: skip


def test_aggregate_from_stats_equals_a_full_scan(fixture_dir: Path) -> None:
    from_stats = reader.aggregate(fixture_dir)
    (fixture_dir / "token_stats.json").unlink()
    scanned = reader.aggregate(fixture_dir, tz=reader.get_timezone("UTC"))
    assert from_stats == scanned
    assert from_stats.totals()["total_tokens"] == 6_150_100 + 1_620_100
    assert not (fixture_dir / "token_stats.json").exists()  # reading never writes


def test_torn_garbage_and_invalid_lines_are_skipped_and_counted(fixture_dir: Path) -> None:
    path = fixture_dir / "tokens_2026-11-21.jsonl"
    good = path.read_bytes()
    path.write_bytes(
        b"\x00\xffgarbage\n"
        + good
        + b'{"event_id":"x","ts":"2026-11-21T10:00:00+00:00","model":"m"}\n'  # fields missing
        + b'{"prompt_tokens": -5}\n'
        + b"\n"  # a blank line is not an event, nor an error
        + b'{"event_id":"torn","ts":"2026-11-21T1'  # a write cut short
    )
    report = reader.ReadReport()
    events = list(reader.iter_events(fixture_dir, report=report))
    assert len(events) == 6
    assert report.bad_lines == 3  # the torn tail is no line until a writer ends it
    assert report.samples == [
        "tokens_2026-11-21.jsonl line 1: not a valid event line",
        "tokens_2026-11-21.jsonl line 4: missing or invalid field",
        "tokens_2026-11-21.jsonl line 5: missing or invalid field",
    ]
    assert report.unfinished == ["tokens_2026-11-21.jsonl"]


def test_a_ten_megabyte_line_is_one_bad_line(fixture_dir: Path) -> None:
    path = fixture_dir / "tokens_2026-11-22.jsonl"
    path.write_bytes(b'{"x":"' + b"a" * (10 << 20) + b'"}\n' + path.read_bytes())
    report = reader.ReadReport()
    assert len(list(reader.iter_events(fixture_dir, report=report))) == 6
    assert report.bad_lines == 1


def test_iter_recent_reads_newest_first(fixture_dir: Path) -> None:
    recent = list(reader.iter_recent(fixture_dir))
    assert models(recent) == [
        "my-local-llama", "gemini-2.5-flash", "gemini-2.5-flash", "claude-sonnet-4-5",
        "gpt-4o-mini", "gpt-4o",
    ]  # fmt: skip


def test_iter_recent_crosses_block_boundaries(tmp_path: Path) -> None:
    from asynctokens import TokenTracker

    tracker = TokenTracker(tmp_path)
    for i in range(3_000):  # ~1.2 MB in one file: many 64 KiB blocks
        tracker.log(i, 1, model="m")
    tracker.close()
    got = [e["prompt_tokens"] for e in reader.iter_recent(tmp_path)]
    assert got == list(range(2_999, -1, -1))


def test_missing_and_empty_directories_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LogDirError, match="does not exist: pass --log-dir, or set"):
        list(reader.iter_events(tmp_path / "nope"))
    with pytest.raises(LogDirError, match=r"no tokens_YYYY-MM-DD\.jsonl files in"):
        list(reader.iter_events(tmp_path))


def test_bad_dates_and_zones_are_rejected_with_the_value(fixture_dir: Path) -> None:
    with pytest.raises(ValueError, match="bad date '2026-13-01': use YYYY-MM-DD"):
        list(reader.iter_events(fixture_dir, since="2026-13-01"))
    with pytest.raises(ValueError, match=r"--since \(2026-11-22\) must be before --until"):
        list(reader.iter_events(fixture_dir, since="2026-11-22", until="2026-11-21"))
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        reader.get_timezone("Mars/Base")
