"""The on-disk contract shared by the writer and the reader (see docs/FORMAT.md).

Everything that decides what a byte in ``logs/tokens`` means lives here: file names, the
timestamp text, the fields of a line and how a line is judged valid. Both sides import this
module and nothing of each other, so the reader keeps working on files written by another
process, another version, or another tool.
"""

from __future__ import annotations

import datetime as _dt
import operator
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import orjson

from asynctokens.record._dims import line_dims

FORMAT_VERSION: Final = 1
#: Version of token_stats.json's layout. 2 added the prompt band to each cell, 3 the bad
#: lines per day, 4 the host to each cell, 5 cells per UTC hour in one file per month, 6 the
#: cells of a month as columns and the bytes of each daily file that hold each hour's lines,
#: 7 each hour's first 15 and 30 minutes (a ``.quarters`` file per month), 8 each cell's
#: served model, service tier and labels (``_dims``), 9 the 1-hour cache writes as an eighth
#: counter, 10 a month's labelled cells summed over the month and by day (``.totals.json``
#: and ``.days.json`` files);
#: stats of another version are rebuilt from the lines, which is how they migrate.
STATS_VERSION: Final = 10
#: The prompt sizes at which providers switch a whole request to another rate (long-context
#: tiers: every tier start in genai-prices' data and LiteLLM's ``_above_<N>k_tokens``
#: fields). Stats cells are split by how many of these a request's prompt exceeds, so a
#: report from the stats alone prices each request at its own tier. A tier at any other
#: size is still priced exactly, by a scan (see summary.load).
PROMPT_BANDS: Final = (
    32_000,
    100_000,
    128_000,
    199_999,
    200_000,
    256_000,
    272_000,
    512_000,
    524_288,
)
ENV_LOG_DIR: Final = "ASYNCTOKENS_LOG_DIR"
DEFAULT_LOG_DIR: Final = Path("logs") / "tokens"
STATS_FILE: Final = "token_stats.json"
STATS_LOCK_FILE: Final = ".token_stats.lock"
#: A month's stats files: its cells (``.json``) and its hours' first quarters (``.quarters``).
_STATS_MONTH_RE: Final = re.compile(
    r"^token_stats_(\d{4}-\d{2})\.(json|quarters|labels\.json|totals\.json|days\.json)$"
)
DEBUG_LOG_FILE: Final = "token_debug.log"
DAILY_PREFIX: Final = "tokens_"
DAILY_SUFFIX: Final = ".jsonl"

_DAILY_RE: Final = re.compile(r"^tokens_(\d{4}-\d{2}-\d{2})\.jsonl$")
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)

#: Column order of CSV exports and of the canonical event dict.
EVENT_FIELDS: Final = (
    "event_id",
    "ts",
    "api_type",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "success",
    "error_message",
    "latency_ms",
    "api_key_suffix",
    "request_id",
    "metadata",
    "pid",
    "host",
    "response_model",
    "service_tier",
    "labels",
    "cache_write_1h_tokens",
    "counts_unknown",
)


#: The fields every writer writes (read in one call), then those a line may leave out.
_CORE_FIELDS: Final = operator.itemgetter(*EVENT_FIELDS[: EVENT_FIELDS.index("host")])
_OPTIONAL_FIELDS: Final = EVENT_FIELDS[EVENT_FIELDS.index("host") :]


