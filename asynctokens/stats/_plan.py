"""The one question reports ask of the stats: which cells and pieces answer this range in
this zone.

From each directory's stats (cells per UTC hour, caught up with what was appended since),
by days of the report's zone. An hour cut in two by the range or by a day of the zone is
taken in pieces from its early counters (its first 15 and 30 minutes) where the cut falls on
a quarter hour, else from the bytes of its file that the stats say hold its lines (its span),
and only those. When the stats disagree with themselves, or have no span for an hour with
events, the answer is None: the reader scans, since only the lines are sure.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Iterator, Sequence
from operator import sub
from pathlib import Path
from typing import Final

from asynctokens.record import _files
from asynctokens.record._dims import only_label_keys
from asynctokens.record._format import (
    STATS_FILE,
    STATS_LOCK_FILE,
    Judged,
    daily_file_name,
    day_of_file,
    judge_line,
    stats_month_file,
    utc_hour,
)
from asynctokens.record._lines import ForwardBlocks, ReadReport, unreadable
from asynctokens.record._range import UTC, DayOf, TimeRange
from asynctokens.stats._coarse import OnePrice, totals_adder
from asynctokens.stats._fold import WIDTH, Aggregate, add_into
from asynctokens.stats._month import HourCells, NotKept, StaleStats
from asynctokens.stats._periods import Periods, cut_parts, piece_period, split_pieces
from asynctokens.stats._pinned import pinned, read_bytes
from asynctokens.stats._runs import merged_pieces
from asynctokens.stats._store import CutHour, Snapshot
from asynctokens.stats._update import current


class _Hours:
    """UTC hour text -> None when the hour lies outside the range, else (its day in ``tz``,
    whether it lies whole in the range and in one day of ``tz``); once per hour."""

    def __init__(self, tz: _dt.tzinfo, rng: TimeRange) -> None:
        self.tz, self.rng = tz, rng
        self.cache: dict[str, tuple[str, bool] | None] = {}

    def __call__(self, hour: str) -> tuple[str, bool] | None:
        if hour in self.cache:
            return self.cache[hour]
        start = _dt.datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC)
        end = start + _dt.timedelta(hours=1)
        rng = self.rng
        found: tuple[str, bool] | None = None
        if (rng.start is None or end > rng.start) and (rng.end is None or start < rng.end):
            inside = (rng.start is None or start >= rng.start) and (
                rng.end is None or end <= rng.end
            )
            try:
                first = start.astimezone(self.tz)
                last = (end - _dt.timedelta(microseconds=1)).astimezone(self.tz)
                found = (first.date().isoformat(), inside and first.date() == last.date())
            except OverflowError:  # year 1 or 9999 seen from across the edge
                found = (hour[:10], inside)
        self.cache[hour] = found
        return found


#: A report that finds stats files of two updates (a writer renames a month's files one at a
#: time: quarters, labels, days, totals, month, index) reads them again after
#: STATS_REREAD_S: as long as a writer is at work (it holds the stats lock, or the index
#: changed), for up to STATS_SETTLE_S; else STATS_READS times in all before it says they
#: failed their checks (hand-edited or damaged files fail every time).
STATS_READS: Final = 2
STATS_REREAD_S: Final = 0.02
STATS_SETTLE_S: Final = 2.0


def settled(
    dirs: list[Path], report: ReadReport, read_stats: Callable[[ReadReport], Aggregate | None]
) -> Aggregate | None:
    """``read_stats`` (a :func:`from_stats` of ``dirs``), run again while the stats fail
    their checks because a writer is updating them (see STATS_READS); only then, or once it
    succeeds, is what it met added to ``report``. Stats still being rewritten when
    STATS_SETTLE_S runs out are busy, not damaged: the caller reads the lines, and nothing is
    said."""
    deadline = time.monotonic() + STATS_SETTLE_S
    reads = 0
    while True:
        read = ReadReport()
        with pinned(dirs):  # one update's files, whatever a writer renames meanwhile
            before = _index_ids(dirs)  # the index this read uses: pinned with the rest
            agg = read_stats(read)
        reads += 1
        if not read.stale_stats:
            break
        if time.monotonic() > deadline:
            if _index_ids(dirs) != before or _writer_at_work(dirs):
                read.stale_stats.clear()  # a writer at work all along: busy, not damaged
            break
        time.sleep(STATS_REREAD_S * reads)  # a writer between two renames ends its update
        if reads >= STATS_READS and _index_ids(dirs) == before and not _writer_at_work(dirs):
            break  # nobody is writing: the files are damaged
    report.add(read)
    return agg


def _writer_at_work(dirs: list[Path]) -> bool:
    """Whether a writer holds a directory's stats lock: it is updating the stats."""
    return any(_files.lock_held(d / STATS_LOCK_FILE) for d in dirs)


