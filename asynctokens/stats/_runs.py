"""Runs of hours: the stretches of a month's hours a report takes as one sum per key.

A report places each UTC hour of a month in one of its days (or cuts it into pieces at its
15th and 30th minutes, ``_plan``); consecutive hours and pieces of one day (and one price
day) make a run, summed from each key's columns as slices, in C (``Snapshot.add_hours``).
"""

from __future__ import annotations

from typing import Any

#: An hour's pieces: ``(day in the report or None, from, to)``, from and to in (the hour's
#: start, its 15th minute, its 30th, its end) as 0 to 3.
Pieces = list[tuple[str | None, int, int]]


def runs_of(
    hours: list[str],
    in_pieces: list[Pieces | None],
    *,
    by_utc_day: bool,
) -> list[list[Any]]:
    """Runs of hours and pieces of hours in one day of the report (and one UTC day, if
    ``by_utc_day``): ``[day, UTC day, lo, hi]`` from position ``lo`` to ``hi``, a position
    being (hour, part): part 0 the hour's start, 1 its 15th minute, 2 its 30th."""
    runs: list[list[Any]] = []
    last: list[Any] | None = None
    for i, (hour, here) in enumerate(zip(hours, in_pieces, strict=True)):
        utc = hour[:10]
        for local, a, b in here or ((None, 0, 3),):
            if local is None:
                last = None
                continue
            lo, hi = (i, a), ((i + 1, 0) if b == 3 else (i, b))
            if (
                last is not None
                and last[0] == local
                and last[3] == lo
                and (not by_utc_day or last[1] == utc)
            ):
                last[3] = hi
            else:
                last = [local, utc, lo, hi]
                runs.append(last)
    return runs


def whole_hours(runs: list[list[Any]]) -> dict[int, tuple[str, str]]:
    """Each hour index that lies whole in one of ``runs``: its run's (day, price day)."""
    out: dict[int, tuple[str, str]] = {}
    for local, utc, lo, hi in runs:
        for i in range(lo[0] + (lo[1] > 0), hi[0]):
            out[i] = (local, utc)
    return out


def runs_within(runs: list[list[Any]], start: int, end: int) -> tuple[list[list[Any]], list[slice]]:
    """The runs that hold hours of ``[start, end)``, and the slice of those whole hours
    in columns that begin at ``start``."""
    within = [r for r in runs if r[2][0] < end and r[3][0] + (r[3][1] > 0) > start]
    slices = [slice(max(lo[0], start) - start, min(hi[0], end) - start) for _, _, lo, hi in within]
    return within, slices


def merged_pieces(days: list[str | None]) -> Pieces:
    """An hour's three pieces' days as ``(day, a, b)``: from ``a`` to ``b`` in (the hour's
    start, its 15th minute, its 30th, its end), neighbouring pieces of one day as one."""
    bounds = (0, 1, 2, 3)
    merged: Pieces = []
    for k, day in enumerate(days):
        if merged and merged[-1][0] == day:
            merged[-1] = (day, merged[-1][1], bounds[k + 1])
        else:
            merged.append((day, bounds[k], bounds[k + 1]))
    return merged
