"""A month of stats on disk: ``token_stats_YYYY-MM.json`` (its cells as columns, its bad
lines, the byte spans of its hours) and ``token_stats_YYYY-MM.quarters`` (each hour's early
counters), encoded, decoded and checked.

docs/FORMAT.md gives both layouts; ``_store`` says when they are read and rewritten. Every
value read back is checked before it is believed (counts are ints within range, columns as
long as their hours, spans inside their files): a month that fails is stale, and the stats
are rebuilt from the lines.
"""

from __future__ import annotations

import calendar
import sys
from array import array
from collections.abc import Iterator, Sequence
from itertools import chain
from operator import add, itemgetter, le
from pathlib import Path
from typing import Any

import orjson

from asynctokens.record._dims import carries_labels, dims_text, only_label_keys
from asynctokens.record._format import (
    PROMPT_BANDS,
    STATS_VERSION,
    stats_labels_file,
    stats_month_file,
    stats_quarters_file,
)
from asynctokens.stats._fold import WIDTH, Aggregate, add_into
from asynctokens.stats._pinned import read_bytes

#: The largest count a stats file may hold (sums of lines whose counts are below 2**40).
_MAX = 2**63 - 1

#: Per daily file name, per UTC hour (``YYYY-MM-DDTHH``): ``[start, end)``, the bytes that
#: hold every line of the hour in that file.
Spans = dict[str, dict[str, list[int]]]


#: A cell's key within its hour: (provider, model, band, host, dims).
CellName = tuple[str, str, int, str, str]
#: The cells of one UTC hour, by name.
HourCells = dict[CellName, list[int]]


#: The quarters file: its magic, then a token the month file names (they were written
#: together), then per key and hour ``EARLY`` int64.
QUARTERS_MAGIC = b"ATQ1"


TOKEN_BYTES = 8


_HEADER = len(QUARTERS_MAGIC) + TOKEN_BYTES


#: Early counters per hour: the first 15 minutes' WIDTH, then the first 30 minutes'.
EARLY = 2 * WIDTH


def early_of(
    quarters: Sequence[int] | None,
    first: int,
    start: int,
    position: tuple[int, int],
    cols: list[list[int]],
) -> Sequence[int]:
    """A key's counters from the start of an hour to its 15th (part 1) or 30th (part 2)
    minute, checked against the hour's own: StaleStats when they disagree."""
    assert quarters is not None
    hour, part = position
    j = first + (hour - start) * EARLY + (part - 1) * WIDTH
    early = quarters[j : j + WIDTH]
    if min(early) < 0 or not all(map(le, early, map(itemgetter(hour - start), cols))):
        raise StaleStats(f"hour {hour} of a quarters file")
    return early


def add_early(
    early_of: dict[str, HourCells | None],
    hour: str,
    name: CellName,
    early: list[int] | None,
) -> None:
    """Keep a cut hour's early counters by cell; None for the hour once one cell lacks them."""
    if early is None:
        early_of[hour] = None
    else:
        known = early_of.setdefault(hour, {})
        if known is not None:
            known[name] = list(early)


def rows_of_month(agg: Aggregate) -> dict[str, dict[str, list[int]]]:
    """The month's counters per model, api, day and host: a writer's update computes them
    for the index from every cell of the month (a busy month has tens of thousands), so
    each sum is ``map(add, ...)``, in C."""
    rows: dict[str, dict[str, list[int]]] = {d: {} for d in DIMENSIONS}
    dims = [(rows[dim], index, dim == "day") for dim, index in DIMENSIONS.items()]
    for key, counts in agg.cells.items():
        for acc, index, is_day in dims:
            name = str(key[index])[:10] if is_day else str(key[index])
            before = acc.get(name)  # add_into, inlined: 4 rows for each cell of the month
            if before is None:
                acc[name] = list(counts)
            else:
                before[:] = map(add, before, counts)
    return rows


def days_in(month: str) -> int:
    """The days of ``YYYY-MM``."""
    return calendar.monthrange(int(month[:4]), int(month[5:7]))[1]


def _hours_in(month: str) -> int:
    return days_in(month) * 24


def _hour_index(hour: str) -> int:
    """``YYYY-MM-DDTHH`` -> its place in the month's columns."""
    return (int(hour[8:10]) - 1) * 24 + int(hour[11:13])


def hour_texts(month: str) -> list[str]:
    """Every hour of the month, by its index in the columns."""
    return [_hour_text(month, i) for i in range(_hours_in(month))]


def _hour_text(month: str, index: int) -> str:
    day, hour = divmod(index, 24)
    return f"{month}-{day + 1:02d}T{hour:02d}"


