"""One batch of records -> one locked append per daily file, and the stats update.

Synchronous on purpose: the tracker runs it on a worker thread (or its own background
thread), so encoding and file I/O never run on the application's event loop. A batch is
encoded once into bytes per day; if the append fails, those exact bytes are kept and retried,
so a retry cannot assign new event ids or duplicate lines.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from asynctokens.record import _files
from asynctokens.record._dims import dims_text
from asynctokens.record._event import BARE_REST, MIN_KEY_CHARS_FOR_SUFFIX, Extra, Record
from asynctokens.record._format import (
    PROMPT_BANDS,
    daily_file_name,
    new_second_cache,
    quarter_of,
)
from asynctokens.record._providers import provider_of
from asynctokens.stats import _update
from asynctokens.stats._fold import (
    CACHE_WRITE,
    CACHE_WRITE_1H,
    CACHED,
    COMPLETION,
    PROMPT,
    REASONING,
    REQUESTS,
    SUCCESSES,
    WIDTH,
    Aggregate,
    band_of,
    by_hour,
)
from asynctokens.stats._store import OwnRange, widen_span
from asynctokens.writer._debuglog import DebugLog

_DUMPS_OPTS: Final = orjson.OPT_APPEND_NEWLINE
_FIRST_BAND: Final = PROMPT_BANDS[0]


_NULLS: Final = ("null", "null", "null", "null")
_dumps: Final = orjson.dumps
_MIN_KEY: Final = MIN_KEY_CHARS_FOR_SUFFIX
#: A name no record holds: the loop's "look the names up again" (None is a real api_type value
#: there: one the caller left out).
_UNSEEN: Final = object()


def _optional_json(
    error: str | None,
    latency: float | None,
    suffix: str | None,
    request_id: str | None,
    quote: Any,
) -> tuple[str, str, str, str] | None:
    """error, latency, key suffix and request id as orjson writes them, or None when only
    the dict path can write them (a string with a lone surrogate, which it repairs).

    Each is orjson's own text (the latency too: cheaper than ``repr`` and equal to the dict
    path's by construction), the key suffix through the writer's cache of quoted names.
    """
    try:
        err_j = "null" if error is None else _dumps(error).decode()
        rid_j = "null" if request_id is None else _dumps(request_id).decode()
    except TypeError:  # a lone surrogate
        return None
    suf_j = "null" if suffix is None else quote(suffix)  # few distinct keys: cached
    if suf_j is None:
        return None
    return err_j, "null" if latency is None else _dumps(latency).decode(), suf_j, rid_j


def json_quoter() -> Callable[[str], str | None]:
    """A function giving ``text`` as a JSON string literal, None if JSON cannot hold it (a
    lone surrogate: the dict path repairs it); cached, since a writer sees few names."""
    quoted: dict[str, str] = {}

    def quote(text: str) -> str | None:
        found = quoted.get(text)
        if found is None:
            try:
                found = orjson.dumps(text).decode()
            except TypeError:
                return None
            if len(quoted) > 10_000:
                quoted.clear()
            quoted[text] = found
        return found

    return quote


def encode_line(event: dict[str, Any]) -> str:
    """The line of an event, repairing strings orjson refuses; TypeError if hopeless.

    Lone surrogates (from bad decoding upstream) are the one thing the call-site checks let
    through that JSON cannot hold: each becomes U+FFFD and the event is kept.
    """
    try:
        return orjson.dumps(event, option=_DUMPS_OPTS).decode()
    except TypeError:
        pass
    for key, value in event.items():
        if type(value) is str:
            event[key] = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return orjson.dumps(event, option=_DUMPS_OPTS).decode()


def _add_extra(event: dict[str, Any], extra: Extra) -> None:
    """The served model, tier, labels, 1-hour cache writes and unknown counts a record
    carries, as the line's fields (only those known: a reader of the line tells "not said"
    from a value)."""
    response_model, tier, labels, one_hour, unknown = extra
    if response_model is not None:
        event["response_model"] = response_model
    if tier is not None:
        event["service_tier"] = tier
    if labels:
        event["labels"] = labels
    if one_hour:
        event["cache_write_1h_tokens"] = one_hour
    if unknown:
        event["counts_unknown"] = True


class _Chunk:
    """The encoded lines of one day from one batch, waiting to be appended."""

    __slots__ = ("agg", "count", "data", "day", "hours", "marks", "parts")

    def __init__(self, day: str) -> None:
        self.day = day
        self.parts: list[str] = []  # lines while the batch is encoded, then joined into data
        #: (index into parts, UTC hour): from that part on, the lines are of that hour
        self.marks: list[tuple[int, str]] = []
        self.data = b""
        self.agg = Aggregate()
        self.count = 0
        #: UTC hour -> [start, end): the bytes of data that hold its lines (the stats' spans)
        self.hours: dict[str, list[int]] = {}

    def seal(self) -> None:
        """Join the lines into bytes and say where each hour's lines lie in them."""
        parts, marks = self.parts, self.marks
        self.data = "".join(parts).encode()
        if not self.data:  # every event of the chunk was refused: no line, no span
            self.hours = {}
        elif len({hour for _, hour in marks}) == 1:  # the usual chunk: one hour
            self.hours = {marks[0][1]: [0, len(self.data)]}
        else:  # a backfill or an hour's turn: byte offsets at the marks
            bounds = [index for index, _ in marks[1:]] + [len(parts)]
            pos = i = 0
            for (_, hour), bound in zip(marks, bounds, strict=True):
                start = pos
                for part in parts[i:bound]:
                    pos += len(part) if part.isascii() else len(part.encode())
                i = bound
                if pos > start:
                    widen_span(self.hours, hour, start, pos)
        self.parts, self.marks = [], []


