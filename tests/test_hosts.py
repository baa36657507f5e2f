"""Many hosts: the host of each event, many log directories in one report, each event once."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from conftest import read_lines

from asynctokens import TokenTracker, cli, reader
from asynctokens.record._format import STATS_VERSION
from asynctokens.stats import _plan as judging  # the module whose judge_line cut hours use

START = dt.datetime(2026, 3, 28, 20, tzinfo=dt.UTC)  # Lisbon changes to summer time 29 March


def fleet_host(root: Path, host: str, calls: int, seed: int) -> Path:
    """One host's directory: ``calls`` calls every 17 minutes from START, across midnights."""
    log_dir = root / host / "logs" / "tokens"
    tracker = TokenTracker(log_dir, host=host)
    for i in range(calls):
        tracker.log(100 + seed + i, 10 + i % 5, "openai", ("gpt-4o", "gpt-4o-mini")[i % 2],
                    ts=START + dt.timedelta(minutes=17 * i + seed))  # fmt: skip
    assert tracker.close()
    return log_dir


@pytest.fixture
def fleet(tmp_path: Path) -> list[Path]:
    return [fleet_host(tmp_path / "fleet", h, 150, s) for h, s in (("web-1", 0), ("web-2", 7))]


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert cli.main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return orjson.loads(out)  # type: ignore[no-any-return]


def test_lines_name_their_host_and_the_option_sets_or_drops_it(tmp_path: Path) -> None:
    for host, expected in ((True, socket.gethostname()), ("pod-7", "pod-7"), (False, None)):
        log_dir = tmp_path / str(host)
        tracker = TokenTracker(log_dir, host=host)
        tracker.log(1, 2, metadata={"k": 1})  # the dict path
        tracker.log(3, 4)  # the fast path
        assert tracker.close()
        assert [line.get("host") for line in read_lines(log_dir)] == [expected, expected]
    for bad in ("", " padded", "tab\there", 7, "x" * 256):
        with pytest.raises(ValueError, match="host must be"):
            TokenTracker(tmp_path, host=bad)  # type: ignore[arg-type]


def test_event_ids_carry_64_random_bits(tmp_path: Path) -> None:
    tracker = TokenTracker(tmp_path)
    tracker.log(1, 1)
    assert tracker.close()
    event_id = read_lines(tmp_path)[0]["event_id"]
    assert len(event_id.split(".")[1].split("-")[0]) == 16  # 8 bytes, hex