def _index_ids(dirs: list[Path]) -> list[bytes | None]:
    """Each directory's index, whole: a writer's update replaces it, after the month files
    it names, renamed in one burst with them. Its bytes, not its inode, time and size: an
    update a few milliseconds after the last may get the freed inode back, within the same
    clock tick of the file system, at the same size; its content differs (each update names
    new month-file generations)."""
    ids: list[bytes | None] = []
    for d in dirs:
        try:
            ids.append(read_bytes(d / STATS_FILE))  # as pinned, inside ``pinned``
        except OSError:
            ids.append(None)
    return ids


def from_stats(
    dirs: list[Path],
    plans: Sequence[tuple[str, Sequence[Path]]],
    days: set[str],
    rng: TimeRange,
    tz: _dt.tzinfo,
    report: ReadReport,
    by_date: Callable[[str, str], bool] | None = None,
    periods: Periods | None = None,
    labels: frozenset[str] | None = None,
    period: str = "day",
    one_price: OnePrice | None = None,
) -> Aggregate | None:
    """The range from each directory's stats (cells per UTC hour, caught up with what was
    appended since), by days of ``tz``: ``plans`` are the UTC days to take, each with its
    files (none sharing events with another: the reader scans those), ``days`` every UTC day
    of the report (whose unfinished files are said). An hour cut by the range or by a day of
    ``tz`` is taken in pieces from its early counters (its first 15 and 30 minutes) where the
    cut falls on a quarter hour, else read from its span (the bytes of its file that hold its
    lines); None, for the caller to scan, when the stats disagree with themselves or have no
    span for an hour with events. What the read met is added to ``report`` only with an
    answer, except the stats files that failed their checks, which are said either way.
    ``by_date`` and ``periods`` say how finely each model's cells are kept apart to be
    priced (``Snapshot.add_hours``); ``labels``, the label keys the report needs (None:
    all). None too when a month's writers kept not all of those (``label_keys``).

    ``period``: what the caller groups the days by: ``"day"`` (or a week), ``"month"``
    (only the month of each day matters) or ``"all"`` (none). With ``one_price``, a report
    by a label takes a month from its totals file where that is exact (``_coarse``): by
    month (coarser than a day, the month whole in the range; each cell then sits on one day
    of its month, the last with calls), or by UTC day (each day whole in the range and in
    one day of the zone)."""
    found = ReadReport()
    snaps: dict[Path, Snapshot] = {}
    for d in dirs:
        unfinished: list[str] = []
        snaps[d] = current(d, unfinished=unfinished)
        found.unfinished.extend(n for n in unfinished if day_of_file(n) in days)
        report.stale_stats.extend(str(d / n) for n in snaps[d].stale)
    agg = Aggregate()
    from_stats: dict[Path, set[str]] = {d: set() for d in dirs}  # the UTC days of each
    for day, files in plans:
        found.files_read += len(files)
        counts_bad = rng.holds_day(day)
        for path in files:
            from_stats[path.parent].add(day)
            bad = snaps[path.parent].month_invalid(day[:7]).get(day, 0)
            if bad and counts_bad:
                agg.add_invalid(day, bad)
    hours = _Hours(tz, rng)
    days_of = DayOf(tz)

    def pieces(hour: str) -> list[str | None] | None:
        start = _dt.datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC)
        return _quarter_pieces(start, rng, tz, days_of)

    cut: list[tuple[Path, str, list[int], CutHour]] = []  # hours cut in two
    for d, utc_days in from_stats.items():
        snap = snaps[d]
        for month in sorted({day[:7] for day in utc_days}):
            try:
                add = totals_adder(month, snap, utc_days, rng, hours, agg, period, one_price,
                                    periods, labels)  # fmt: skip
                if add is not None and snap.add_totals(month, labels, add):
                    continue
                cut_hours = snap.add_hours(
                    month, hours, utc_days, agg, pieces, by_date, periods, labels
                )
                spans = snap.spans(month) if cut_hours else {}
            except NotKept:
                return None  # a label key the stats were told not to keep: the lines know
            except StaleStats:
                # a month file edited, cut or damaged: the lines decide (a writer rebuilds it)
                report.stale_stats.append(str(d / stats_month_file(month)))
                return None
            for hour, cut_hour in sorted(cut_hours.items()):
                name = daily_file_name(hour[:10])
                span = spans.get(name, {}).get(hour)
                if span is None:
                    return None  # no span for an hour with events: stats of a bug
                cut.append((d / name, hour, span, cut_hour))
    found.bad_lines += agg.invalid_lines
    read_once = _overlapping(cut, found)
    for path, hour, span, cells in cut:
        lines = read_once.get((path, hour))
        if not _add_cut_hour(
            path,
            hour,
            span,
            cells,
            rng,
            tz,
            days_of,
            agg,
            found,
            lines,
            periods,
            labels is not None and not labels,
        ):
            return None  # the lines disagree with the stats: only a scan is sure
    report.add(found)
    return agg