def event_row(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """An event's values in ``EVENT_FIELDS`` order (None for a field it leaves out): a
    CSV export's row, which the per-call pricers read by index. One itemgetter call for
    the fields every writer writes: this runs once per call exported."""
    try:
        return (*_CORE_FIELDS(event), *map(event.get, _OPTIONAL_FIELDS))
    except KeyError:  # a line from another writer that left fields out
        return tuple(event.get(name) for name in EVENT_FIELDS)


def resolve_log_dir(log_dir: str | os.PathLike[str] | None) -> Path:
    """The directory to use: the argument, else $ASYNCTOKENS_LOG_DIR, else logs/tokens."""
    if log_dir is not None:
        return Path(log_dir)
    env = os.environ.get(ENV_LOG_DIR)
    return Path(env) if env else DEFAULT_LOG_DIR


def stats_month_file(month: str) -> str:
    """The file holding the stats cells of ``YYYY-MM``."""
    return f"token_stats_{month}.json"


def stats_quarters_file(month: str) -> str:
    """The file holding the counters of each hour's first 15 and 30 minutes of ``YYYY-MM``."""
    return f"token_stats_{month}.quarters"


def stats_labels_file(month: str) -> str:
    """The file holding the stats cells of ``YYYY-MM`` with their labels, when any has one."""
    return f"token_stats_{month}.labels.json"


def stats_totals_file(month: str) -> str:
    """The file holding the month's labelled cells summed over the month (``stats._totals``)."""
    return f"token_stats_{month}.totals.json"


def stats_days_file(month: str) -> str:
    """The file holding the month's labelled cells by UTC day (``stats._totals``)."""
    return f"token_stats_{month}.days.json"


def stats_month_files(log_dir: Path) -> list[Path]:
    """Every month's stats files in ``log_dir`` (cells, labelled cells and quarters)."""
    with os.scandir(log_dir) as it:
        return sorted(Path(e.path) for e in it if _STATS_MONTH_RE.match(e.name))


def daily_file_name(day: str) -> str:
    return f"{DAILY_PREFIX}{day}{DAILY_SUFFIX}"


def day_of_file(name: str) -> str | None:
    """The ``YYYY-MM-DD`` a daily file holds, or None for any other file name.

    A name with an impossible date (``tokens_2026-13-45.jsonl``, ``tokens_2026-02-30.jsonl``)
    holds no day: no writer made it, and no event of it could belong to it.
    """
    m = _DAILY_RE.match(name)
    if m is None:
        return None
    try:
        _dt.date.fromisoformat(m.group(1))
    except ValueError:
        return None
    return m.group(1)


def daily_files(log_dir: Path) -> list[tuple[str, Path]]:
    """(day, path) of every daily file in the directory, oldest day first."""
    found = []
    with os.scandir(log_dir) as it:
        for entry in it:
            day = day_of_file(entry.name)
            if day is not None and entry.is_file():
                found.append((day, Path(entry.path)))
    found.sort()
    return found


def misnamed_files(log_dir: Path) -> list[str]:
    """Names shaped like daily files whose date is impossible: ignored, and said so."""
    with os.scandir(log_dir) as it:
        return sorted(e.name for e in it if _DAILY_RE.match(e.name) and day_of_file(e.name) is None)


class _SecondCache:
    """UTC second -> its ISO text and day, one strftime per new second.

    The writer formats every event's timestamp; events arrive in bursts within the same
    second, so caching the second's text turns a datetime construction per event into an
    integer comparison.
    """

    __slots__ = ("_secs",)

    def __init__(self) -> None:
        self._secs: dict[int, str] = {}

    def second(self, epoch_s: int) -> tuple[str, str]:
        """("YYYY-MM-DDTHH:MM:SS", "YYYY-MM-DD") of a whole UTC second since the epoch."""
        text = self._secs.get(epoch_s)
        if text is None:
            text = (_EPOCH + _dt.timedelta(seconds=epoch_s)).strftime("%Y-%m-%dT%H:%M:%S")
            if len(self._secs) > 256:
                self._secs.clear()
            self._secs[epoch_s] = text
        return text, text[:10]


def new_second_cache() -> _SecondCache:
    return _SecondCache()


def parse_ts(text: str) -> _dt.datetime:
    """The aware datetime of a line's ``ts`` (any ISO 8601 offset, naive taken as UTC)."""
    ts = _dt.datetime.fromisoformat(text)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=_dt.UTC)
    return ts


_FIELDS_READ: Final = operator.itemgetter(
    "api_type", "model", "success", "prompt_tokens", "completion_tokens", "cached_tokens",
    "cache_write_tokens", "reasoning_tokens", "total_tokens", "event_id", "ts",
)  # fmt: skip
#: (api_type, model, success, prompt, completion, cached, cache_write, reasoning,
#: cache_write_1h, host, dims): ``dims`` is the text of the line's served model, tier and
#: labels (``_dims.dims_text``).
EventValues = tuple[str, str, bool, int, int, int, int, int, int, str, str]


