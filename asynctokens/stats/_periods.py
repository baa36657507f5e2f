"""Prices that change with the time of day (DeepSeek's off-peak hours): the part of the
day each request falls in, and the stats' hours split where such a price changes.

A report keeps such a model's cells apart by part of the UTC day, its ``price_day`` the
instant the part begins (``YYYY-MM-DDTHH:MM``), so each cell holds requests of one price and
``PriceBook.cell_rates`` prices it exactly. An hour a change falls inside is split at its
15th or 30th minute by the stats' early counters (``_fold.by_hour``); without them its lines
decide.
"""

from __future__ import annotations

import datetime as _dt
from bisect import bisect_right
from collections.abc import Callable, Sequence
from operator import sub
from typing import Any

from asynctokens.stats._fold import WIDTH, Aggregate, CellKey, add_into
from asynctokens.stats._month import StaleStats
from asynctokens.stats._runs import Pieces


def price_period(utc_day: str, minute: int, cuts: tuple[int, ...]) -> str:
    """The price key of a request made ``minute`` minutes into ``utc_day`` of a model
    whose price may change at the minutes of the day ``cuts`` (ascending, after 00:00): the
    instant the part of the day it falls in begins, ``YYYY-MM-DDTHH:MM``. Requests of one
    part share a price, so a cell of them is priced exactly (``PriceBook.cell_rates``)."""
    start = cuts[bisect_right(cuts, minute) - 1] if minute >= cuts[0] else 0
    return f"{utc_day}T{start // 60:02d}:{start % 60:02d}"


def cut_parts(hour: str, cuts: tuple[int, ...]) -> tuple[int, ...]:
    """The parts of UTC ``hour`` (``YYYY-MM-DDTHH``) at whose start a price cut falls
    inside it: 1 for its 15th minute, 2 for its 30th (``PriceBook.cuts`` has no others)."""
    h = int(hour[11:13]) * 60
    return tuple((m - h) // 15 for m in cuts if h < m < h + 60)


def piece_period(hour: str, part: int, cuts: tuple[int, ...]) -> str:
    """``price_period`` of the piece of UTC ``hour`` that begins at ``part`` (0, 1, 2)."""
    return price_period(hour[:10], int(hour[11:13]) * 60 + part * 15, cuts)


def split_pieces(pieces: Sequence[tuple[str | None, int, int]], at: tuple[int, ...]) -> Pieces:
    """An hour's pieces ``(day, a, b)`` cut again at the parts ``at``."""
    out: Pieces = []
    for day, a, b in pieces:
        for p in at:
            if a < p < b:
                out.append((day, a, p))
                a = p
        out.append((day, a, b))
    return out


class Periods:
    """Which price key each request takes: its UTC day, or for a model priced by time of
    day (``cuts`` gives the minutes of the day its price changes at, () for the others)
    the part of the day it falls in (``price_period``). One per report: a model's cuts
    are looked up once."""

    __slots__ = ("_cuts", "_known")

    def __init__(self, cuts: Callable[[str, str], tuple[int, ...]]) -> None:
        self._cuts = cuts
        self._known: dict[tuple[str, str], tuple[int, ...]] = {}

    def cuts(self, api_type: str, model: str) -> tuple[int, ...]:
        found = self._known.get((api_type, model))
        if found is None:
            found = self._known[api_type, model] = self._cuts(api_type, model)
        return found

    def key(self, api_type: str, model: str, utc_day: str, instant: _dt.datetime) -> str:
        """The price key of one request made at ``instant`` (on ``utc_day``)."""
        cuts = self.cuts(api_type, model)
        if not cuts:
            return utc_day
        at = instant.astimezone(_dt.UTC)
        return price_period(utc_day, at.hour * 60 + at.minute, cuts)


def leave_to_lines(
    hours: list[str],
    placed: list[tuple[str, bool] | None],
    in_pieces: list[Pieces | None],
    cuts: tuple[int, ...],
) -> None:
    """Mark each hour of the report a time-of-day price changes inside as cut (None in
    ``in_pieces``), for a month without early counters to split it: the hour's lines then
    decide, for every key, as for an hour a zone's day begins inside."""
    for i, hour in enumerate(hours):
        if placed[i] is not None and cut_parts(hour, cuts):
            in_pieces[i] = None


def add_by_period(
    agg: Aggregate,
    day: str,
    key: CellKey,
    counts: list[int],
    early: list[int] | None,
    cuts: tuple[int, ...],
) -> None:
    """Add an hourly cell of a model priced by time of day to ``day``, split at a price
    change inside its hour by its early counters (``_add_cells`` leaves an hour without
    them to its lines)."""
    hour, (api, model, band, _, host, dims) = key[0], key[1:]
    at = cut_parts(hour, cuts)
    first = early if at and early is not None else [0] * (2 * WIDTH)
    upto = ([0] * WIDTH, first[:WIDTH], first[WIDTH:], counts)
    for _, a, b in split_pieces([(day, 0, 3)], at):
        part = list(map(sub, upto[b], upto[a]))
        if min(part) < 0:
            raise StaleStats(hour[:7])
        if part[0]:
            add_into(
                agg.cells, (day, api, model, band, piece_period(hour, a, cuts), host, dims), part
            )


def period_runs(
    hours: list[str],
    in_pieces: list[Pieces | None],
    cuts: tuple[int, ...],
) -> list[list[Any]]:
    """``_runs.runs_of`` for a model priced by time of day: each run within one part of a
    UTC day (``price_period``), the pieces of an hour a cut falls inside split there (by its
    early counters: ``add_hours`` leaves an hour without them to its lines)."""
    runs: list[list[Any]] = []
    last: list[Any] | None = None
    for i, (hour, here) in enumerate(zip(hours, in_pieces, strict=True)):
        for local, a, b in split_pieces(here or ((None, 0, 3),), cut_parts(hour, cuts)):
            if local is None:
                last = None
                continue
            period = piece_period(hour, a, cuts)
            lo, hi = (i, a), ((i + 1, 0) if b == 3 else (i, b))
            if last is not None and last[0] == local and last[1] == period and last[3] == lo:
                last[3] = hi
            else:
                last = [local, period, lo, hi]
                runs.append(last)
    return runs
