"""Read-only access to a token log directory: events in order, newest first, or aggregated.

Depends only on the file format (``_format``, ``_stats``, ``_statsfile``), never on the writer:
it works on directories written by other processes, other versions, or copied from a server.
Nothing here writes, renames or repairs a file. Bad lines (torn by a crash, garbage, a field
of the wrong type) are skipped and counted in a :class:`ReadReport`, never raised.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from asynctokens import _statsfile
from asynctokens._errors import LogDirError
from asynctokens._format import (
    PROMPT_BANDS,
    daily_files,
    decode_line,
    event_values,
    parse_ts,
    resolve_log_dir,
)
from asynctokens._stats import Aggregate

UTC: Final = _dt.UTC
_CHUNK: Final = 4 << 20
_MAX_SAMPLES: Final = 10

DateLike = _dt.date | _dt.datetime | str | None


@dataclass
class ReadReport:
    """What a read met besides good events: the CLI turns this into one warning line."""

    files_read: int = 0
    lines_read: int = 0
    bad_lines: int = 0
    samples: list[str] = field(default_factory=list)  # "file:line: reason", the first few

    def bad(self, path: Path, lineno: int, reason: str) -> None:
        self.bad_lines += 1
        if len(self.samples) < _MAX_SAMPLES:
            self.samples.append(f"{path.name}:{lineno}: {reason}")

    def add(self, other: ReadReport) -> None:
        """Count another read's findings in this one (samples still capped)."""
        self.files_read += other.files_read
        self.lines_read += other.lines_read
        self.bad_lines += other.bad_lines
        self.samples.extend(other.samples[: _MAX_SAMPLES - len(self.samples)])


@dataclass(frozen=True)
class TimeRange:
    """A half-open range of instants [start, end); None means unbounded on that side."""

    start: _dt.datetime | None = None
    end: _dt.datetime | None = None

    def utc_days(self) -> tuple[str | None, str | None]:
        """The first and last UTC file day that can hold events of this range."""
        first = self.start.astimezone(UTC).date().isoformat() if self.start else None
        last = None
        if self.end is not None:
            last = (self.end - _dt.timedelta(microseconds=1)).astimezone(UTC).date().isoformat()
        return first, last

    def contains(self, ts: _dt.datetime) -> bool:
        return (self.start is None or ts >= self.start) and (self.end is None or ts < self.end)

    @property
    def whole_utc_days(self) -> bool:
        """True when both ends fall on UTC midnight, so file days alone decide membership."""
        return all(
            t is None or (t.astimezone(UTC).time() == _dt.time(0) and t.utcoffset() is not None)
            for t in (self.start, self.end)
        )


def get_timezone(name: str | None) -> _dt.tzinfo:
    """A tzinfo from an IANA name ("Europe/Lisbon"), "UTC" or "local"; ValueError if unknown."""
    if name is None or name.upper() == "UTC":
        return UTC
    if name == "local":
        local = _dt.datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Lisbon', 'UTC' or"
            " 'local'"
        ) from None


def _to_instant(value: DateLike, tz: _dt.tzinfo, *, end: bool) -> _dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = (
                _dt.date.fromisoformat(value)
                if len(value) == 10
                else _dt.datetime.fromisoformat(value)
            )
        except ValueError:
            raise ValueError(
                f"bad date {value!r}: use YYYY-MM-DD or an ISO 8601 date-time"
            ) from None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    day = value + _dt.timedelta(days=1) if end else value
    return _dt.datetime.combine(day, _dt.time(0), tzinfo=tz)


def time_range(since: DateLike = None, until: DateLike = None, tz: _dt.tzinfo = UTC) -> TimeRange:
    """Dates are whole days in ``tz``, both ends included; date-times are exact instants."""
    start = _to_instant(since, tz, end=False)
    end = _to_instant(until, tz, end=True)
    if start and end and start >= end:
        raise ValueError(f"--since ({since}) must be before --until ({until})")
    return TimeRange(start, end)