def event_values(obj: Any) -> EventValues | None:
    """The values reports fold of a parsed line, or None when the line is not a valid event.

    Only what reports depend on is checked: the string fields, the integer token counts
    (from 0 to what a writer can write), ``success`` and ``host`` (optional: "" when a line
    has none, as lines written before it existed), and the served model, tier and labels
    (optional, see ``_dims``). Unknown fields pass through untouched,
    as docs/FORMAT.md asks. One itemgetter call and chained identity tests: this runs for
    every line of a scan.
    """
    try:
        api, model, ok, p, c, ca, cw, r, total, event_id, ts = _FIELDS_READ(obj)
        host = obj.get("host", "")
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    if (
        type(obj) is dict
        and str is type(api) is type(model) is type(event_id) is type(ts) is type(host)
        and int is type(p) is type(c) is type(ca) is type(cw) is type(r) is type(total)
        # every count >= 0 and < 2**41 in one test (a negative one shifts to -1): the writer
        # never writes a count of 2**40 or more (_event.TOKENS_LIMIT) nor so a total of
        # 2**41, so a larger one was edited in, and sums of such lines would overflow the
        # 64 bits the stats file holds
        and not (p | c | ca | cw | r | total) >> 41
        and (ok is True or ok is False)
    ):
        dims = line_dims(model, obj)
        one_hour = obj.get("cache_write_1h_tokens", 0)
        if dims is not None and type(one_hour) is int and 0 <= one_hour <= cw:
            return api, model, ok, p, c, ca, cw, r, one_hour, host, dims
    return None


Judged = tuple[dict[str, Any], EventValues, _dt.datetime]
_fromisoformat: Final = _dt.datetime.fromisoformat


def judge_line(line: bytes, day: str) -> Judged | str | None:
    """THE judgement of one complete line of the daily file of UTC ``day``.

    ``(event, values, instant)`` for a valid event, None for a blank line (no event, no
    error), else the reason the line is bad. Valid means: JSON, the fields reports depend on
    (:func:`event_values`), and a ``ts`` that is an instant within the file's UTC day, which
    is where a writer puts every event (docs/FORMAT.md). So an event's day is the day of its
    ``ts`` on every path: the stats fold may use the file's day, and a scan of a range
    needs to open only the files of its days. The stats fold, scans and ``recent`` all call
    this; a bad line belongs to its file's day.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not a valid event line" if line.strip() else None
    values = event_values(obj)
    if values is None:
        return "missing or invalid field"
    ts = obj["ts"]
    try:
        instant = _fromisoformat(ts)
    except ValueError:
        return f"ts {ts[:40]!r} is no ISO 8601 instant"
    if ts[:10] == day and ts.endswith("+00:00"):  # as writers write it: no conversion
        return obj, values, instant
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=_dt.UTC)
    try:
        utc_day = instant.astimezone(_dt.UTC).date().isoformat()
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC instant
        utc_day = ""
    if utc_day != day:
        return f"ts {ts[:40]!r} is not in the file's UTC day"
    return obj, values, instant


#: A minute's text -> the start of its quarter hour.
_QUARTER: Final = {f"{m:02d}": f"{m - m % 15:02d}" for m in range(60)}


def quarter_of(minute: str) -> str:
    """``MM`` -> the ``MM`` its quarter hour starts at (``"37"`` -> ``"30"``)."""
    return _QUARTER[minute]


def utc_minute(judged: Judged) -> tuple[str, str]:
    """The UTC hour (``YYYY-MM-DDTHH``) and minute (``MM``) of a valid line: the stats
    fold's cell, and which of the hour's early counters it adds to."""
    ts: str = judged[0]["ts"]
    if ts.endswith("+00:00") and ts[10:11] == "T" and ts[13:14] == ":":  # as writers write it
        return ts[:13], ts[14:16]
    utc = judged[2].astimezone(_dt.UTC)  # another offset, or naive (made aware by judging)
    return utc.strftime("%Y-%m-%dT%H"), f"{utc.minute:02d}"


def utc_hour(judged: Judged) -> str:
    """The UTC hour (``YYYY-MM-DDTHH``) of a valid line: the stats' cell and span key."""
    ts: str = judged[0]["ts"]
    if ts.endswith("+00:00") and ts[10:11] == "T":  # as writers write it
        return ts[:13]
    # another offset, or naive (UTC): the judgement made it an aware instant
    return judged[2].astimezone(_dt.UTC).strftime("%Y-%m-%dT%H")