def columns_of(agg: Aggregate) -> tuple[list[list[Any]], list[list[Any]], array[int]]:
    """The hourly cells of a month as (keys, columns, early counters): see the module
    docstring."""
    by_key: dict[CellName, dict[int, tuple[list[int], list[int]]]] = {}
    early_of = agg.early
    index_of: dict[str, int] = {}  # an hour's index, once per hour (a month has 744)
    for cell_key, counts in agg.cells.items():
        hour, api, model, band, price_day, host, dims = cell_key
        early = early_of.get(cell_key)
        index = index_of.get(hour)
        if index is None:
            if len(hour) != 13:
                raise ValueError("only an aggregate of UTC hours is stored")
            index = index_of[hour] = _hour_index(hour)
        if price_day != hour[:10] or early is None:
            raise ValueError("only cells of UTC hours with early counters are stored")
        by_key.setdefault((api, model, band, host, dims), {})[index] = (counts, early)
    keys: list[list[Any]] = []
    columns: list[list[Any]] = []
    quarters = array("q")
    no_counts, no_early = (0,) * WIDTH, (0,) * EARLY
    for key in sorted(by_key):
        hours = by_key[key]
        for start, end in _runs_of(sorted(hours)):
            # a row per hour, then turned into columns in C: a busy month has tens of
            # thousands of cells, and a writer's update writes them every few seconds
            n = end - start
            rows: list[Sequence[int]] = [no_counts] * n
            firsts: list[Sequence[int]] = [no_early] * n
            for i in range(start, end):
                found = hours.get(i)
                if found is not None:
                    rows[i - start], firsts[i - start] = found
            keys.append(list(key))
            columns.append([start, *map(list, zip(*rows, strict=True))])
            quarters.extend(chain.from_iterable(firsts))
    return keys, columns, quarters


#: Hours without calls a key's columns run through before a new entry of the key begins.
#: An hour costs 8 counters in the month file and 16 in the quarters file; an entry costs
#: its key's text: a key busy every hour is one entry, one called once a day (a label
#: value among many) is an entry per call, not 744 hours of zeros.
RUN_GAP = 3


def _runs_of(hours: list[int]) -> Iterator[tuple[int, int]]:
    """``[start, end)`` of each run of the ascending ``hours``, split where more than
    RUN_GAP hours pass without one."""
    start = last = hours[0]
    for hour in hours[1:]:
        if hour - last > RUN_GAP + 1:
            yield start, last + 1
            start = hour
        last = hour
    yield start, last + 1


def without_labels_of(agg: Aggregate, keep: frozenset[str] = frozenset()) -> Aggregate:
    """The hourly cells of a month with their labels left out (but those of ``keep``),
    merged: with none kept, the month file's cells, which reports that group by no label
    read (a label with many values multiplies the cells; the totals per provider, model and
    host do not need them); with some, the cells of the label keys a writer was told to keep
    (``label_keys``)."""
    out = Aggregate(agg.bands)
    cells, early = out.cells, out.early
    plain: dict[str, str] = {}
    for key, counts in agg.cells.items():
        dims = key[6]
        bare = plain.get(dims)
        if bare is None:
            bare = plain[dims] = only_label_keys(dims, keep)
        name = (*key[:6], bare)
        add_into(cells, name, counts)
        add_into(early, name, agg.early[key])
    out.invalid = dict(agg.invalid)
    return out


def has_labels(agg: Aggregate) -> bool:
    return any(carries_labels(key[6]) for key in agg.cells)


def aggregate_of(doc: dict[str, Any], month: str, quarters: Sequence[int]) -> Aggregate:
    """The hourly cells of a checked month file, with their early counters; StaleStats when
    an hour's first 15 minutes count below zero, or more than its first 30, or those more
    than the hour (a hand edit: the writer would keep adding to numbers no report can use).

    A writer's update runs this over its busy month every few seconds: the checks go
    counter by counter over a key's hours, in C."""
    agg = Aggregate()
    texts = hour_texts(month)
    at = doc["quarters_at"]
    for (api, model, band, host, dims), (start, *cols) in zip(
        doc["keys"], doc["columns"], strict=True
    ):
        n = len(cols[0])
        block = quarters[at : at + n * EARLY]
        for c, col in enumerate(cols):
            first15, first30 = block[c::EARLY], block[WIDTH + c :: EARLY]
            if min(first15) < 0 or not (
                all(map(le, first15, first30)) and all(map(le, first30, col))
            ):
                raise StaleStats(month)
        for j, counts in enumerate(zip(*cols, strict=True)):
            if counts[0]:
                hour = texts[start + j]
                key = (hour, api, model, band, hour[:10], host, dims)
                agg.cells[key] = list(counts)
                agg.early[key] = list(block[j * EARLY : (j + 1) * EARLY])
        at += n * EARLY
    agg.invalid = dict(doc["invalid_lines_by_day"])
    return agg