def open_log_dir(log_dir: str | os.PathLike[str] | None) -> Path:
    """The directory to read, checked: LogDirError says what is wrong and what to do."""
    path = resolve_log_dir(log_dir)
    if not path.exists():
        raise LogDirError(
            f"log directory {str(path)!r} does not exist: pass --log-dir, or set"
            " ASYNCTOKENS_LOG_DIR, to where your tracker writes"
        )
    if not path.is_dir():
        raise LogDirError(
            f"{str(path)!r} is not a directory: pass the folder holding tokens_*.jsonl"
        )
    try:
        files = daily_files(path)
    except PermissionError:
        raise LogDirError(f"cannot read directory {str(path)!r}: permission denied") from None
    if not files:
        raise LogDirError(
            f"no tokens_YYYY-MM-DD.jsonl files in {str(path)!r}: nothing has been logged there yet"
        )
    return path


def _selected_files(log_dir: Path, rng: TimeRange) -> list[tuple[str, Path]]:
    first, last = rng.utc_days()
    return [
        (day, path)
        for day, path in daily_files(log_dir)
        if (first is None or day >= first) and (last is None or day <= last)
    ]


def _unreadable(path: Path, exc: OSError) -> LogDirError:
    return LogDirError(f"cannot read {str(path)!r}: {exc.strerror or exc}")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""  # removed between listing and reading: nothing to read
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _decode_file(data: bytes, path: Path, report: ReadReport) -> Iterator[dict[str, Any]]:
    """Events of one file's bytes; an unterminated last line is a torn write, counted bad."""
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with "\n"
    report.lines_read += len(lines)
    loads, values_of = orjson.loads, event_values
    for lineno, line in enumerate(lines, 1):
        try:
            obj = loads(line)
        except orjson.JSONDecodeError:
            if line.strip():  # a blank line is no event and no error
                report.bad(path, lineno, "not a valid event line")
            continue
        if values_of(obj) is None:
            report.bad(path, lineno, "missing or invalid field")
        else:
            yield obj
    if tail.strip():
        report.lines_read += 1
        report.bad(path, len(lines) + 1, "unterminated last line (a write cut short)")


def iter_events(
    log_dir: str | os.PathLike[str] | None = None,
    since: DateLike = None,
    until: DateLike = None,
    *,
    tz: _dt.tzinfo = UTC,
    report: ReadReport | None = None,
) -> Iterator[dict[str, Any]]:
    """Every valid event in file order (oldest day first), within [since, until].

    ``since``/``until``: a date (whole day in ``tz``, both included), an aware date-time
    (exact instant, ``until`` excluded) or a string of either. Only files whose UTC day can
    overlap the range are opened.
    """
    return _ranged(log_dir, since, until, tz, report, newest_first=False)


def _ranged(
    log_dir: str | os.PathLike[str] | None,
    since: DateLike,
    until: DateLike,
    tz: _dt.tzinfo,
    report: ReadReport | None,
    *,
    newest_first: bool,
) -> Iterator[dict[str, Any]]:
    """The events of the files the range selects, oldest first or newest first."""
    path = open_log_dir(log_dir)
    rng = time_range(since, until, tz)
    report = report if report is not None else ReadReport()
    exact = rng.whole_utc_days  # file days alone decide; no ts needs parsing
    files = _selected_files(path, rng)
    for _, file_path in reversed(files) if newest_first else files:
        report.files_read += 1
        events = (
            _reverse_events(file_path, report)
            if newest_first
            else _decode_file(_read_bytes(file_path), file_path, report)
        )
        for event in events:
            if exact or _in_range(event, rng, file_path, report):
                yield event


def _in_range(event: dict[str, Any], rng: TimeRange, path: Path, report: ReadReport) -> bool:
    try:
        return rng.contains(parse_ts(event["ts"]))
    except ValueError:
        report.bad(path, 0, f"bad ts {event['ts']!r}")
        return False


