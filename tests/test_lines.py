"""One judgement of a line, shared by the stats fold, scans and ``recent``; edges of reading."""

from __future__ import annotations

import datetime as dt
import fcntl
import threading
from pathlib import Path

import orjson
import pytest

from asynctokens import cli, reader
from asynctokens.record._lines import BLOCK, BackwardLines, ForwardBlocks

DAY = "2026-11-21"


def line(**overrides: object) -> bytes:
    """A valid line of the 2026-11-21 file, as a writer writes it, with fields replaced."""
    obj = {
        "event_id": "e", "ts": f"{DAY}T10:00:00.000000+00:00", "api_type": "openai",
        "model": "gpt-4o", "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
        "cached_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "success": True,
        "error_message": None, "latency_ms": None, "api_key_suffix": None,
        "request_id": None, "metadata": {}, "pid": 1,
    }  # fmt: skip
    obj.update(overrides)
    return orjson.dumps(obj) + b"\n"


@pytest.fixture
def mixed_dir(tmp_path: Path) -> Path:
    """Three days, each with good lines and bad ones of every kind the judgement knows."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    for day, good in (("2026-11-20", 2), ("2026-11-21", 3), ("2026-11-22", 1)):
        ts = f"{day}T23:30:00.000000+00:00"
        data = b"".join(line(ts=ts, prompt_tokens=i + 1) for i in range(good))
        data += b"garbage\n" + line(ts=ts, success="yes")  # not JSON; a field of a wrong type
        data += line(ts="2026-11-25T10:00:00+00:00")  # an instant of another file's day
        data += line(ts=f"{day}T25:00:00+00:00")  # no instant
        data += line(ts=f"{day}T01:00:00+05:00") if day != "2026-11-20" else b""  # day before
        data += line(ts=f"{day}T12:00:00", prompt_tokens=1000)  # naive: UTC, valid
        (log_dir / f"tokens_{day}.jsonl").write_bytes(data)
    return log_dir


def test_stats_and_scan_agree_on_totals_and_bad_lines_for_every_range(mixed_dir: Path) -> None:
    """The stats path (UTC days) and a scan (forced by a zone of offset 0) give one answer."""
    utc0 = reader.get_timezone("Etc/GMT")  # not the UTC object: forces a scan
    for since, until in ((None, None), ("2026-11-21", None), ("2026-11-21", "2026-11-21"),
                         (None, "2026-11-20")):  # fmt: skip
        from_stats, scanned = reader.ReadReport(), reader.ReadReport()
        a = reader.aggregate(mixed_dir, since, until, report=from_stats)
        b = reader.aggregate(mixed_dir, since, until, tz=utc0, report=scanned)
        assert a.totals() == b.totals()
        assert from_stats.bad_lines == scanned.bad_lines
    only_21 = reader.ReadReport()
    agg = reader.aggregate(mixed_dir, "2026-11-21", "2026-11-21", report=only_21)
    # 3 good + the naive line; bad: garbage, "yes", other day, no instant, day before
    assert (agg.totals()["total_requests"], agg.totals()["total_prompt_tokens"]) == (4, 1006)
    assert only_21.bad_lines == 5
    everything = reader.ReadReport()
    assert reader.aggregate(mixed_dir, report=everything).totals()["total_requests"] == 9
    assert everything.bad_lines == 4 + 5 + 5


def test_an_event_is_on_the_day_of_its_ts_and_bad_lines_count_once_in_any_zone(
    mixed_dir: Path,
) -> None:
    """Days of another zone split the bad lines without counting any twice or never."""
    kolkata = reader.get_timezone("Asia/Kolkata")
    total = 0
    for day in ("2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"):
        report = reader.ReadReport()
        reader.aggregate(mixed_dir, day, day, tz=kolkata, report=report)
        total += report.bad_lines
    assert total == 14
    days = reader.aggregate(mixed_dir, tz=kolkata).by("day")
    # 23:30 UTC is 05:00 the next day in Kolkata; 12:00 UTC is 17:30 the same day
    assert {d: r["total_requests"] for d, r in days.items()} == {
        "2026-11-20": 1, "2026-11-21": 3, "2026-11-22": 4, "2026-11-23": 1,
    }  # fmt: skip


def test_recent_judges_lines_as_the_scan_does(mixed_dir: Path) -> None:
    forward, backward = reader.ReadReport(), reader.ReadReport()
    events = list(reader.iter_events(mixed_dir, report=forward))
    assert list(reader.iter_recent(mixed_dir, report=backward)) == events[::-1]
    assert forward.bad_lines == backward.bad_lines == 14
    assert backward.samples[0] == (
        "tokens_2026-11-22.jsonl byte 1318: ts '2026-11-22T01:00:00+05:00' is not in the"
        " file's UTC day"
    )


def test_forward_blocks_stay_bounded_and_a_long_line_is_gathered_whole(tmp_path: Path) -> None:
    path = tmp_path / "tokens_2026-11-21.jsonl"
    short = line() * ((3 * BLOCK) // len(line()))
    long = b'{"x":"' + b"a" * (2 * BLOCK) + b'"}\n'
    path.write_bytes(short + long + short + b'{"torn')
    blocks = ForwardBlocks(path)
    sizes = [len(b) for b in blocks]
    assert sum(sizes) == len(short) * 2 + len(long)
    assert max(sizes) <= BLOCK + len(long)  # one block plus the longest line
    assert sorted(sizes)[-2] <= BLOCK + len(line())  # a block plus a line begun before it
    assert (blocks.end, blocks.unfinished) == (sum(sizes), len(b'{"torn'))


def test_backward_lines_are_linear_in_line_length(tmp_path: Path) -> None:
    """A 16 MiB line read backwards in 4 KiB blocks: gathering by concatenation would copy
    terabytes and hit the test's timeout; pieces joined once copy it twice."""
    path = tmp_path / "tokens_2026-11-21.jsonl"
    long = b"b" * (16 << 20)
    path.write_bytes(b"first\n" + long + b"\nlast\n")
    got = list(BackwardLines(path, block=4096))
    assert [(off, len(text)) for off, text in got] == [(len(long) + 7, 4), (6, len(long)), (0, 5)]
    assert got[1][1] == long


