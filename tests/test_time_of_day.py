"""A price that changes with the time of day (DeepSeek's off-peak hours) is exact in every
report, from the stats as from the lines.

genai-prices' deepseek-chat costs $0.27 / $1.10 per million from 00:30 to 16:30 UTC and half
that otherwise: the stats split an hour at its 30th minute with their early counters, so a
day of any zone is priced call by call without reading a line, whether the cut hours come
from the stats files, from lines caught up in memory, or (no quarters file) from the lines
of just those hours. Each report is checked against the sum of each call's own cost.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import lines_by_day, read_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynctokens import TokenTracker, reader, summary
from asynctokens.pricing import PriceBook

START = dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
ZONES = ("UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Australia/Eucla")
CHANGES = (30, 990)  # deepseek-chat's price changes at 00:30 and 16:30 UTC


def _log_calls(log_dir: Path, host: str, seed: int, n: int) -> None:
    rng = random.Random(seed)
    tracker = TokenTracker(log_dir, host=host)
    for _ in range(n):
        day = rng.randrange(3)
        minutes = rng.choice(
            [rng.uniform(0, 3 * 1440), day * 1440 + rng.choice(CHANGES) + rng.uniform(-40, 40)]
        )
        api, model = rng.choice([("deepseek", "deepseek-chat")] * 3 + [("openai", "gpt-4o")])
        prompt = rng.randrange(1_000, 200_000)
        ts = START + dt.timedelta(minutes=max(minutes, 0))
        tracker.log(prompt, rng.randrange(1, 5_000), api, model, cached_tokens=prompt // 3,
                    success=rng.random() > 0.1, ts=ts)  # fmt: skip
    assert tracker.close()


@pytest.fixture(scope="module")
def fleets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Two hosts' directories as the writer leaves them; the same without quarters files;
    the same with lines appended after their stats were written (caught up in memory)."""
    stats = []
    for seed, host in enumerate(("a", "b")):
        log_dir = tmp_path_factory.mktemp(host) / "logs"
        _log_calls(log_dir, host, seed, 300)
        stats.append(log_dir)
    no_quarters, caught_up = [], []
    for log_dir in stats:
        copy = tmp_path_factory.mktemp("no-quarters") / "logs"
        shutil.copytree(log_dir, copy)
        for path in copy.glob("token_stats_*.quarters"):
            path.unlink()
        no_quarters.append(copy)
        copy = tmp_path_factory.mktemp("caught-up") / "logs"
        shutil.copytree(log_dir, copy)
        more = tmp_path_factory.mktemp("more") / "logs"
        _log_calls(more, "c", 99, 150)
        for daily in more.glob("tokens_*.jsonl"):
            with (copy / daily.name).open("ab") as f:
                f.write(daily.read_bytes())
        caught_up.append(copy)
    return {"stats": stats, "no-quarters": no_quarters, "caught-up": caught_up}


def expected_costs(
    dirs: list[Path], tz: ZoneInfo, since: dt.datetime | None, until: dt.datetime | None
) -> dict[str, float]:
    """Each call at the price in force at its own instant, summed by day of ``tz``."""
    book = PriceBook()
    out: dict[str, float] = {}
    for day, line in lines_by_day(dirs, tz, since, until):
        cost = book.event_cost(line)
        assert cost is not None
        out[day] = out.get(day, 0.0) + cost
    return out


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    zone=st.sampled_from(ZONES),
    fleet=st.sampled_from(("stats", "no-quarters", "caught-up")),
    since=st.one_of(st.none(), st.integers(0, 3 * 96).map((15).__mul__)),
    length=st.one_of(st.none(), st.integers(1, 3 * 96).map((15).__mul__)),
)
def test_every_daily_report_prices_each_call_at_its_time_of_day(
    fleets: dict[str, list[Path]], zone: str, fleet: str, since: int | None, length: int | None
) -> None:
    dirs = fleets[fleet]
    lo = None if since is None else START + dt.timedelta(minutes=since)
    hi = None if length is None else (lo or START) + dt.timedelta(minutes=length)
    query = summary.Query(log_dir=dirs, since=lo, until=hi, timezone=zone)
    report = summary.breakdown(query, "day")
    got = {day: row["cost_usd"] for day, row in report["rows"].items()}
    expected = expected_costs(dirs, ZoneInfo(zone), lo, hi)
    assert got == pytest.approx(expected, rel=0, abs=5.1e-7)  # reports round to 6 places
    assert report["upper_bound_models"] == []


def test_the_stats_answer_without_reading_a_line(fleets: dict[str, list[Path]]) -> None:
    book = PriceBook()
    for zone in ("UTC", "Asia/Kolkata"):
        read = reader.ReadReport()
        agg = reader.aggregate(fleets["stats"], tz=reader.get_timezone(zone), report=read,
                               by_date=book.by_date, cuts=book.cuts)  # fmt: skip
        assert read.lines_read == 0
        periods = {k[4] for k in agg.cells if k[2] == "deepseek-chat"}
        # each UTC day's three parts: before 00:30, to 16:30, after
        assert periods == {f"2026-11-{d}T{t}" for d in (19, 20, 21)
                           for t in ("00:00", "00:30", "16:30")}  # fmt: skip
        assert {k[4] for k in agg.cells if k[2] == "gpt-4o"} <= {"2026-11-19", "2026-11-20",
                                                                  "2026-11-21"}  # fmt: skip
    read = reader.ReadReport()
    reader.aggregate(fleets["no-quarters"], report=read, by_date=book.by_date, cuts=book.cuts)
    lines = sum(len(read_lines(d)) for d in fleets["no-quarters"])
    assert 0 < read.lines_read < lines  # the hours a price changes inside, and only those