def test_many_directories_make_one_report_by_host(
    fleet: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = read_lines(fleet[0]) + read_lines(fleet[1])
    dirs = ["--log-dir", str(fleet[0]), "--log-dir", str(fleet[1])]
    hosts = report(capsys, "hosts", *dirs)
    rows = hosts["rows"]
    assert {h: (r["total_requests"], r["total_prompt_tokens"]) for h, r in rows.items()} == {
        "web-1": (150, sum(100 + i for i in range(150))),
        "web-2": (150, sum(107 + i for i in range(150))),
    }  # fmt: skip
    assert hosts["totals"]["total_tokens"] == sum(e["total_tokens"] for e in lines)
    pattern = str(tmp_path / "fleet" / "*" / "logs" / "tokens")
    assert report(capsys, "hosts", "--log-dir", pattern)["rows"] == hosts["rows"]
    only = report(capsys, "summary", "--log-dir", pattern, "--host", "web-2")
    assert only["totals"]["total_requests"] == 150
    assert cli.main(["summary", "--log-dir", str(tmp_path / "nowhere" / "*")]) == 2
    assert "no directory matches" in capsys.readouterr().err


@pytest.mark.parametrize("zone", ["UTC", "Europe/Lisbon", "Asia/Kolkata", "Asia/Kathmandu",
                                  "America/St_Johns", "Pacific/Chatham"])  # fmt: skip
def test_days_in_every_kind_of_zone_are_exact_over_many_directories(
    fleet: list[Path], capsys: pytest.CaptureFixture[str], zone: str
) -> None:
    """Whole-hour, half-hour, 45-minute and negative half-hour offsets, across a DST change:
    each day's requests equal a count made here from the lines."""
    expected: dict[str, int] = {}
    for line in read_lines(fleet[0]) + read_lines(fleet[1]):
        day = dt.datetime.fromisoformat(line["ts"]).astimezone(ZoneInfo(zone)).date().isoformat()
        expected[day] = expected.get(day, 0) + 1
    daily = report(capsys, "daily", "--log-dir", str(fleet[0]), "--log-dir", str(fleet[1]),
                   "--timezone", zone)  # fmt: skip
    assert {d: r["total_requests"] for d, r in daily["rows"].items()} == expected


def test_a_directory_present_twice_counts_once(
    fleet: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "archive" / "web-1"
    shutil.copytree(fleet[0], copy)
    # the live directory goes on after the copy: the copy is a prefix of it
    tracker = TokenTracker(fleet[0], host="web-1")
    tracker.log(5, 5, "openai", "gpt-4o", ts=START + dt.timedelta(minutes=5))
    assert tracker.close()
    one = report(capsys, "summary", "--log-dir", str(fleet[0]))["totals"]
    for extra in ([], ["--timezone", "Asia/Kolkata"]):  # from the stats, and a scan
        both = report(capsys, "summary", "--log-dir", str(fleet[0]), "--log-dir", str(copy),
                      *extra)["totals"]  # fmt: skip
        assert both == one
        same = report(capsys, "summary", "--log-dir", str(fleet[0]), "--log-dir",
                      str(fleet[0] / ".." / "tokens"), *extra)["totals"]  # fmt: skip
        assert same == one


def test_copies_that_went_on_separately_share_their_events_once(
    fleet: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "restored"
    shutil.copytree(fleet[0], copy)
    for target, tokens in ((fleet[0], 1_000), (copy, 2_000)):
        tracker = TokenTracker(target, host="web-1")
        tracker.log(tokens, 0, "openai", "gpt-4o", ts=START + dt.timedelta(minutes=1))
        assert tracker.close()
    base = sum(e["prompt_tokens"] for e in read_lines(fleet[0])) - 1_000
    for extra in ([], ["--timezone", "Europe/Lisbon"]):
        totals = report(capsys, "summary", "--log-dir", str(fleet[0]), "--log-dir", str(copy),
                        *extra)["totals"]  # fmt: skip
        assert (totals["total_requests"], totals["total_prompt_tokens"]) == (
            152,
            base + 1_000 + 2_000,
        )
    recent = list(reader.iter_recent([fleet[0], copy]))
    assert len(recent) == 152
    assert len({e["event_id"] for e in recent}) == 152


def test_stats_of_the_previous_layout_are_rebuilt_with_hosts_and_hours(
    fleet: list[Path],
) -> None:
    """Version 4 kept cells per UTC day in token_stats.json alone: rebuilt on first use."""
    stats_path = fleet[0] / "token_stats.json"
    lines = read_lines(fleet[0])
    cells = [[e["ts"][:10], "openai", e["model"], 0, "web-1", 1, 1, e["prompt_tokens"],
              e["completion_tokens"], 0, 0, 0] for e in lines]  # fmt: skip
    for month_file in fleet[0].glob("token_stats_*.json"):
        month_file.unlink()
    stats_path.write_bytes(orjson.dumps({"format_version": 4, "cells": cells, "files": {}}))
    agg = reader.aggregate(fleet[0])
    assert set(agg.by("host")) == {"web-1"}
    assert agg.totals()["total_requests"] == 150
    tracker = TokenTracker(fleet[0], host="web-1")  # a writer rewrites them in the new layout
    tracker.log(1, 1, ts=START)
    assert tracker.close()
    index = orjson.loads(stats_path.read_bytes())
    assert (index["format_version"], index["total_requests"]) == (STATS_VERSION, 151)
    assert sorted(index["months"]) == ["2026-03", "2026-04"][: len(index["months"])]
    month = orjson.loads((fleet[0] / "token_stats_2026-03.json").read_bytes())
    assert month["columns"][0][0] == 27 * 24 + 20  # from 2026-03-28T20, per UTC hour


def drop_quarters(*dirs: Path) -> None:
    """Delete the quarters files: reports then read the lines of the hours they cut."""
    for d in dirs:
        for path in d.glob("token_stats_*.quarters"):
            path.unlink()


@pytest.mark.parametrize("quarters", [True, False], ids=["quarters", "spans"])
@pytest.mark.parametrize(("zone", "cut_hour"), [
    ("UTC", None), ("Europe/Lisbon", None), ("America/New_York", None),
    ("Asia/Kolkata", 18), ("Asia/Kathmandu", 18), ("Australia/Eucla", 15),
])  # fmt: skip
def test_every_zone_is_answered_from_the_hourly_stats_exactly(
    fleet: list[Path], zone: str, cut_hour: int | None, quarters: bool
) -> None:
    """Cells per UTC hour: a day of a whole-hour zone (across Lisbon's DST change too) is a
    sum of cells and reads no line; so is a day of a zone whose days begin at hh:30 or
    hh:15 UTC (+5:30, +5:45, +8:45), from each hour's early counters (the quarters file).
    Without them, such a zone reads the lines of the hour it cuts alone, from the bytes the
    stats keep for it."""
    if not quarters:
        drop_quarters(*fleet)
    tz = reader.get_timezone(zone)
    lines = read_lines(fleet[0]) + read_lines(fleet[1])
    in_cut_hour = sum(1 for line in lines if int(line["ts"][11:13]) == cut_hour)
    in_cut_hour = in_cut_hour if not quarters else 0
    report = reader.ReadReport()
    days = reader.aggregate(fleet, tz=tz, report=report).by("day")
    expected: dict[str, int] = {}
    for line in lines:
        day = dt.datetime.fromisoformat(line["ts"]).astimezone(ZoneInfo(zone)).date().isoformat()
        expected[day] = expected.get(day, 0) + 1
    assert {d: r["total_requests"] for d, r in days.items()} == expected
    assert report.lines_read == in_cut_hour
    assert (in_cut_hour > 0) is (cut_hour is not None and not quarters)
    one_day = reader.ReadReport()
    day = sorted(expected)[1]
    agg = reader.aggregate(fleet, day, day, tz=tz, report=one_day)
    assert agg.totals()["total_requests"] == expected[day]
    assert one_day.lines_read <= in_cut_hour


def test_a_range_ending_inside_an_hour_reads_that_hour_alone(fleet: list[Path]) -> None:
    since = START + dt.timedelta(hours=5, minutes=20)
    until = START + dt.timedelta(hours=30, minutes=40)
    lines = read_lines(fleet[0]) + read_lines(fleet[1])
    inside = [e for e in lines if since <= dt.datetime.fromisoformat(e["ts"]) < until]
    edge_hours = {since.strftime("%Y-%m-%dT%H"), until.strftime("%Y-%m-%dT%H")}
    in_edges = sum(1 for e in lines if e["ts"][:13] in edge_hours)
    report = reader.ReadReport()
    agg = reader.aggregate(fleet, since, until, report=report)
    assert agg.totals()["total_requests"] == len(inside) == 179
    assert agg.totals()["total_prompt_tokens"] == sum(e["prompt_tokens"] for e in inside)
    assert report.lines_read == in_edges == 14


def test_a_backfilled_line_widens_its_hour_and_is_counted_once(tmp_path: Path) -> None:
    """Lines need not be in time order: an event logged late with an earlier ts is still
    found by the half-hour zone's read of its hour, and counted in its own day."""
    tracker = TokenTracker(tmp_path, host="h")
    for minutes in (0, 20, 40, 65, 100, 140):
        tracker.log(100, 1, "openai", "gpt-4o", ts=START + dt.timedelta(hours=-3, minutes=minutes))
    for prompt, minute in ((7, 45), (9, 5)):  # logged late, out of time order
        tracker.log(prompt, 1, "openai", "gpt-4o", ts=START.replace(hour=18, minute=minute))
    assert tracker.close()
    tz = reader.get_timezone("Asia/Kolkata")  # its 29 March begins at 18:30 UTC
    for quarters in (True, False):
        if not quarters:
            drop_quarters(tmp_path)
        report = reader.ReadReport()
        days = reader.aggregate(tmp_path, tz=tz, report=report).by("day")
        assert {d: (r["total_requests"], r["total_prompt_tokens"]) for d, r in days.items()} == {
            "2026-03-28": (5, 409),  # 17:00, 17:20, 17:40, 18:05 UTC, and the late 18:05
            "2026-03-29": (3, 207),  # 18:40, 19:20 and the late 18:45
        }
        if quarters:  # the writer counted the late lines in their hour's first 30 minutes
            assert report.lines_read == 0
        else:
            assert 0 < report.lines_read <= 8  # hour 18's span, not a scan of the directory


def test_stats_are_split_by_month_and_an_update_rewrites_only_the_month_it_touched(
    tmp_path: Path,
) -> None:
    tracker = TokenTracker(tmp_path)
    for day in ("2026-01-31", "2026-02-01", "2026-03-15"):
        tracker.log(10, 1, "openai", "gpt-4o", ts=dt.datetime.fromisoformat(f"{day}T23:10:00Z"))
    assert tracker.close()
    months = sorted(p.name for p in tmp_path.glob("token_stats_*.json"))
    assert months == ["token_stats_2026-01.json", "token_stats_2026-02.json",
                      "token_stats_2026-03.json"]  # fmt: skip
    before = {m: (tmp_path / m).stat().st_mtime_ns for m in months}
    tracker = TokenTracker(tmp_path)
    tracker.log(5, 1, "openai", "gpt-4o", ts=dt.datetime.fromisoformat("2026-03-16T08:00:00Z"))
    assert tracker.close()
    after = {m: (tmp_path / m).stat().st_mtime_ns for m in months}
    assert [m for m in months if after[m] != before[m]] == ["token_stats_2026-03.json"]
    index = orjson.loads((tmp_path / "token_stats.json").read_bytes())
    assert (index["total_requests"], index["total_prompt_tokens"]) == (4, 35)
    assert list(index["by_day"]) == ["2026-01-31", "2026-02-01", "2026-03-15", "2026-03-16"]
    assert "cells" not in index  # the file rewritten every few seconds holds no cells


def test_a_half_hour_zone_parses_only_the_shorter_part_of_each_cut_hour(
    fleet: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kolkata's days begin at hh:30 UTC; with no quarters file, the lines from :30 on are
    judged, the others are passed over unparsed (the hour's cells less the judged lines
    give their day)."""
    drop_quarters(*fleet)
    judged: list[bytes] = []
    real = judging.judge_line

    def spy(line: bytes, day: str) -> Any:
        judged.append(line)
        return real(line, day)

    monkeypatch.setattr(judging, "judge_line", spy)
    tz = reader.get_timezone("Asia/Kolkata")
    days = reader.aggregate(fleet, tz=tz).by("day")
    lines = read_lines(fleet[0]) + read_lines(fleet[1])
    expected: dict[str, int] = {}
    for line in lines:
        day = dt.datetime.fromisoformat(line["ts"]).astimezone(tz).date().isoformat()
        expected[day] = expected.get(day, 0) + 1
    assert {d: r["total_requests"] for d, r in days.items()} == expected
    late_half = [e for e in lines if e["ts"][11:13] == "18" and int(e["ts"][14:16]) >= 30]
    assert len(judged) == len(late_half) == 4


def test_lines_of_any_layout_in_a_cut_hour_are_placed_by_their_own_time(tmp_path: Path) -> None:
    """Another field order, another offset, a second "ts" in metadata, a bad line: each is
    parsed, not read off its bytes, and lands in its own day of the zone."""
    tracker = TokenTracker(tmp_path, host="h")
    for minute in (10, 40):
        tracker.log(100, 1, "openai", "gpt-4o", ts=START.replace(hour=18, minute=minute))
    assert tracker.close()
    extra = [
        {"ts": "2026-03-28T18:05:00+00:00", "event_id": "x1"},  # ts first: Kolkata's 28th
        {"event_id": "x2", "ts": "2026-03-29T00:20:00+05:30"},  # 18:50 UTC: the 29th
        {
            "event_id": "x3",
            "ts": "2026-03-28T18:45:00.000000+00:00",
            "metadata": {"ts": "2026-03-28T18:01:00.000000+00:00"},
        },
    ]
    base = read_lines(tmp_path)[0]
    with (tmp_path / "tokens_2026-03-28.jsonl").open("ab") as f:
        for fields in extra:
            event = {**fields, **{k: v for k, v in base.items() if k not in fields}}
            event["prompt_tokens"], event["total_tokens"] = 7, 8
            f.write(orjson.dumps(event) + b"\n")
        f.write(b'{"event_id":"bad","ts":"2026-03-28T18:20:00.000000+00:00"}\n')
    tz = reader.get_timezone("Asia/Kolkata")
    report = reader.ReadReport()
    days = reader.aggregate(tmp_path, tz=tz, report=report).by("day")
    assert {d: (r["total_requests"], r["total_prompt_tokens"]) for d, r in days.items()} == {
        "2026-03-28": (2, 107),  # 18:10 and x1 (18:05)
        "2026-03-29": (3, 114),  # 18:40, x2 (18:50 UTC) and x3 (18:45)
    }
    assert report.bad_lines == 1


def test_the_writers_quarters_equal_those_rebuilt_from_the_lines(fleet: list[Path]) -> None:
    """Two folds make the early counters: the writer's, of what it appends (cells per quarter
    hour, then by hour), and the stats fold of lines read back (a rebuild, another process's
    lines). Over calls every 17 minutes, across midnights, they agree to the byte, and so
    do the cells."""
    from asynctokens.stats import _update as _statsfile

    log_dir = fleet[0]
    written = {p.name: p.read_bytes() for p in log_dir.glob("token_stats_*")}
    assert any(name.endswith(".quarters") for name in written)
    for path in log_dir.glob("token_stats*"):
        path.unlink()
    _statsfile.update(log_dir, {}, 0o600)  # what the next writer does: fold every line
    for name, before in written.items():
        after = (log_dir / name).read_bytes()
        if name.endswith(".quarters"):  # all but the token of the update
            assert (after[:4], after[12:]) == (before[:4], before[12:])
        else:
            old, new = orjson.loads(before), orjson.loads(after)
            assert new.pop("quarters") != old.pop("quarters")
            assert new == old