def test_recent_waits_for_an_append_under_way_instead_of_calling_it_torn(
    tmp_path: Path,
) -> None:
    """A writer holds the file's lock while appending; recent reads the size under the lock,
    so it never sees half a line of a healthy writer."""
    path = tmp_path / "tokens_2026-11-21.jsonl"
    path.write_bytes(line(prompt_tokens=1))
    second = line(prompt_tokens=2)
    found: list[list[int]] = []
    report = reader.ReadReport()
    with path.open("ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(second[:20])
        f.flush()
        reading = threading.Thread(
            target=lambda: found.append(
                [e["prompt_tokens"] for e in reader.iter_recent(tmp_path, report=report)]
            )
        )
        reading.start()
        reading.join(0.2)
        assert reading.is_alive()  # waiting for the append to end
        f.write(second[20:])
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)
    reading.join(5)
    assert found == [[2, 1]]
    assert (report.bad_lines, report.unfinished) == (0, [])


def test_impossible_dates_in_file_names_are_no_days(
    fixture_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("tokens_2026-13-45.jsonl", "tokens_2026-02-30.jsonl"):
        (fixture_dir / name).write_bytes(line(ts="2026-02-28T10:00:00+00:00"))
    assert cli.main(["daily", "--log-dir", str(fixture_dir), "--json"]) == 0
    out, err = capsys.readouterr()
    assert list(orjson.loads(out)["rows"]) == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert err == (
        "asynctokens: warning: ignored tokens_2026-02-30.jsonl, tokens_2026-13-45.jsonl: no"
        " such date; daily files are named tokens_YYYY-MM-DD.jsonl\n"
    )


@pytest.mark.parametrize(
    ("args", "requests"),
    [
        (["--until", "9999-12-31"], 6),
        (["--since", "0001-01-01", "--timezone", "Etc/GMT-14"], 6),
        (["--since", "0001-01-01", "--until", "9999-12-31", "--timezone", "Etc/GMT+12"], 6),
        (["--until", "20261121"], 5),  # the compact form is a whole day, as 2026-11-21 is
        (["--until", "2026-11-21"], 5),
        (["--since", "2026-W47-6", "--until", "2026-W47-6"], 2),  # ISO week date: Sat 21st
    ],
)
def test_every_date_input_gives_a_report(
    fixture_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], requests: int
) -> None:
    assert cli.main(["summary", "--log-dir", str(fixture_dir), "--json", *args]) == 0
    out, err = capsys.readouterr()
    assert (orjson.loads(out)["totals"]["total_requests"], err) == (requests, "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-11-22", "--until", "2026-11-21"], "must be before --until"),
        (["--since", "10000-01-01"], "bad date '10000-01-01'"),
        (["--until", "2026-11-21T25:00"], "bad date '2026-11-21T25:00'"),
        (["--since", "0000-12-31"], "bad date '0000-12-31'"),
    ],
)
def test_a_bad_date_is_one_line_and_exit_2(
    fixture_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli.main(["daily", "--log-dir", str(fixture_dir), *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("asynctokens: error: ") and message in err
    assert err.count("\n") == 1


def test_an_instant_at_the_edge_of_the_calendar_is_read(tmp_path: Path) -> None:
    (tmp_path / "tokens_0001-01-01.jsonl").write_bytes(line(ts="0001-01-01T00:00:00+00:00"))
    far_west = reader.get_timezone("Etc/GMT+12")
    days = reader.aggregate(tmp_path, tz=far_west).by("day")
    assert {d: r["total_requests"] for d, r in days.items()} == {"0001-01-01": 1}
    assert reader.time_range(dt.date(1, 1, 1), None, far_west).start == dt.datetime(
        1, 1, 1, 12, tzinfo=dt.UTC
    )
