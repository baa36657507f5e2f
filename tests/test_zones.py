"""Days of any zone and ranges ending anywhere, from the hourly stats, equal the lines.

Random calls (logged out of time order, around hour turns, on two hosts' directories) and a
few lines of other layouts; every report must equal what the lines say, whichever zone and
range it asks for: the stats path with its cut hours is checked against an independent fold
of the lines with the stdlib.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asynctokens import TokenTracker, reader
from tests.conftest import lines_by_day, read_lines

START = dt.datetime(2026, 3, 27, 12, tzinfo=dt.UTC)  # days either side of Lisbon's DST change
ZONES = ("UTC", "Europe/Lisbon", "America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Eucla", "Pacific/Chatham", "Pacific/Kiritimati",
         "Pacific/Pago_Pago")  # fmt: skip


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    rng = random.Random(13)
    dirs = []
    for host in ("a", "b"):
        log_dir = tmp_path_factory.mktemp(host) / "logs"
        tracker = TokenTracker(log_dir, host=host, batch_size=rng.choice([7, 50, 2000]))
        for _ in range(400):
            minutes = rng.choice(
                [rng.uniform(0, 3 * 1440), 60 * rng.randrange(72) + rng.uniform(-2, 2)]
            )
            ts = START + dt.timedelta(minutes=max(minutes, 0))
            prompt = rng.choice([100, 5_000, 40_000, 150_000])
            tracker.log(prompt, rng.randrange(1, 500), "openai", rng.choice(["gpt-4o", "o3"]),
                        success=rng.random() > 0.1, cached_tokens=prompt // 4, ts=ts)  # fmt: skip
        assert tracker.close()
        # lines another writer might leave: another offset, ts first, a second "ts"
        day_file = log_dir / "tokens_2026-03-28.jsonl"
        base = read_lines(log_dir)[0]
        extra = [
            {"ts": "2026-03-28T18:05:00+00:00", "event_id": f"{host}-x1"},
            {"event_id": f"{host}-x2", "ts": "2026-03-29T00:20:00+05:30"},
            {
                "event_id": f"{host}-x3",
                "ts": "2026-03-28T18:45:00.000000+00:00",
                "metadata": {"ts": "2026-03-28T18:01:00.000000+00:00"},
            },
        ]
        with day_file.open("ab") as f:
            for fields in extra:  # these fields first, then the rest of a real line
                rest = {k: v for k, v in base.items() if k not in fields}
                f.write(orjson.dumps({**fields, **rest}) + b"\n")
        # one more call, so a writer's stats update folds those lines into the stats files
        tracker = TokenTracker(log_dir, host=host)
        tracker.log(10, 1, "openai", "gpt-4o", ts=START + dt.timedelta(hours=40, minutes=31))
        assert tracker.close()
        dirs.append(log_dir)
    kolkata = reader.ReadReport()
    reader.aggregate(dirs, tz=reader.get_timezone("Asia/Kolkata"), report=kolkata)
    assert kolkata.lines_read == 0  # every cut hour from its early counters
    return dirs


@pytest.fixture(scope="module")
def fleet_without_quarters(
    fleet: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> list[Path]:
    """The same directories with no quarters files: cut hours are read from their lines."""
    dirs = []
    for log_dir in fleet:
        copy = tmp_path_factory.mktemp("spans") / log_dir.parent.name / "logs"
        shutil.copytree(log_dir, copy)
        for path in copy.glob("token_stats_*.quarters"):
            path.unlink()
        dirs.append(copy)
    kolkata = reader.ReadReport()
    reader.aggregate(dirs, tz=reader.get_timezone("Asia/Kolkata"), report=kolkata)
    assert kolkata.lines_read > 0  # the cut hours from their lines
    return dirs


def expected_days(dirs: list[Path], tz: ZoneInfo, since: dt.datetime | None,
                  until: dt.datetime | None) -> dict[str, tuple[int, int]]:  # fmt: skip
    out: dict[str, tuple[int, int]] = {}
    for day, line in lines_by_day(dirs, tz, since, until):
        requests, tokens = out.get(day, (0, 0))
        out[day] = (requests + 1, tokens + line["prompt_tokens"] + line["completion_tokens"])
    return out


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    zone=st.sampled_from(ZONES),
    # any minute, or a quarter hour (a range end the early counters can answer)
    since=st.one_of(st.none(), st.integers(0, 3 * 1440), st.integers(0, 3 * 96).map((15).__mul__)),
    length=st.one_of(st.none(), st.integers(1, 3 * 1440), st.integers(1, 3 * 96).map((15).__mul__)),
    quarters=st.booleans(),
    by_date=st.booleans(),
)
# found by the search: lines out of time order gave the cut hours overlapping spans, read
# once for each hour (871 lines read of 808); now read once
@example(zone="Australia/Eucla", since=1, length=3180, quarters=False, by_date=False)
def test_any_zone_and_range_from_the_stats_equal_the_lines(
    fleet: list[Path],
    fleet_without_quarters: list[Path],
    zone: str,
    since: int | None,
    length: int | None,
    quarters: bool,
    by_date: bool,
) -> None:
    """Exact, whichever way each cut hour is answered (its early counters, or its lines),
    and whether a model's days are kept apart by UTC day (o3's, when ``by_date``) or not."""
    fleet = fleet if quarters else fleet_without_quarters
    tz = ZoneInfo(zone)
    lo = None if since is None else START + dt.timedelta(minutes=since)
    hi = None if length is None else (lo or START) + dt.timedelta(minutes=length)
    report = reader.ReadReport()
    split = (lambda api, model: model == "o3") if by_date else None
    agg = reader.aggregate(
        fleet, lo, hi, tz=reader.get_timezone(zone), report=report, by_date=split
    )
    days = agg.by("day")
    got = {d: (r["total_requests"], r["total_tokens"]) for d, r in days.items()}
    assert got == expected_days(fleet, tz, lo, hi)
    assert report.lines_read < sum(len(read_lines(d)) for d in fleet)  # never a whole scan


def test_a_zone_whose_offset_has_seconds_begins_its_day_on_the_second(tmp_path: Path) -> None:
    """Africa/Monrovia was -0:44:30 until 1972: its 1971-06-01 began at 00:44:30 UTC. Calls
    each second around that instant count in the day the stdlib gives them, from the stats
    (the cut hour's lines judged one by one) and from a scan alike."""
    zone = ZoneInfo("Africa/Monrovia")
    boundary = dt.datetime(1971, 6, 1, 0, 44, 30, tzinfo=dt.UTC)
    assert boundary.astimezone(zone).time() == dt.time(0, 0)
    tracker = TokenTracker(tmp_path / "logs")
    instants = [boundary + dt.timedelta(seconds=s) for s in range(-5, 5)]
    instants += [boundary + dt.timedelta(minutes=m) for m in (-30, -1, 1, 30)]
    for at in instants:
        tracker.log(10, 1, "openai", "gpt-4o", ts=at)
    assert tracker.close() is True
    expected: dict[str, int] = {}
    for at in instants:
        day = at.astimezone(zone).date().isoformat()
        expected[day] = expected.get(day, 0) + 1
    assert expected == {"1971-05-31": 7, "1971-06-01": 7}
    for bands in ((), (1,)):  # from the stats, and (another prompt band) a scan
        agg = reader.aggregate(tmp_path / "logs", tz=zone, **({"bands": bands} if bands else {}))
        assert {d: r["total_requests"] for d, r in agg.by("day").items()} == expected
