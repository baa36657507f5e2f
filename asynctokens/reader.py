"""``asynctokens.reader``.

Reading a token log directory: events in order, the newest calls, the cells a report sums.

The public face of ``asynctokens.read.reader`` (the read side's package): the names here are
the API; the module behind them may change.
"""

from __future__ import annotations

from asynctokens.read.reader import DateLike as DateLike
from asynctokens.read.reader import ReadReport as ReadReport
from asynctokens.read.reader import TimeRange as TimeRange
from asynctokens.read.reader import aggregate as aggregate
from asynctokens.read.reader import get_timezone as get_timezone
from asynctokens.read.reader import iter_events as iter_events
from asynctokens.read.reader import iter_recent as iter_recent
from asynctokens.read.reader import open_log_dirs as open_log_dirs
from asynctokens.read.reader import time_range as time_range

__all__ = [
    "DateLike",
    "ReadReport",
    "TimeRange",
    "aggregate",
    "get_timezone",
    "iter_events",
    "iter_recent",
    "open_log_dirs",
    "time_range",
]