def read_quarters(log_dir: Path, month: str, doc: dict[str, Any]) -> Sequence[int] | None:
    """The early counters of a checked month file, or None when its quarters file is
    missing, cut or of another update (the token differs). Not copied, and their values
    are checked where they are used (a count below zero, or above the hour's, makes the
    report read the hour's lines and a writer rebuild the file): a year of them is large."""
    token = doc.get("quarters")
    try:
        data = read_bytes(log_dir / stats_quarters_file(month))
    except OSError:
        return None
    hours = doc["quarters_len"]  # the cells' hours and the labelled cells' (read_month)
    expected = hours * EARLY * 8
    if (
        type(token) is not str
        or len(data) != _HEADER + expected
        or data[: len(QUARTERS_MAGIC)] != QUARTERS_MAGIC
        or data[len(QUARTERS_MAGIC) : _HEADER].hex() != token
    ):
        return None
    if sys.byteorder == "big":
        swapped = array("q", data[_HEADER:])
        swapped.byteswap()
        return swapped
    return memoryview(data)[_HEADER:].cast("q")


def read_month(log_dir: Path, month: str, plain: bool = False) -> dict[str, Any]:
    """The month file, checked in passes that run in C (a hand-edited or cut file is stale).

    Its ``keys`` and ``columns`` are its cells without labels; when some had labels, they
    are in the labels file the month file names (``labelled``), read here unless ``plain``
    (the caller groups by no label: a label of many values makes that file large). The
    result has the cells asked for as ``keys`` and ``columns`` (``totals``: their sums),
    ``quarters_at`` where their early counters begin in the quarters file and
    ``quarters_len`` its hours in all."""
    try:
        doc: dict[str, Any] = orjson.loads(read_bytes(log_dir / stats_month_file(month)))
        if (
            type(doc) is not dict
            or doc.get("format_version") != STATS_VERSION
            or doc.get("month") != month
            or "spans" not in doc
            or not valid_label_keys(doc.get("label_keys", []))
        ):
            raise StaleStats(month)
        hours = _checked_into(doc, doc, month)
        if any(carries_labels(key[4]) for key in doc["keys"]):  # its labels file's
            raise StaleStats(month)
        invalid = doc["invalid_lines_by_day"]
        if not isinstance(invalid, dict) or not all(
            type(d) is str and d.startswith(month) and type(v) is int and v > 0
            for d, v in invalid.items()
        ):
            raise StaleStats(month)
        labelled = doc.get("labelled")
        doc["quarters_at"], doc["quarters_len"] = 0, hours
        if labelled is not None:
            if type(labelled) is not int or labelled < 1:
                raise StaleStats(month)
            doc["quarters_len"] += labelled
            if not plain:
                _with_labels(log_dir, month, doc, hours)
    except (OSError, orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
        raise StaleStats(month) from exc
    return doc


def _with_labels(log_dir: Path, month: str, doc: dict[str, Any], plain_hours: int) -> None:
    """``doc`` with the cells of its labels file: written with it (the same token), as
    many hours as the month file says, checked as its own cells are."""
    cells = orjson.loads(read_bytes(log_dir / stats_labels_file(month)))
    if type(cells) is not dict or cells.get("quarters") != doc.get("quarters"):
        raise StaleStats(month)
    if _checked_into(cells, doc, month) != doc["labelled"]:
        raise StaleStats(month)
    doc["quarters_at"] = plain_hours * EARLY


def valid_label_keys(keys: Any) -> bool:
    return type(keys) is list and all(type(k) is str for k in keys) and keys == sorted(set(keys))


def month_totals(doc: dict[str, Any]) -> list[int]:
    """The sum of each counter over a checked month file's columns."""
    totals: list[int] = doc["totals"]  # summed as they were checked (read_month)
    return totals


def _checked_into(cells: dict[str, Any], doc: dict[str, Any], month: str) -> int:
    """Check the ``keys`` and ``columns`` of ``cells`` (a month file, or its labels file)
    and make them ``doc``'s, with their ``totals``; the hours their columns hold.
    StaleStats when they fail."""
    keys, columns = cells["keys"], cells["columns"]
    counts = _checked_counts(keys, columns, _hours_in(month))
    if counts is None:
        raise StaleStats(month)
    doc["keys"], doc["columns"] = keys, columns
    doc["totals"] = [sum(c) for c in counts]
    return len(counts[0]) if counts else 0


def valid_counts(columns: Sequence[Any]) -> bool:
    """Eight equally long lists of counters (``_fold`` order) that a writer could have
    written: plain ints (no bool, no float) from 0 to below 2**63, successes within requests,
    cache reads and writes within the prompt, reasoning within the completion, 1-hour cache
    writes within the cache writes.

    Every pass runs in C (``map``, ``min``, ``max``, ``all``): a year of columns stays cheap
    to check, and a hand-edited or corrupted count is never believed.
    """
    n = len(columns[0]) if type(columns[0]) is list else -1
    for values in columns:
        if (
            type(values) is not list
            or len(values) != n
            or (n and (set(map(type, values)) != {int} or min(values) < 0 or max(values) > _MAX))
        ):
            return False
    req, ok, prompt, completion, cached, cache_write, reasoning, one_hour = columns
    return (
        all(map(le, ok, req))
        and all(map(le, map(add, cached, cache_write), prompt))
        and all(map(le, reasoning, completion))
        and all(map(le, one_hour, cache_write))
    )


_INT_AND_LISTS = {int, list}


def _checked_counts(keys: Any, columns: Any, hours: int) -> list[list[int]] | None:
    """Each key (provider, model, band, host, dims) with a start hour and eight equally long
    lists of counts within the month that :func:`valid_counts` accepts: the counts of every
    entry, counter by counter, or None."""
    if type(keys) is not list or type(columns) is not list or len(keys) != len(columns):
        return None
    # a key may have several entries (runs of hours): sorted, so one key's are together,
    # and each after the last one's hours, so no hour of a key is counted twice
    last_key: Any = None
    last_end = 0
    for key, col in zip(keys, columns, strict=True):
        if key != last_key:  # a key's entries follow it: the key is checked once
            if not valid_key(key) or (last_key is not None and key < last_key):
                return None
            last_key, last_end = key, 0
        if type(col) is not list or len(col) != 1 + WIDTH or type(col[0]) is not int:
            return None
        n = len(col[1]) if type(col[1]) is list else 0
        if n == 0 or col[0] < last_end or col[0] + n > hours:
            return None
        if set(map(type, col)) != _INT_AND_LISTS or set(map(len, col[1:])) != {n}:
            return None
        last_end = col[0] + n
    # the counts of every entry at once, counter by counter: a label of many values makes
    # a month thousands of one-hour entries, and each check is a pass in C
    counts = [list(chain.from_iterable(col[1 + i] for col in columns)) for i in range(WIDTH)]
    return counts if not columns or valid_counts(counts) else None


def valid_key(key: Any) -> bool:
    """A cell's key as a writer writes it: [provider, model, band, host, dims]."""
    return (
        type(key) is list
        and len(key) == 5
        and type(key[0]) is type(key[1]) is type(key[3]) is type(key[4]) is str
        and type(key[2]) is int
        and 0 <= key[2] <= len(PROMPT_BANDS)
        and _valid_dims(key[4])
    )


def valid_spans(spans: Any, month: str) -> bool:
    """A hand-edited or truncated ``spans`` must not send a report to the wrong bytes."""
    if not isinstance(spans, dict):
        return False
    for of_file in spans.values():
        if not isinstance(of_file, dict):
            return False
        for hour, span in of_file.items():
            if (
                not hour.startswith(month)
                or type(span) is not list
                or len(span) != 2
                or not all(type(v) is int for v in span)
                or not 0 <= span[0] < span[1]
            ):
                return False
    return True


def _valid_dims(text: str) -> bool:
    """A cell's dimensions text as a writer writes it (a hand edit must not reach a report
    that parses it)."""
    if not text:
        return True
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    if type(doc) is not dict or not doc.keys() <= {"l", "r", "t", "u"}:
        return False
    labels = doc.get("l", {})
    unknown = doc.get("u", False)
    return (
        all(type(doc.get(k, "")) is str for k in ("r", "t"))
        and type(labels) is dict
        and all(type(v) is str for v in labels.values())
        and (unknown is True or unknown is False)
        and dims_text("", doc.get("r"), doc.get("t"), labels, unknown) == text
    )


DIMENSIONS = {"model": 2, "api": 1, "day": 0, "host": 5}


class NotKept(Exception):
    """A month file whose writers were told to keep only some label keys
    (``label_keys``), asked for another: the lines have the answer, not the stats."""


class StaleStats(Exception):
    """A month file the index names is missing, corrupt or of another layout: rebuild."""