def _overlapping(
    cut: list[tuple[Path, str, list[int], CutHour]], report: ReadReport
) -> dict[tuple[Path, str], list[Judged]]:
    """The lines of the cut hours of each file whose spans overlap, read in one pass.

    A file whose lines are out of time order (several writers, clocks apart) gives each
    hour a wide span; reading each cut hour's span apart would then read the same bytes
    again for every hour, more than a scan. Where the spans of one file's cut hours add up
    to more than the bytes they cover, those bytes are read once and each line goes to its
    hour."""
    by_file: dict[Path, list[tuple[str, list[int]]]] = {}
    for path, hour, span, _ in cut:
        by_file.setdefault(path, []).append((hour, span))
    out: dict[tuple[Path, str], list[Judged]] = {}
    for path, spans in by_file.items():
        start, end = min(s[0] for _, s in spans), max(s[1] for _, s in spans)
        if len(spans) < 2 or sum(s[1] - s[0] for _, s in spans) <= end - start:
            continue
        wanted = {hour: out.setdefault((path, hour), []) for hour, _ in spans}
        day = spans[0][0][:10]
        for judged in _span_lines(path, None, [start, end], report, day=day):
            of_hour = wanted.get(utc_hour(judged))
            if of_hour is not None:
                of_hour.append(judged)
    return out


