"""A range of time in a zone, and the days of an instant: what the reader and the stats
both ask (which lines a report wants, which day of the report's zone a line counts in).

Below both: the stats answer "these cells and pieces for this range in this zone", the reader
asks; neither plans with the other's types.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC: Final = _dt.UTC


DateLike = _dt.date | _dt.datetime | str | None


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

    def holds_day(self, utc_day: str) -> bool:
        """Whether the range holds the start of a UTC day: where that day's bad lines count.

        A bad line has no instant of its own; it belongs to its file's UTC day, dated at its
        first instant. So any split of time into ranges (days of any zone) counts each bad
        line exactly once, and whole UTC days count exactly their own.
        """
        return self.contains(_dt.datetime.fromisoformat(utc_day).replace(tzinfo=UTC))

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


def _parse_date(value: str) -> _dt.date | _dt.datetime:
    """A date (``2026-03-28``, ``20260328``) when the text is one, else an ISO date-time."""
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return _dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"bad date {value!r}: use YYYY-MM-DD or an ISO 8601 date-time") from None


def _to_instant(value: DateLike, tz: _dt.tzinfo, *, end: bool) -> _dt.datetime | None:
    """The UTC instant a bound stands for; None (unbounded) past the calendar's ends.

    ``--until 9999-12-31`` ends at year 10000 and ``--since 0001-01-01`` east of UTC starts
    before year 1: no event can lie beyond either, so such a bound is no bound.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = _parse_date(value)
    try:
        if isinstance(value, _dt.datetime):
            instant = value if value.tzinfo else value.replace(tzinfo=tz)
        else:
            day = value + _dt.timedelta(days=1) if end else value
            instant = _dt.datetime.combine(day, _dt.time(0), tzinfo=tz)
        return instant.astimezone(UTC)
    except OverflowError:
        return None


def time_range(since: DateLike = None, until: DateLike = None, tz: _dt.tzinfo = UTC) -> TimeRange:
    """Dates are whole days in ``tz``, both ends included; date-times are exact instants."""
    start = _to_instant(since, tz, end=False)
    end = _to_instant(until, tz, end=True)
    if start and end and start >= end:
        raise ValueError(f"--since ({since}) must be before --until ({until})")
    return TimeRange(start, end)


class DayOf:
    """(ts text, its instant) -> [day in the zone, UTC day], cached per minute of UTC text.

    A minute is cached only when the whole of it lies in one day of the zone: an offset with
    seconds (Africa/Monrovia's -0:44:30 until 1972, the local mean times before) starts a day
    inside a minute, and the instants of that minute are then judged one by one."""

    def __init__(self, tz: _dt.tzinfo) -> None:
        self.tz = tz
        self.cache: dict[str, tuple[str, str]] = {}

    def __call__(self, ts: str, instant: _dt.datetime) -> tuple[str, str]:
        key = ts[:16] if ts.endswith("+00:00") else ts
        days = self.cache.get(key)
        if days is None:
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=UTC)
            utc = instant.astimezone(UTC)
            try:
                local = instant.astimezone(self.tz)
            except OverflowError:  # year 1 or 9999 seen from a zone across the edge
                local = utc
            days = (local.date().isoformat(), utc.date().isoformat())
            if len(key) == 16 and not self._one_day(utc):
                return days  # a day of the zone begins inside this minute
            if len(self.cache) > 100_000:
                self.cache.clear()
            self.cache[key] = days
        return days

    def _one_day(self, utc: _dt.datetime) -> bool:
        """Whether the UTC minute of ``utc`` lies in one day of the zone."""
        first = utc.replace(second=0, microsecond=0)
        try:
            last = first + _dt.timedelta(seconds=59, microseconds=999_999)
            return first.astimezone(self.tz).date() == last.astimezone(self.tz).date()
        except OverflowError:  # year 1 or 9999 seen from a zone across the edge
            return True
