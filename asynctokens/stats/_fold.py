"""The aggregate of token events: a pure fold, no I/O.

The finest grain kept is a *cell* per (period, api_type, model, prompt band, price day,
host, dims), where ``dims`` is the text of the served model, service tier and labels its
lines share (``record._dims``: "" for lines with none). The period is a UTC hour
(``YYYY-MM-DDTHH``) in the writer's fold and the stats files, so a day of any whole-hour
time zone is a sum of cells, and a day (of ``tz``) in a report.
Totals and the ``by_model``/``by_api``/``by_day``/``by_host`` views are sums of cells (an
hour counts in its day), so two aggregates merge by adding cells, and a report filtered by
day, model, provider or host can be answered from the cells alone. The writer folds what it
writes; the reader folds what it reads; both use this module, which is how "stats are exact
sums of the lines" stays true.

Two parts of the key exist for pricing, which must stay exact from the cells alone:

* the *prompt band*: providers bill a whole request at a higher rate once its prompt passes a
  threshold (200k tokens for gemini-2.5-pro), so a cell holds only requests on the same side
  of every threshold in ``bands``; the band is how many thresholds the prompt exceeds.
* the *price day*: the UTC day whose prices apply: the hour's day in the stats; a report by
  days of another time zone keeps the UTC day apart, so an event is priced at the price in
  force at its own instant. A model whose price changes at a time of day (DeepSeek's
  off-peak hours) is kept apart by part of that day instead (``_periods``): the stats
  split an hour at its 15th or 30th minute with its early counters, so such a price is
  exact from the stats too.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from operator import add
from typing import Any, Final

from asynctokens.record._dims import dim_value, dims_text, parse_dims
from asynctokens.record._format import PROMPT_BANDS

#: Counters kept per cell, in storage order.
REQUESTS, SUCCESSES, PROMPT, COMPLETION, CACHED, CACHE_WRITE, REASONING, CACHE_WRITE_1H = range(8)
#: How many counters a cell keeps.
WIDTH: Final = 8
#: Where a line's counters go in its hour's early counters (see ``by_hour``): a line of the
#: first 15 minutes counts in both halves, one of the next 15 in the second alone.
_FIRST_15_AND_30: Final = (0, WIDTH)
_FIRST_30: Final = (WIDTH,)
#: (day, api_type, model, band, price day, host, dims)
CellKey = tuple[str, str, str, int, str, str, str]

#: The counter names of every row in a summary, totals and breakdowns alike.
COUNTER_NAMES: Final = (
    "total_prompt_tokens",
    "total_completion_tokens",
    "total_tokens",
    "total_cached_tokens",
    "total_cache_write_tokens",
    "total_cache_write_1h_tokens",
    "total_reasoning_tokens",
    "total_requests",
    "successful_requests",
    "failed_requests",
    "success_rate",
)


def band_of(prompt: int, bands: tuple[int, ...] = PROMPT_BANDS) -> int:
    """How many of the ascending thresholds ``bands`` the prompt exceeds (``prompt > t``)."""
    return bisect_left(bands, prompt)


class Aggregate:
    """Counters per cell (see the module docstring), and how many bad lines were skipped."""

    __slots__ = ("bands", "cells", "early", "invalid")

    def __init__(self, bands: tuple[int, ...] = PROMPT_BANDS) -> None:
        self.bands = bands
        self.cells: dict[CellKey, list[int]] = {}
        #: Stats only (see :func:`by_hour`): per hour cell, the counters of its lines in the
        #: hour's first 15 minutes, then in its first 30 (``2 * WIDTH`` values).
        self.early: dict[CellKey, list[int]] = {}
        #: Bad lines per UTC day of the file holding them: a report over some days counts
        #: only the bad lines of those days, from the stats as from a scan.
        self.invalid: dict[str, int] = {}

    @property
    def invalid_lines(self) -> int:
        return sum(self.invalid.values())

    def add_invalid(self, day: str, lines: int = 1) -> None:
        self.invalid[day] = self.invalid.get(day, 0) + lines

    def cell(
        self,
        day: str,
        api_type: str,
        model: str,
        band: int = 0,
        price_day: str | None = None,
        host: str = "",
        dims: str = "",
    ) -> list[int]:
        """The counters of one cell, created at zero, for callers that fold in bulk.

        Indices are REQUESTS, SUCCESSES, PROMPT, COMPLETION, CACHED, CACHE_WRITE, REASONING.
        """
        key = (day, api_type, model, band, day if price_day is None else price_day, host, dims)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0] * WIDTH
        return cell

    def requests(self) -> int:
        return sum(cell[REQUESTS] for cell in self.cells.values())

    def add(
        self,
        day: str,
        api_type: str,
        model: str,
        success: bool,
        prompt: int,
        completion: int,
        cached: int,
        cache_write: int,
        reasoning: int,
        cache_write_1h: int = 0,
        host: str = "",
        dims: str = "",
        price_day: str | None = None,
    ) -> None:
        band = bisect_left(self.bands, prompt)
        key = (day, api_type, model, band, day if price_day is None else price_day, host, dims)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0] * WIDTH
        cell[REQUESTS] += 1
        if success:
            cell[SUCCESSES] += 1
        cell[PROMPT] += prompt
        cell[COMPLETION] += completion
        cell[CACHED] += cached
        cell[CACHE_WRITE] += cache_write
        cell[REASONING] += reasoning
        if cache_write_1h:
            cell[CACHE_WRITE_1H] += cache_write_1h

    def add_in_hour(
        self,
        hour: str,
        minute: str,
        api_type: str,
        model: str,
        success: bool,
        prompt: int,
        completion: int,
        cached: int,
        cache_write: int,
        reasoning: int,
        cache_write_1h: int,
        host: str,
        dims: str,
        price_day: str,
    ) -> None:
        """``add`` for the stats: one line of UTC ``hour`` at ``minute`` (``MM``), into the
        hour's cell and, before :30, its ``early`` counters (see :func:`by_hour`). The
        stats fold runs this for every line it reads back."""
        band = bisect_left(self.bands, prompt)
        key = (hour, api_type, model, band, price_day, host, dims)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0] * WIDTH
            first = self.early[key] = [0] * (2 * WIDTH)
        else:
            first = self.early[key]
        cell[REQUESTS] += 1  # as in ``add``, written out: this runs for every line
        if success:
            cell[SUCCESSES] += 1
        cell[PROMPT] += prompt
        cell[COMPLETION] += completion
        cell[CACHED] += cached
        cell[CACHE_WRITE] += cache_write
        cell[REASONING] += reasoning
        if cache_write_1h:
            cell[CACHE_WRITE_1H] += cache_write_1h
        if minute < "30":  # two digits: compared as text
            for at in _FIRST_15_AND_30 if minute < "15" else _FIRST_30:
                first[at + REQUESTS] += 1
                if success:
                    first[at + SUCCESSES] += 1
                first[at + PROMPT] += prompt
                first[at + COMPLETION] += completion
                first[at + CACHED] += cached
                first[at + CACHE_WRITE] += cache_write
                first[at + REASONING] += reasoning
                first[at + CACHE_WRITE_1H] += cache_write_1h

    def merge(self, other: Aggregate, *, early: bool = True) -> None:
        """Add ``other``'s cells and bad lines (and its ``early`` counters, unless told not
        to: a writer's running totals have no use for them)."""
        if other.bands != self.bands:
            raise ValueError("cannot merge aggregates split by different prompt bands")
        for mine, theirs in (
            (self.cells, other.cells),
            (self.early, other.early if early else {}),
        ):
            for key, counts in theirs.items():
                add_into(mine, key, counts)
        for day, lines in other.invalid.items():
            self.add_invalid(day, lines)

    def __bool__(self) -> bool:
        return bool(self.cells) or bool(self.invalid)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Aggregate):
            return NotImplemented
        return (
            self.bands == other.bands
            and self.cells == other.cells
            and self.invalid == other.invalid
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def filtered(
        self,
        *,
        days: Iterable[str] | None = None,
        models: Iterable[str] | None = None,
        apis: Iterable[str] | None = None,
        hosts: Iterable[str] | None = None,
        where: Mapping[str, str] | None = None,
    ) -> Aggregate:
        """The cells whose day, model, provider and host are all among those given (None =
        any) and whose dimensions (``where``: a label key, ``response-model`` or
        ``service-tier``, see ``_dims.dim_value``) have the values given. Bad lines follow
        the days only: they have no model, provider or host."""
        day_set = None if days is None else set(days)
        model_set = None if models is None else set(models)
        api_set = None if apis is None else set(apis)
        host_set = None if hosts is None else set(hosts)
        out = Aggregate(self.bands)
        for key, counts in self.cells.items():
            day, api, model = key[0][:10], key[1], key[2]  # a day, or an hour of it
            if (
                (day_set is None or day in day_set)
                and (model_set is None or model in model_set)
                and (api_set is None or api in api_set)
                and (host_set is None or key[5] in host_set)
                and (not where or dims_match(model, key[6], where))
            ):
                out.cells[key] = list(counts)
        out.invalid = {d: n for d, n in self.invalid.items() if day_set is None or d in day_set}
        return out

    # -- views -------------------------------------------------------------------------
    def totals(self) -> dict[str, int | float]:
        return row(_sum(self.cells.values()))

    def by(self, dimension: str) -> dict[str, dict[str, int | float]]:
        """Rows keyed by ``day``, ``api``, ``model`` or ``host``, or by a dimension of the
        cells' lines (``response-model``, ``service-tier``, a label key: ``NO_LABEL`` for
        lines without it), sorted by key."""
        groups: dict[str, list[int]] = {}
        index = _INDEX.get(dimension)
        if index is None:
            for key, counts in self.cells.items():
                value = dim_value(key[2], key[6], dimension)
                add_into(groups, NO_LABEL if value is None else value, counts)
        else:
            for key, counts in self.cells.items():
                add_into(groups, str(key[index])[:10] if index == 0 else str(key[index]), counts)
        return {name: row(groups[name]) for name in sorted(groups)}

    def summary(self) -> dict[str, Any]:
        """Totals plus the three breakdowns: what ``token_stats.json`` and get_summary() show."""
        out: dict[str, Any] = dict(self.totals())
        out["by_model"] = self.by("model")
        out["by_api"] = self.by("api")
        out["by_day"] = self.by("day")
        out["by_host"] = self.by("host")
        out["invalid_lines"] = self.invalid_lines
        out["invalid_lines_by_day"] = dict(sorted(self.invalid.items()))
        return out

    # -- persistence ---------------------------------------------------------------------


#: A key's place in a cell key, for the dimensions that have one.
_INDEX: Final = {"day": 0, "api": 1, "model": 2, "host": 5}
#: The row of lines that carry no value for the label a report groups by.
NO_LABEL: Final = "(none)"


def dims_match(model: str, dims: str, where: Mapping[str, str]) -> bool:
    """Whether a cell's (or a line's) dimensions have every value ``where`` asks for."""
    return all(dim_value(model, dims, key) == value for key, value in where.items())


def add_into(table: dict[Any, list[int]], key: Any, counts: Iterable[int]) -> None:
    """Add ``counts`` to ``table[key]`` in place (a caller may hold that list: see
    ``Aggregate.cell``), or set a copy of them."""
    cell = table.get(key)
    if cell is None:
        table[key] = list(counts)
    else:
        cell[:] = map(add, cell, counts)


def by_hour(agg: Aggregate) -> Aggregate:
    """Cells per UTC quarter hour (period ``YYYY-MM-DDTHH:MM``, as the writer and the stats
    fold key them) as cells per UTC hour, each with its ``early`` counters: the lines of the
    hour's first 15 minutes, and of its first 30. A report in a zone whose days begin at
    hh:15 or hh:30 UTC (Asia/Kathmandu, Asia/Kolkata) takes both parts of such an hour from
    them instead of reading its lines."""
    out = Aggregate(agg.bands)
    cells, early = out.cells, out.early
    zeros = (0,) * WIDTH
    for (period, api, model, band, price_day, host, dims), counts in agg.cells.items():
        minute = period[14:]
        if len(period) != 16 or minute not in ("00", "15", "30", "45"):
            raise ValueError(f"not a quarter hour: {period!r}")
        key = (period[:13], api, model, band, price_day, host, dims)
        add_into(cells, key, counts)
        # the first 15 minutes' counters then the first 30's: what this quarter adds to each
        if minute == "00":
            add_into(early, key, (*counts, *counts))
        elif minute == "15":
            add_into(early, key, (*zeros, *counts))
        elif key not in early:
            early[key] = [0] * (2 * WIDTH)
    out.invalid = dict(agg.invalid)
    return out


def _sum(rows: Iterable[list[int]]) -> list[int]:
    acc = [0] * WIDTH
    for counts in rows:
        for i, v in enumerate(counts):
            acc[i] += v
    return acc


def row(c: list[int]) -> dict[str, int | float]:
    """The named counters of one row: the vocabulary of token_stats.json and every report."""
    req, ok = c[REQUESTS], c[SUCCESSES]
    return {
        "total_prompt_tokens": c[PROMPT],
        "total_completion_tokens": c[COMPLETION],
        "total_tokens": c[PROMPT] + c[COMPLETION],
        "total_cached_tokens": c[CACHED],
        "total_cache_write_tokens": c[CACHE_WRITE],
        "total_cache_write_1h_tokens": c[CACHE_WRITE_1H],
        "total_reasoning_tokens": c[REASONING],
        "total_requests": req,
        "successful_requests": ok,
        "failed_requests": req - ok,
        "success_rate": round(100.0 * ok / req, 2) if req else 0.0,
    }


#: Distinct values of one label key a month of stats keeps; the others are summed under
#: ``OTHER_LABEL`` (a report by that key says so; ``--exact`` reads the lines instead).
LABEL_VALUES_CAP: Final = 500
OTHER_LABEL: Final = "(other)"


def cap_labels(agg: Aggregate, cap: int = LABEL_VALUES_CAP) -> Aggregate:
    """``agg`` with, for each label key of more than ``cap`` values, the values outside the
    ``cap`` with the most requests (ties by value) summed as ``OTHER_LABEL``: what a month
    of stats keeps, so a label with an id's cardinality cannot grow every report's read.
    Totals and every other dimension stay exact; ``agg`` itself is returned when nothing
    is over the cap."""
    requests: dict[str, dict[str, int]] = {}
    for key, counts in agg.cells.items():
        if key[6]:
            for k, v in parse_dims(key[6]).labels.items():
                per = requests.setdefault(k, {})
                per[v] = per.get(v, 0) + counts[REQUESTS]
    kept = {
        k: set(sorted(per, key=lambda v, per=per: (-per[v], v))[:cap])  # type: ignore[misc]
        for k, per in requests.items()
        if len(per) > cap
    }
    if not kept:
        return agg
    out = Aggregate(agg.bands)
    out.invalid = dict(agg.invalid)
    for key, counts in agg.cells.items():
        dims = key[6]
        if dims:
            d = parse_dims(dims)
            labels = {k: v if k not in kept or v in kept[k] else OTHER_LABEL
                      for k, v in d.labels.items()}  # fmt: skip
            if labels != d.labels:
                dims = dims_text(key[2], d.response_model, d.service_tier, labels, d.counts_unknown)
        capped = (*key[:6], dims)
        add_into(out.cells, capped, counts)
        early = agg.early.get(key)
        if early is not None:
            add_into(out.early, capped, early)
    return out