def _add_cut_hour(
    path: Path,
    hour: str,
    span: list[int],
    cut: CutHour,
    rng: TimeRange,
    tz: _dt.tzinfo,
    days_of: DayOf,
    agg: Aggregate,
    report: ReadReport,
    lines: list[Judged] | None = None,
    periods: Periods | None = None,
    plain: bool = False,
) -> bool:
    """Add one UTC hour that the report cuts in two.

    Cut by a day of the zone alone at hh:15 or hh:30 (Asia/Kathmandu, Asia/Kolkata): from
    the stats, the hour's early counters to the first day and the rest of its cells to the
    second, reading no line. Cut elsewhere by a day of the zone, or with no early counters:
    the lines in ``span`` of the shorter part are judged and added to their day, and the
    hour's cells less those lines go to the other day, so the longer part's lines are
    skipped unparsed wherever their time can be read off the line as a writer writes it.
    Cut by an end of the range, or holding a model priced by time of day without early
    counters: every line of the hour is judged. False if the lines (or the early counters)
    and the stats disagree.
    """
    cells = cut.cells
    start = _dt.datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC)
    end = start + _dt.timedelta(hours=1)
    if cut.early is not None:
        pieces = _quarter_pieces(start, rng, tz, days_of)
        if pieces is not None:
            return _add_pieces(hour, cells, cut.early, pieces, agg, periods)
    whole = (rng.start is None or start >= rng.start) and (rng.end is None or end <= rng.end)
    timed = periods is not None and any(periods.cuts(name[0], name[1]) for name in cells)
    split = _day_split(start, tz) if whole and not timed else None
    if split is None:
        read = lines if lines is not None else _span_lines(path, hour, span, report)
        for event, values, instant in read:
            if rng.contains(instant):
                local, utc = days_of(event["ts"], instant)
                if periods is not None:
                    utc = periods.key(values[0], values[1], utc, instant)
                agg.add(local, *values, utc)
        return True
    first_day = days_of(hour + ":00:00+00:00", start)[0]
    then = start + _dt.timedelta(minutes=split)
    second_day = days_of(then.isoformat(), then)[0]
    utc_day = hour[:10]
    # the longer part's minutes are skipped; the shorter part's lines are judged
    if split >= 30:
        skipped, small_day, big_day = range(split), second_day, first_day
    else:
        skipped, small_day, big_day = range(split, 60), first_day, second_day
    part = Aggregate(agg.bands)  # the shorter part's lines, by cell
    read = lines if lines is not None else _span_lines(path, hour, span, report, skipped)
    for _event, values, instant in read:
        if instant.astimezone(UTC).minute not in skipped:  # else the cells hold it
            if plain:  # the cells it is taken from have no labels
                values = (*values[:-1], only_label_keys(values[-1]))
            part.add(small_day, *values, utc_day)
    rest = {key: list(counts) for key, counts in cells.items()}
    for (_, api, model, band, _, host, dims), counts in part.cells.items():
        left = rest.get((api, model, band, host, dims))
        if left is None:
            return False
        for i, v in enumerate(counts):
            left[i] -= v
    agg.merge(part)
    for (api, model, band, host, dims), counts in rest.items():
        if min(counts) < 0:
            return False
        if counts[0]:
            cell = agg.cell(big_day, api, model, band, utc_day, host, dims)
            for i, v in enumerate(counts):
                cell[i] += v
    return True


#: The pieces of an hour the stats count apart (minutes ``[a, b)``): the first 15 minutes,
#: the next 15 (the first 30 less the first 15), and the rest of the hour.
_PIECES: Final = ((0, 15), (15, 30), (30, 60))


def _quarter_pieces(
    start: _dt.datetime, rng: TimeRange, tz: _dt.tzinfo, days_of: DayOf
) -> list[str | None] | None:
    """For each of ``_PIECES`` of the hour from ``start``, its day in ``tz`` (None: outside
    the range); None when a piece is itself cut by the range or by a day of ``tz``, so
    only the hour's lines can tell."""
    days: list[str | None] = []
    try:
        for a, b in _PIECES:
            lo, hi = start + _dt.timedelta(minutes=a), start + _dt.timedelta(minutes=b)
            if (rng.end is not None and lo >= rng.end) or (
                rng.start is not None and hi <= rng.start
            ):
                days.append(None)
                continue
            if (rng.start is not None and lo < rng.start) or (rng.end is not None and hi > rng.end):
                return None
            last = hi - _dt.timedelta(microseconds=1)
            if lo.astimezone(tz).date() != last.astimezone(tz).date():
                return None
            days.append(days_of(lo.isoformat(), lo)[0])
    except OverflowError:  # year 1 or 9999 seen from across the edge
        return None
    return days