def iter_recent(
    log_dir: str | os.PathLike[str] | None = None,
    since: DateLike = None,
    until: DateLike = None,
    *,
    tz: _dt.tzinfo = UTC,
    report: ReadReport | None = None,
) -> Iterator[dict[str, Any]]:
    """Events newest first (in file order, backwards), reading files from their end.

    ``recent -n 20`` touches only the last few kilobytes of the newest file, however large
    the directory is. With a range, only the files whose day can overlap it are read.
    """
    return _ranged(log_dir, since, until, tz, report, newest_first=True)


def _reverse_events(path: Path, report: ReadReport) -> Iterator[dict[str, Any]]:
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _unreadable(path, exc) from None
    with f:
        end = f.seek(0, os.SEEK_END)
        carry = b""
        first_block = True
        while end > 0:
            start = max(0, end - (64 << 10))
            f.seek(start)
            block = f.read(end - start) + carry
            end = start
            lines = block.split(b"\n")
            carry = lines.pop(0) if start > 0 else b""
            if first_block:
                first_block = False
                tail = lines.pop() if lines else b""
                if tail.strip():
                    report.bad(path, 0, "unterminated last line (a write cut short)")
            for line in reversed(lines):
                if not line.strip():
                    continue
                report.lines_read += 1
                event = decode_line(line)
                if event is None:
                    report.bad(path, 0, "not a valid event line")
                else:
                    yield event


def aggregate(
    log_dir: str | os.PathLike[str] | None = None,
    since: DateLike = None,
    until: DateLike = None,
    *,
    tz: _dt.tzinfo = UTC,
    report: ReadReport | None = None,
    bands: tuple[int, ...] = PROMPT_BANDS,
) -> Aggregate:
    """Counters per (day in ``tz``, api_type, model, prompt band, UTC day) over the range.

    With whole UTC days (the default time zone) and the stats file's prompt bands this comes
    from ``token_stats.json`` plus whatever was appended since it was written, without
    scanning; otherwise the files of the range are scanned, each event's day is taken in
    ``tz`` and its prompt is banded by ``bands``.
    """
    path = open_log_dir(log_dir)
    rng = time_range(since, until, tz)
    report = report if report is not None else ReadReport()
    if tz is UTC and rng.whole_utc_days and bands == PROMPT_BANDS:
        snap = _statsfile.current(path)
        first, last = rng.utc_days()
        days = {
            d for d, _ in daily_files(path) if (not first or d >= first) and (not last or d <= last)
        }
        agg = snap.agg.filtered(days=days) if (first or last) else snap.agg
        report.bad_lines += snap.agg.invalid_lines
        report.files_read += len(days)
        return agg
    agg = Aggregate(bands)
    days_of = _Days(tz)
    for event in iter_events(path, since, until, tz=tz, report=report):
        local_and_utc = days_of(event["ts"])
        if local_and_utc is None:  # no instant, so no day in any zone: a bad line, said so
            report.bad(path, 0, f"bad ts {event['ts']!r}")
            continue
        agg.add_event(event, *local_and_utc)
    return agg


class _Days:
    """ts text -> (day in the zone, UTC day), cached per minute (offsets change on minutes)."""

    def __init__(self, tz: _dt.tzinfo) -> None:
        self.tz = tz
        self.cache: dict[str, tuple[str, str] | None] = {}

    def __call__(self, ts: str) -> tuple[str, str] | None:
        """None when ``ts`` is no instant: such a line has no day in any zone."""
        key = ts[:16] if ts.endswith("+00:00") else ts
        if key in self.cache:
            return self.cache[key]
        days: tuple[str, str] | None
        try:
            instant = parse_ts(ts)
            days = (
                instant.astimezone(self.tz).date().isoformat(),
                instant.astimezone(UTC).date().isoformat(),
            )
        except ValueError:
            days = None
        if len(self.cache) > 100_000:
            self.cache.clear()
        self.cache[key] = days
        return days
