"""Which months a report by a label takes from their totals files (``_totals``), and
adding them: by month where it groups days by month or not at all, by day where each hour
of a day lies in the same day of its zone (UTC, or any zone at offset 0 then).

Only where the answer is the hours' exactly: every day the report takes from the month
lies whole in its range and in one day of its zone; by month, the range holds the month
whole and each entry's price is one over its days (``OnePrice``); by day, no model of the
month is priced by time of day. Else the caller takes the month from its hours.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

from asynctokens.record._dims import parse_dims
from asynctokens.record._range import UTC, TimeRange
from asynctokens.stats._fold import Aggregate, add_into
from asynctokens.stats._month import days_in
from asynctokens.stats._periods import Periods
from asynctokens.stats._store import Snapshot
from asynctokens.stats._totals import MonthTotals

#: Whether (provider, served model, tier) is priced alike on every UTC day from the first
#: date to the last (``pricing.one_price``).
OnePrice = Callable[[str, str, str | None, _dt.date, _dt.date], bool]
#: UTC hour text -> None outside the range, else (its day in the zone, whether it lies
#: whole in the range and in one day of the zone): ``_plan._Hours``.
Place = Callable[[str], tuple[str, bool] | None]


def whole_month(
    month: str,
    with_calls: set[str],
    utc_days: set[str],
    rng: TimeRange,
    by_month: bool,
    place: Place,
) -> bool:
    """Whether the report takes each UTC day of ``month`` with calls from the stats, its
    range holds the month whole, and (``by_month``) each hour of the month lies in the
    zone's same month (the zone's days of its first and last hours are in it)."""
    if not with_calls <= utc_days:
        return False
    start = _dt.datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=UTC)
    end = (start + _dt.timedelta(days=32)).replace(day=1)
    if (rng.start is not None and rng.start > start) or (rng.end is not None and rng.end < end):
        return False
    if not by_month:
        return True
    last = end - _dt.timedelta(hours=1)
    return all(
        (placed := place(at.strftime("%Y-%m-%dT%H"))) is not None and placed[0][:7] == month
        for at in (start, last)
    )


def utc_days_whole(with_calls: set[str], utc_days: set[str], place: Place) -> bool:
    """Whether each UTC day with calls (``with_calls``, of one month) that the report takes
    from the stats lies whole in its range, and each of its hours in the same day of the
    zone."""
    for day in with_calls & utc_days:
        for hour in range(24):
            text = f"{day}T{hour:02d}"
            placed = place(text)
            if placed is None or not placed[1] or placed[0] != day:
                return False
    return True


def add_by_month(totals: MonthTotals, month: str, agg: Aggregate, one_price: OnePrice) -> bool:
    """Add each entry to ``agg`` as one cell of its last day with calls (its day and its
    price day), if every entry is priced alike on each of its days; else add none: False."""
    entries = totals.entries
    for (api, model, _, _, dims), first, last, _ in entries:
        served = parse_dims(dims)
        start = _dt.date(int(month[:4]), int(month[5:7]), first)
        end = start.replace(day=last)
        if not one_price(api, served.response_model or model, served.service_tier, start, end):
            return False
    cells = agg.cells
    for (api, model, band, host, dims), _, last, counts in entries:
        day = f"{month}-{last:02d}"
        add_into(cells, (day, api, model, band, day, host, dims), counts)
    return True


def add_by_day(
    totals: MonthTotals,
    month: str,
    agg: Aggregate,
    days: set[str],
    cuts: Callable[[str, str], tuple[int, ...]] | None,
) -> bool:
    """Add each entry's counts of each of ``days`` to ``agg`` as a cell of that day (its day
    and its price day), unless a model of the month is priced by time of day (``cuts``: its
    cells are kept apart by part of the day, which only the hours have): False."""
    entries = totals.entries
    if cuts is not None and any(cuts(api, model) for (api, model, *_), *_ in entries):
        return False
    cells = agg.cells
    texts = [f"{month}-{d:02d}" for d in range(days_in(month) + 1)]
    by_day = totals.days()
    if by_day is None:
        return False
    for ((api, model, band, host, dims), first, _, _), columns in zip(entries, by_day, strict=True):
        for i, counts in enumerate(zip(*columns, strict=True)):
            day = texts[first + i]
            if day in days and any(counts):
                add_into(cells, (day, api, model, band, day, host, dims), counts)
    return True


def totals_adder(
    month: str,
    snap: Snapshot,
    utc_days: set[str],
    rng: TimeRange,
    hours: Place,
    agg: Aggregate,
    period: str,
    one_price: OnePrice | None,
    periods: Periods | None,
    labels: frozenset[str] | None,
) -> Callable[[MonthTotals], bool] | None:
    """How a report by a label adds ``month`` from its totals (by month, else by day), or
    None when it must take the month from the hours."""
    rows = snap.rows.get(month)
    if one_price is None or labels == frozenset() or rows is None:
        return None  # a report by no label: the month file's hours are fewer
    with_calls = set(rows.get("day", {}))
    if period != "day" and whole_month(month, with_calls, utc_days, rng, period == "month", hours):
        return lambda totals: add_by_month(totals, month, agg, one_price)
    if utc_days_whole(with_calls, utc_days, hours):
        cuts = None if periods is None else periods.cuts
        return lambda totals: add_by_day(totals, month, agg, with_calls & utc_days, cuts)
    return None