class BatchWriter:
    """Encodes records and appends them; remembers what it appended for the stats update."""

    def __init__(self, log_dir: Path, *, file_mode: int, dir_mode: int, host: str | None = None,
                 label_keys: Sequence[str] | None = None) -> None:  # fmt: skip
        self.log_dir = log_dir
        self.host = host
        #: the label keys the stats keep (None: all): ``_update.encode_month``
        self.label_keys = None if label_keys is None else frozenset(label_keys)
        # the line's last field, JSON-quoted once: "host" names the machine for reports
        # over many hosts' directories (docs/FORMAT.md); empty when left out
        self._host_tail = "" if host is None else f',"host":{orjson.dumps(host).decode()}'
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self.pid = os.getpid()
        # pid alone repeats across containers, hosts and reboots; 8 random bytes (64 bits)
        # keep ids unique across a fleet's directories merged over years, where reports
        # drop duplicates by event_id
        self._id_prefix = f"{self.pid:x}.{os.urandom(8).hex()}-"
        self._next_id = 0
        self._clock = new_second_cache()
        self._pending: deque[_Chunk] = deque()
        # Kept beside the deque: health() reads it from other threads, where iterating the
        # deque while the worker appends raises "deque mutated during iteration".
        self._pending_count = 0
        self._own: dict[str, list[OwnRange]] = {}
        self.written = 0
        #: Everything this writer has appended, for a summary that needs no file (on a loop).
        self.totals = Aggregate()
        self._quote = json_quoter()
        self.rejected = 0  # events no encoding could write (none known; counted, not hidden)
        self.debug_log = DebugLog(self.log_dir, self.pid, self.file_mode)

    @property
    def pending_events(self) -> int:
        return self._pending_count

    @property
    def stats_dirty(self) -> bool:
        return bool(self._own)

    def add_batch(self, records: list[Record]) -> None:
        """Encode records into per-day chunks queued for :meth:`write_pending`.

        The hottest loop of the writer (docs/PERF.md: per-event work on the writer is what
        lets a queue grow on 2 cores; py-spy put the dict build and ``orjson.dumps`` at 28 %
        of an end-to-end run). A record without metadata is written through one f-string
        template whose provider and model were JSON-quoted by orjson when first seen and
        whose optional fields (latency, request id, key, an error) come from
        :func:`_optional_json`: byte-identical to ``orjson.dumps`` of the dict, in about 60 %
        of the time; a bare call's record (``_event.BareRecord``) needs none of them.
        Metadata, and a string with a lone surrogate, take the dict path. Timestamp text,
        day and stats cell are recomputed only when their inputs change.
        """
        chunks: dict[str, _Chunk] = {}
        second, quote = self._clock.second, self._quote
        prefix, pid, n, host_tail = self._id_prefix, self.pid, self._next_id, self._host_tail
        host = self.host or ""
        base, sec_dot, day, hour, period = -(10**18), "", "", "", ""
        parts: list[str] = []
        parts_append = parts.append
        marks: list[tuple[int, str]] = []
        long_cells: dict[int, list[int]] = {}
        agg = Aggregate()
        cell: list[int] = []
        # _UNSEEN, not None, forces the names to be looked up again: None is an api_type
        # left out by the caller (read from the model name here)
        last_api: object = _UNSEEN
        last_model: str | None = None
        api_name = ""
        api_q: str | None = None
        model_q: str | None = None
        names_j = ""
        # what follows the last varying field: the same on every line of this writer
        tail = f'"metadata":{{}},"pid":{pid}{host_tail}}}\n'
        bare_tail = (
            '"cached_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"success":true,'
            '"error_message":null,"latency_ms":null,"api_key_suffix":null,"request_id":null,' + tail
        )
        for record in records:
            if len(record) == 5:  # _event.BareRecord: every optional field at its default
                bare = True
                ts, p, c, api, model = record
            else:
                bare = False
                (
                    ts, p, c, api, model, success, error, cached, cache_write, reasoning,
                    latency, api_key, request_id, meta, extra,
                ) = record  # fmt: skip
            off = ts - base
            if not 0 <= off < 1_000_000_000:
                s = ts // 1_000_000_000
                try:
                    sec_text, new_day = second(s)
                except (ValueError, OverflowError) as exc:
                    # checked at the call (1970 to 9999), so only a bug gets here: this
                    # event alone is lost, counted and said, never its batch
                    self.rejected += 1
                    self.debug(f"event {prefix}{n} has a time no file can hold ({ts} ns): {exc}")
                    n += 1
                    continue
                base, off = s * 1_000_000_000, ts - s * 1_000_000_000
                sec_dot = sec_text + "."
                turned = sec_text[:13] != hour or new_day != day
                now = sec_text[:14] + quarter_of(sec_text[14:16])
                if now != period:  # cells are per UTC quarter hour: look the cell up again
                    period, hour, last_api = now, sec_text[:13], _UNSEEN
                if new_day != day:
                    day = new_day
                    chunk = chunks.get(day)
                    if chunk is None:
                        chunk = chunks[day] = _Chunk(day)
                    parts, agg, marks, last_api = chunk.parts, chunk.agg, chunk.marks, _UNSEEN
                    parts_append = parts.append
                if turned:  # where this hour's lines begin in the chunk
                    marks.append((len(parts), hour))
            if api is not last_api or model is not last_model:
                last_api, last_model = api, model
                api_name = provider_of(model) if api is None else api
                api_q, model_q = quote(api_name), quote(model)  # None if not valid Unicode
                # no cell under a name JSON cannot hold: such events are repaired below
                valid = api_q is not None and model_q is not None
                cell = agg.cell(period, api_name, model, 0, day, host) if valid else [0] * WIDTH
                long_cells = {}  # band -> cell, for these names in this hour
                names_j = f'"api_type":{api_q},"model":{model_q},"prompt_tokens":'
            # zero-padded microseconds without a format spec: measurably cheaper
            iso = f"{sec_dot}{str(1_000_000 + off // 1000)[1:]}+00:00"
            # the cached cell is band 0; a long prompt finds its band's (see _stats), cached too
            if p <= _FIRST_BAND or not valid:
                target = cell
            else:
                band = bisect_left(PROMPT_BANDS, p)  # _stats.band_of, without the call
                found = long_cells.get(band)
                if found is None:
                    found = long_cells[band] = agg.cell(period, api_name, model, band, day, host)
                target = found
            if bare:
                if valid:
                    parts_append(
                        f'{{"event_id":"{prefix}{n}","ts":"{iso}",{names_j}{p},'
                        f'"completion_tokens":{c},"total_tokens":{p + c},{bare_tail}'
                    )
                    n += 1
                    target[0] += 1  # _stats order: REQUESTS, SUCCESSES, PROMPT, COMPLETION
                    target[1] += 1
                    target[2] += p
                    target[3] += c
                    continue
                (
                    success, error, cached, cache_write, reasoning, latency, api_key,
                    request_id, meta, extra,
                ) = BARE_REST  # fmt: skip
            # the optional fields as JSON text, or None where only the dict path can write
            # them (a string with a lone surrogate, which the dict path repairs)
            opt: tuple[str, str, str, str] | None = _NULLS
            suffix = None
            if (
                error is not None
                or latency is not None
                or api_key is not None
                or request_id is not None
            ):
                if api_key is not None and len(api_key) >= _MIN_KEY:
                    suffix = api_key[-4:]  # queued whole by the caller: _event.key_suffix
                opt = _optional_json(error, latency, suffix, request_id, quote)
            if (
                api_q is not None
                and model_q is not None
                and meta is None
                and extra is None
                and opt is not None
            ):
                err_j, lat_j, suf_j, rid_j = opt
                # two appends of two f-strings: an f-string of more than 30 parts compiles
                # to a list and a str.join call per line, measurably slower
                parts_append(
                    f'{{"event_id":"{prefix}{n}","ts":"{iso}",{names_j}{p},'
                    f'"completion_tokens":{c},"total_tokens":{p + c},"cached_tokens":{cached},'
                    f'"cache_write_tokens":{cache_write},"reasoning_tokens":{reasoning},'
                )
                parts_append(
                    f'"success":{"true" if success else "false"},"error_message":{err_j},'
                    f'"latency_ms":{lat_j},"api_key_suffix":{suf_j},"request_id":{rid_j},{tail}'
                )
            else:
                event: dict[str, Any] = {
                    "event_id": f"{prefix}{n}",
                    "ts": iso,
                    "api_type": api_name,
                    "model": model,
                    "prompt_tokens": p,
                    "completion_tokens": c,
                    "total_tokens": p + c,
                    "cached_tokens": cached,
                    "cache_write_tokens": cache_write,
                    "reasoning_tokens": reasoning,
                    "success": success,
                    "error_message": error,
                    "latency_ms": latency,
                    "api_key_suffix": suffix,
                    "request_id": request_id,
                    "metadata": {} if meta is None else orjson.Fragment(meta),
                    "pid": pid,
                }
                if self.host is not None:
                    event["host"] = self.host
                if extra is not None:
                    _add_extra(event, extra)
                line = self._encode(event)
                if line is None:
                    n += 1  # the id stays used: ids are unique, not gap-free
                    continue
                parts_append(line)
                if (
                    event["api_type"] is not api_name
                    or event["model"] is not model
                    or extra is not None
                ):
                    target = agg.cell(  # repaired names, or a cell of the line's dimensions
                        period, event["api_type"], event["model"], band_of(p), day, host,
                        dims_text(
                            event["model"], event.get("response_model"),
                            event.get("service_tier"), event.get("labels"),
                            event.get("counts_unknown", False),
                        ),
                    )  # fmt: skip
            n += 1
            target[REQUESTS] += 1
            if success:
                target[SUCCESSES] += 1
            target[PROMPT] += p
            target[COMPLETION] += c
            if cached or cache_write or reasoning:
                target[CACHED] += cached
                target[CACHE_WRITE] += cache_write
                target[REASONING] += reasoning
                if extra is not None:
                    target[CACHE_WRITE_1H] += extra.cache_write_1h
        self._next_id = n
        for d in sorted(chunks):
            chunk = chunks[d]
            # the band-0 cell made ahead for each name stays empty when all its prompts were long
            cells = chunk.agg.cells
            for key in [k for k, v in cells.items() if not v[REQUESTS]]:
                del cells[key]
            chunk.agg = by_hour(chunk.agg)  # the stats' cells: hours, with their first quarters
            chunk.count = chunk.agg.requests()
            chunk.seal()
            self._pending.append(chunk)
            self._pending_count += chunk.count

    def _encode(self, event: dict[str, Any]) -> str | None:
        """The line of an event (:func:`encode_line`); None, counted and said, if hopeless."""
        try:
            return encode_line(event)
        except TypeError as exc:
            self.rejected += 1
            self.debug(f"could not encode event {event['event_id']}, skipped: {exc}")
            return None

    def write_pending(self) -> int:
        """Append every pending chunk; return events written. OSError leaves the rest pending."""
        done = 0
        while self._pending:
            chunk = self._pending[0]
            _files.ensure_dir(self.log_dir, self.dir_mode)
            name = daily_file_name(chunk.day)
            start, end, repaired = _files.append_lines(
                self.log_dir / name, chunk.data, self.file_mode
            )
            self._pending.popleft()
            self._pending_count -= chunk.count
            self._own.setdefault(name, []).append(OwnRange(start, end, chunk.agg, chunk.hours))
            self.totals.merge(chunk.agg, early=False)
            done += chunk.count
            if repaired:
                self.debug(f"ended a torn last line in {name} at byte {start - 1}")
        self.written += done
        self.debug_log.flush()
        return done

    def forget_own(self) -> None:
        """Drop the record of what we appended (after a failed stats update).

        The stats file folds whatever lies past the offsets it recorded, whoever wrote it,
        so the next update reads our lines from the files instead: slower, never wrong.
        """
        self._own = {}

    def update_stats(self) -> None:
        """Merge what was written into the stats files; OSError keeps it for next time."""
        _files.ensure_dir(self.log_dir, self.dir_mode)
        snap = _update.update(self.log_dir, self._own, self.file_mode, self.label_keys)
        for name in snap.stale:
            self.debug(f"{name} failed its checks (hand-edited or damaged): rebuilt from the lines")
        self._own = {}

    def debug(self, message: str) -> None:
        """A line in ``token_debug.log`` (``_debuglog``: kept for later if the disk refuses)."""
        self.debug_log.write(message)
