"""Reports over a token log: totals, per model/provider/day/month, recent calls, exports.

Built on ``reader`` only (read-only, never the writer). Every report is plain data (dicts and
lists of JSON types) so ``--json`` is the same numbers the tables show, and the HTML and CSV
exports are renderings of these same structures.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from asynctokens._errors import NothingMatchedError
from asynctokens.pricing import PriceBook, one_price
from asynctokens.read import reader
from asynctokens.read._dirs import LogDirs
from asynctokens.read._grouping import WEEKDAYS as WEEKDAYS
from asynctokens.read._grouping import Priced, group, nested
from asynctokens.record._dims import dim_value, is_label_key, line_dims, parse_dims
from asynctokens.record._format import PROMPT_BANDS
from asynctokens.stats._fold import (
    COMPLETION,
    PROMPT,
    Aggregate,
    dims_match,
)

DIMENSIONS = ("model", "api", "day", "week", "month", "host")
#: What ``--by`` and ``--where`` take besides a label key: the names of the report
#: dimensions, as the command line spells them.
BY_NAMES: Final = {"model": "model", "provider": "api", "api": "api", "host": "host",
                   "day": "day", "week": "week", "month": "month",
                   "response-model": "response-model", "service-tier": "service-tier"}  # fmt: skip


@dataclass
class Query:
    """What to read: the directory, a time range, filters, the day boundary's zone, prices."""

    log_dir: LogDirs = None
    since: reader.DateLike = None
    until: reader.DateLike = None
    models: list[str] | None = None
    apis: list[str] | None = None
    hosts: list[str] | None = None
    timezone: str | None = None
    prices: PriceBook = field(default_factory=PriceBook)
    #: Only calls whose label (or ``response-model``, ``service-tier``) has this value.
    where: dict[str, str] | None = None
    #: The first day of a week in ``week`` rows: 0 Monday (ISO weeks) to 6 Sunday.
    week_start: int = 0
    #: Read every line instead of the stats: each label value apart, past the stats' cap.
    exact: bool = False

    @property
    def tz(self) -> _dt.tzinfo:
        return reader.get_timezone(self.timezone)

    @functools.cached_property
    def _apis_lowered(self) -> frozenset[str]:
        return frozenset(a.lower() for a in self.apis or ())

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether one call passes the filters (providers compared without case). Runs once
        per event of a CSV export: the lowered provider names are made once per query."""
        return (
            (not self.models or event["model"] in self.models)
            and (not self.apis or event["api_type"].lower() in self._apis_lowered)
            and (not self.hosts or event.get("host", "") in self.hosts)
            and (not self.where or self._where_holds(event))
        )

    def _where_holds(self, event: dict[str, Any]) -> bool:
        """``where`` on one line: its labels, served model and tier, as the cells hold them."""
        dims = line_dims(event["model"], event)
        return dims is not None and dims_match(event["model"], dims, self.where or {})


def _resolve_filters(query: Query, agg: Aggregate) -> tuple[list[str] | None, ...]:
    """The filters as the names the cells hold; ``NothingMatchedError`` for one that names
    nothing in the range, with the closest names the logs do hold.

    A filter that silently matches nothing prints a table of zeros and $0.00, which reads
    as "nothing was spent". Providers match without case (``--api OpenAI``).
    """
    held = {
        "--model": sorted({k[2] for k in agg.cells}),
        "--api": sorted({k[1] for k in agg.cells}),
        "--host": sorted({k[5] for k in agg.cells}),
    }
    out: list[list[str] | None] = []
    for flag, asked in (("--model", query.models), ("--api", query.apis), ("--host", query.hosts)):
        if not asked:
            out.append(None)
            continue
        names: list[str] = []
        for value in asked:
            if flag == "--api":
                found = [n for n in held[flag] if n.lower() == value.lower()]
            else:
                found = [value] if value in held[flag] else []
            if not found:
                raise NothingMatchedError(
                    f"no calls with {flag} {value!r}{_closest(value, held[flag])}"
                )
            names.extend(found)
        out.append(names)
    return tuple(out)


def _closest(value: str, names: list[str]) -> str:
    """``: the logs hold 'a', 'b'`` with the names most like ``value`` first."""
    if not names:
        return " (the logs hold no calls in this range)"
    lowered = value.lower()
    starting = [n for n in names if n.lower().startswith(lowered) or lowered.startswith(n.lower())]
    close = difflib.get_close_matches(value, names, n=5, cutoff=0.5)
    shown = list(dict.fromkeys([*starting, *close]))[:5] or names[:5]
    more = "" if len(shown) == len(names) else f" (of {len(names)})"
    return f" in this range: the logs hold {', '.join(repr(n) for n in shown)}{more}"


def check_filters(query: Query) -> None:
    """Raise ``NothingMatchedError`` when a filter names nothing in the query's range (for
    the reports that read calls one by one: ``recent`` and the CSV export)."""
    if query.models or query.apis or query.hosts or query.where:
        agg = reader.aggregate(query.log_dir, query.since, query.until, tz=query.tz)
        _resolve_filters(query, agg)
        if query.where:
            _check_where(query.where, agg)


def load(
    query: Query,
    report: reader.ReadReport | None = None,
    by: Iterable[str] = (),
    period: str = "day",
) -> Aggregate:
    """The cells the query selects (days in the query's zone), split finely enough to price.

    The stats file splits prompts at every long-context threshold known when it was written
    (``_format.PROMPT_BANDS``). A price with a threshold of its own (a ``--pricing`` file's,
    or newer data's) makes the range be scanned once more with that threshold added, so
    every request is still priced at its own tier. The cells keep their labels only when
    the report needs them: ``by`` or ``--where`` names a label key. ``period``: what the
    report groups days by ("day", "month" or "all": see ``reader.aggregate``); coarser than a
    day, each cell's day is only right to its month.
    """
    first = reader.ReadReport()
    labels = frozenset(name for name in (*by, *(query.where or {})) if _is_label(name))
    agg = _select(query, first, PROMPT_BANDS, labels, period)
    needed: set[int] = set()
    for api, model in {(k[1], k[2]) for k in agg.cells}:
        needed |= query.prices.thresholds(api, model)
    if not needed <= set(agg.bands):
        first = reader.ReadReport()
        agg = _select(query, first, tuple(sorted(needed | set(agg.bands))), labels, period)
    if report is not None:
        report.add(first)
    _check_by_labels([name for name in by if _is_label(name)], agg)
    return agg


def _check_by_labels(keys: list[str], agg: Aggregate) -> None:
    """``NothingMatchedError`` for a ``--by`` label key no call in the range carries, where
    a key they do carry is spelt alike (``custmer``, ``customers``): every call would print
    as "(none)". A key unlike any held is one row "(none)": labels not used yet, or not in
    this range (a budget run from cron must not fail for that)."""
    if not keys:
        return
    dims = {k[6] for k in agg.cells if k[6]}  # a few per model and value, not per cell
    missing = [key for key in keys if not any(key in parse_dims(d).labels for d in dims)]
    if not missing:
        return
    held = sorted({key for d in dims for key in parse_dims(d).labels})
    for key in missing:
        close = difflib.get_close_matches(key, held, n=1, cutoff=0.75)
        if close:
            raise NothingMatchedError(
                f"no call in this range carries the label {key!r}: did you mean --by"
                f" {close[0]}? (they carry {', '.join(repr(k) for k in held)})"
            )


def _is_label(name: str) -> bool:
    return name not in BY_NAMES and name not in DIMENSIONS


def _select(
    query: Query,
    report: reader.ReadReport,
    bands: tuple[int, ...],
    labels: frozenset[str] | None = None,
    period: str = "day",
) -> Aggregate:
    agg = reader.aggregate(
        query.log_dir,
        query.since,
        query.until,
        tz=query.tz,
        report=report,
        bands=bands,
        by_date=query.prices.by_date,
        cuts=query.prices.cuts,
        scan=query.exact,
        labels=labels,
        period=period,
        one_price=functools.partial(one_price, query.prices),
    )
    if query.models or query.apis or query.hosts:
        models, apis, hosts = _resolve_filters(query, agg)
        agg = agg.filtered(models=models, apis=apis, hosts=hosts)
    if query.where:
        _check_where(query.where, agg)
        agg = agg.filtered(where=query.where)
    return agg


def _check_where(where: dict[str, str], agg: Aggregate) -> None:
    """``NothingMatchedError`` for a ``--where`` value no call in the range has, with the
    values the logs do hold for that key (a typo must not read as "nothing spent")."""
    for key, value in where.items():
        held = sorted({v for k in agg.cells if (v := dim_value(k[2], k[6], key)) is not None})
        if value not in held:
            if not held:
                raise NothingMatchedError(f"no calls with --where {key}=... in this range: no"
                                          f" call carries the label {key!r}")  # fmt: skip
            raise NothingMatchedError(
                f"no calls with --where {key}={value!r}{_closest(value, held)}"
            )


def summary(query: Query) -> dict[str, Any]:
    """Totals over the query: tokens, requests, success rate, cost, bad lines skipped."""
    report = reader.ReadReport()
    return _summary_of(load(query, report, period="all"), query, report)


def breakdown(query: Query, dimension: str, by: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """One row per model, api (provider), day, week or month, with totals; with ``by``
    (label keys or ``BY_NAMES``), each row holds the rows of the next level under
    ``"breakdown"`` (``daily --by model``: each day's models)."""
    check_by((dimension, *by))
    report = reader.ReadReport()
    agg = load(query, report, (dimension, *by), _period_of((dimension, *by)))
    return _breakdown_of(agg, query, report, dimension, tuple(by))


def _period_of(names: Iterable[str]) -> str:
    """How finely a report by ``names`` groups days: by day (a day or week among them), by
    month, or not at all."""
    found = {BY_NAMES.get(name, name) for name in names}
    return "day" if found & {"day", "week"} else "month" if "month" in found else "all"


def check_by(names: Iterable[str]) -> None:
    """A ValueError naming the first of ``names`` no report groups by."""
    for name in names:
        if name not in DIMENSIONS and name not in BY_NAMES and not is_label_key(name):
            raise ValueError(
                f"unknown breakdown {name!r}: use a label key or one of {', '.join(BY_NAMES)}"
            )


def full_report(query: Query, by: Sequence[str] = ()) -> dict[str, Any]:
    """Everything the HTML and JSON exports hold, from one read of the directory; with
    ``by``, a table of rows per each name too (``"by": {"customer": rows}``)."""
    check_by(by)
    report = reader.ReadReport()
    agg = load(query, report, by)
    extra = {name: _breakdown_of(agg, query, report, name)["rows"] for name in by}
    return {
        "generated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "log_dir": ", ".join(str(d) for d in reader.open_log_dirs(query.log_dir)),
        "summary": _summary_of(agg, query, report),
        "by_model": _breakdown_of(agg, query, report, "model")["rows"],
        "by_api": _breakdown_of(agg, query, report, "api")["rows"],
        "daily": _breakdown_of(agg, query, report, "day")["rows"],
        "by_host": _breakdown_of(agg, query, report, "host")["rows"],
        "daily_by_model": _tokens_by_day_and_model(agg),
        **({"by": extra} if extra else {}),
    }


def costs(agg: Aggregate, prices: PriceBook | None = None) -> dict[str, Any]:
    """The priced rows of an aggregate (totals, per model, per provider), each with its cost
    and what no price covers: what ``TokenTracker.print_summary()`` adds to its counts."""
    book = PriceBook() if prices is None else prices
    by_model = group(agg, book, "model")
    return {
        "totals": by_model.total,
        "by_model": by_model.rows,
        "by_api": group(agg, book, "api").rows,
    }


def _tokens_by_day_and_model(agg: Aggregate) -> dict[str, dict[str, int]]:
    """{day: {model: total tokens}}, for the HTML chart's bars stacked by model."""
    out: dict[str, dict[str, int]] = {}
    for (day, _, model, _, _, _, _), counts in agg.cells.items():
        models = out.setdefault(day, {})
        models[model] = models.get(model, 0) + counts[PROMPT] + counts[COMPLETION]
    return {day: dict(sorted(out[day].items())) for day in sorted(out)}


def _summary_of(
    agg: Aggregate, query: Query, report: reader.ReadReport, priced: Priced | None = None
) -> dict[str, Any]:
    """The totals and findings; from ``priced`` when a breakdown has just priced the cells."""
    if priced is None:
        priced = group(agg, query.prices, None)
    return {
        "totals": priced.total,
        "unpriced_models": list(priced.unpriced),
        "unpriced_tokens_by_model": priced.unpriced,
        "upper_bound_models": priced.upper_bound,
        "pricing": {
            **query.prices.describe(),
            "stale": query.prices.staleness(priced.newest_priced_day),
        },
        "timezone": query.timezone or "UTC",
        **read_findings(report),
    }


def _breakdown_of(
    agg: Aggregate,
    query: Query,
    report: reader.ReadReport,
    dimension: str,
    by: tuple[str, ...] = (),
) -> dict[str, Any]:
    dimension = BY_NAMES.get(dimension, dimension)
    priced = group(agg, query.prices, dimension, query.week_start)
    rows = priced.rows
    levels = tuple(BY_NAMES.get(d, d) for d in by)
    if levels:
        rows = nested(agg, query.prices, (dimension, *levels), rows, query.week_start)
    return {
        "dimension": dimension,
        **({"by": list(levels)} if levels else {}),
        **({"week_start": WEEKDAYS[query.week_start]} if dimension == "week" else {}),
        "rows": rows,
        **_summary_of(agg, query, report, priced),
    }


def event_cost(event: dict[str, Any], prices: PriceBook) -> float | None:
    """One call's cost at the price in force at its own instant; None when unpriced."""
    return prices.event_cost(event)


#: Lines read past the n-th match before the last calls are sorted by time: processes append
#: in batches, so a file is in time order only batch by batch (see ``recent``).
RECENT_LOOKBACK: Final = 2_000


def recent(query: Query, n: int = 20) -> dict[str, Any]:
    """The last ``n`` calls by time, newest first, read from the end of the newest files.

    Daily files hold the lines of their UTC day, so a newer file's calls are all newer; within
    a file, several processes' batches interleave. Reading goes on past the ``n``-th match
    for ``RECENT_LOOKBACK`` more lines of the same file (or to its start) before sorting, so
    ``recent`` still touches only the end of a large file. A call logged with an explicit
    ``ts`` further out of order than that can be passed over. Each call carries its cost
    (``None`` when unpriced) and ``unpriced_tokens`` (its tokens when unpriced, else 0).
    """
    if n < 1:
        raise ValueError(f"-n must be >= 1, got {n}")
    report = reader.ReadReport()
    found: list[dict[str, Any]] = []
    past_nth = 0
    last_day = ""
    for event in reader.iter_recent(
        query.log_dir, query.since, query.until, tz=query.tz, report=report
    ):
        day = event["ts"][:10]
        if len(found) >= n and (day != last_day or past_nth >= RECENT_LOOKBACK):
            break  # an older file (its calls are all older), or far enough back in this one
        last_day = day
        if len(found) >= n:
            past_nth += 1
        if query.matches(event):
            found.append(event)
    found.sort(key=_instant, reverse=True)
    events = []
    for event in found[:n]:
        cost = event_cost(event, query.prices)
        tokens = event["prompt_tokens"] + event["completion_tokens"]
        events.append(
            {**event, "cost_usd": cost, "unpriced_tokens": 0 if cost is not None else tokens}
        )
    return {"events": events, "timezone": query.timezone or "UTC", **read_findings(report)}


def _instant(event: dict[str, Any]) -> _dt.datetime:
    return _dt.datetime.fromisoformat(event["ts"])


def read_findings(report: reader.ReadReport) -> dict[str, Any]:
    """What a read met besides events, under the names every report uses."""
    return {
        "bad_lines": report.bad_lines,
        "bad_line_samples": report.samples,
        "unfinished_files": report.unfinished,
        "misnamed_files": report.misnamed,
        "stale_stats": report.stale_stats,
    }


def iter_filtered(query: Query, report: reader.ReadReport) -> Iterator[dict[str, Any]]:
    for event in reader.iter_events(
        query.log_dir, query.since, query.until, tz=query.tz, report=report
    ):
        if query.matches(event):
            yield event