def _add_pieces(
    hour: str,
    cells: HourCells,
    early: HourCells,
    days: list[str | None],
    agg: Aggregate,
    periods: Periods | None = None,
) -> bool:
    """Add each piece of the hour (``_quarter_pieces``) to its day, from the hour's cells
    and early counters; False when they disagree (a part would count below zero).

    For a month the report caught up in memory (lines appended since the stats were
    written); from the month's files, ``Snapshot.add_hours`` folds the pieces into the runs
    of hours around them. Neighbouring pieces of one day are added as one."""
    parts = merged_pieces(days)
    utc_day = hour[:10]
    agg_cells = agg.cells
    for name, counts in cells.items():
        first = early[name]
        # from a piece's start to its end in (nothing, the first 15 minutes, the first 30,
        # the hour)
        upto: tuple[list[int], ...] = ([], first[:WIDTH], first[WIDTH:], counts)
        api, model, band, host, dims = name
        cuts = () if periods is None else periods.cuts(api, model)
        for day, a, b in split_pieces(parts, cut_parts(hour, cuts)) if cuts else parts:
            part = upto[b] if a == 0 else list(map(sub, upto[b], upto[a]))
            if min(part) < 0:
                return False
            if day is not None and part[0]:
                period = piece_period(hour, a, cuts) if cuts else utc_day
                add_into(agg_cells, (day, api, model, band, period, host, dims), part)
    return True


def _day_split(start: _dt.datetime, tz: _dt.tzinfo) -> int | None:
    """The minute of the UTC hour from ``start`` at which the day in ``tz`` changes; None
    when it does not change within the hour, or changes inside a minute (an offset with
    seconds): every line of the hour is then judged."""
    try:
        first = start.astimezone(tz).date()
        if (start + _dt.timedelta(minutes=59)).astimezone(tz).date() == first:
            return None
        lo, hi = 0, 59  # the day at lo is first's, at hi is not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if (start + _dt.timedelta(minutes=mid)).astimezone(tz).date() == first:
                lo = mid
            else:
                hi = mid
        at = start + _dt.timedelta(minutes=hi)
        if (at - _dt.timedelta(microseconds=1)).astimezone(tz).date() != first:
            return None  # the day began inside minute hi - 1
    except OverflowError:  # year 1 or 9999 seen from across the edge
        return None
    return hi


def _quick_minute(line: bytes, hour: bytes) -> int | None:
    """The minute of the line's time within ``hour`` read off the bytes as writers write
    them (-1: another hour), or None when only parsing can tell (another layout, another
    offset, a second ``"ts":``)."""
    if not line.startswith(b'{"event_id":"'):
        return None
    at = line.find(b'","ts":"', 13)
    if at < 0 or line.find(b'"', 13, at) >= 0 or line.count(b'"ts":') != 1:
        return None
    ts = line[at + 8 : at + 40]
    if ts[26:] != b"+00:00" or ts[13:14] != b":":
        return None
    if ts[:13] != hour:
        return -1
    minute = ts[14:16]
    return int(minute) if minute.isdigit() else None


def _span_lines(
    path: Path,
    hour: str | None,
    span: list[int],
    report: ReadReport,
    skip: range | None = None,
    day: str = "",
) -> Iterator[Judged]:
    """The valid lines of UTC ``hour`` in the bytes ``span`` of ``path``, which the stats
    keep for it (``hour`` None: of every hour of the file's UTC ``day``); with ``skip``,
    lines whose minute in the hour is there are passed over unparsed when their bytes tell
    (the caller takes them from the stats).

    Other lines in the span (of other hours, bad ones) are counted by the cells and the
    stats' bad lines per day, not here.
    """
    day = day or (hour or "")[:10]
    judge = judge_line
    hour_bytes = (hour or "").encode()
    try:
        for block in ForwardBlocks(path, span[0], span[1]):
            lines = block.split(b"\n")
            lines.pop()
            report.lines_read += len(lines)
            for line in lines:
                if skip is not None:
                    minute = _quick_minute(line, hour_bytes)
                    if minute is not None and (minute < 0 or minute in skip):
                        continue
                judged = judge(line, day)
                if isinstance(judged, tuple) and (hour is None or utc_hour(judged) == hour):
                    yield judged
    except OSError as exc:
        raise unreadable(path, exc) from None
