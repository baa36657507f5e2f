"""Bringing a directory's stats up to date with its lines, and writing them.

``current()`` loads the index, checks it against the daily files (a file that shrank or
vanished, an index of another version: rebuild from offset 0) and folds whatever lies past
the recorded offsets, whoever wrote it. ``update()`` does the same under the stats lock and
rewrites the index and the months it touched: every file is written first, then each is
renamed into place, each month's quarters file first, then its labels, days and totals files
(when a cell has labels), then its month file, and the index last, so a reader never sees a
file naming one that is not there yet, and meets files of two updates only for the
microseconds of the renames. A writer passes the ranges it appended itself (``OwnRange``),
with their folds, so in the common one-process case nothing is read back.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from asynctokens.record import _files
from asynctokens.record._format import (
    PROMPT_BANDS,
    STATS_FILE,
    STATS_LOCK_FILE,
    STATS_VERSION,
    daily_files,
    judge_line,
    stats_days_file,
    stats_labels_file,
    stats_month_file,
    stats_month_files,
    stats_quarters_file,
    stats_totals_file,
    utc_minute,
)
from asynctokens.record._lines import ForwardBlocks
from asynctokens.stats._fold import WIDTH, Aggregate, cap_labels
from asynctokens.stats._month import (
    EARLY,
    QUARTERS_MAGIC,
    TOKEN_BYTES,
    StaleStats,
    columns_of,
    has_labels,
    valid_counts,
    without_labels_of,
)
from asynctokens.stats._pinned import read_bytes
from asynctokens.stats._store import OwnRange, Snapshot, widen_span
from asynctokens.stats._totals import encode_totals


def load(log_dir: Path) -> Snapshot | None:
    """The index; None when it is missing or of another version (rebuilt: its migration);
    ``StaleStats`` when it is corrupt or fails its checks (rebuilt, and said)."""
    try:
        raw = read_bytes(log_dir / STATS_FILE)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a directory in its place, no permission: the lines decide
        raise StaleStats(STATS_FILE) from exc
    try:
        obj = orjson.loads(raw)
        if obj.get("format_version") != STATS_VERSION or obj.get("prompt_bands") != list(
            PROMPT_BANDS
        ):
            return None  # an older layout: rebuilt from the lines, its migration
        offsets = obj["files"]
        months = obj["months"]
        if (
            not isinstance(offsets, dict)
            or not all(type(v) is int and v >= 0 for v in offsets.values())
            or not isinstance(months, dict)
        ):
            raise StaleStats(STATS_FILE)
        rows = {m: months[m]["rows"] for m in months}
        invalid = {m: months[m]["invalid_lines_by_day"] for m in months}
        for m in months:
            if not _valid_rows(rows[m]) or not isinstance(invalid[m], dict):
                raise StaleStats(STATS_FILE)
        # each month's generation: the token its month file carries (absent from an index of
        # an earlier writer, whose months are then matched by their totals only)
        tokens = {m: months[m]["token"] for m in months if "token" in months[m]}
        if not all(type(t) is str for t in tokens.values()):
            raise StaleStats(STATS_FILE)
        heads = obj.get("file_heads", {})  # absent from an index of an earlier writer
        if type(heads) is not dict or not all(type(v) is int for v in heads.values()):
            raise StaleStats(STATS_FILE)
    except (orjson.JSONDecodeError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise StaleStats(STATS_FILE) from exc
    snap = Snapshot(log_dir, offsets, rows, invalid)
    snap.heads = {name: h for name, h in heads.items() if name in offsets}
    snap.tokens = tokens
    return snap


def _valid_rows(rows: Any) -> bool:
    """A month's rows in the index (counters per model, api, day and host), each as a
    writer writes them: what the writer's summary and the next update believe."""
    if type(rows) is not dict:
        return False
    for by_name in rows.values():
        if type(by_name) is not dict:
            return False
        counts = list(by_name.values())
        if counts and (
            not all(type(c) is list and len(c) == WIDTH for c in counts)
            or not valid_counts(list(map(list, zip(*counts, strict=True))))
        ):
            return False
    return True


def fold_lines(
    agg: Aggregate, block: bytes, day: str, spans: dict[str, list[int]] | None = None, at: int = 0
) -> None:
    """Fold the complete lines of ``block`` (it ends with ``\\n``) into hourly cells.

    With ``spans`` (the file's, by hour), each valid line widens its hour's span; ``at`` is
    the block's offset in the file.
    """
    judge, add = judge_line, agg.add_in_hour
    lines = block.split(b"\n")
    lines.pop()
    bad = 0
    pos = at
    for line in lines:
        judged = judge(line, day)
        end = pos + len(line) + 1
        if isinstance(judged, tuple):
            ts = judged[0]["ts"]  # utc_minute, inlined for the lines as writers write them
            if ts.endswith("+00:00") and ts[10:11] == "T" and ts[13:14] == ":":
                hour, minute = ts[:13], ts[14:16]
            else:
                hour, minute = utc_minute(judged)
            add(hour, minute, *judged[1], day)
            if spans is not None:  # widen_span, inlined: this runs for every line folded
                span = spans.get(hour)
                if span is None:
                    spans[hour] = [pos, end]
                else:
                    if pos < span[0]:
                        span[0] = pos
                    if end > span[1]:
                        span[1] = end
        elif judged is not None:
            bad += 1
        pos = end
    if bad:
        agg.add_invalid(day, bad)


def _widen(spans: dict[str, list[int]], own: OwnRange) -> None:
    """Each hour of ``own`` has lines within its range, placed in the file."""
    for hour, (first, last) in own.hours.items():
        widen_span(spans, hour, own.start + first, own.start + last)


def _fold_file(
    agg: Aggregate,
    path: Path,
    day: str,
    start: int,
    stop: int | None,
    spans: dict[str, list[int]] | None = None,
) -> ForwardBlocks:
    """Fold complete lines of ``path`` from ``start`` up to ``stop`` (None: end of file).

    The result's ``end`` is the offset after the last line folded; an unfinished tail is
    left for later (its ``unfinished`` bytes).
    """
    blocks = ForwardBlocks(path, start, stop)
    for block in blocks:
        fold_lines(agg, block, day, spans, blocks.end - len(block))
    return blocks


def catch_up(
    log_dir: Path,
    snap: Snapshot,
    own: Mapping[str, list[OwnRange]] | None = None,
    unfinished: list[str] | None = None,
) -> bool:
    """Fold into ``snap`` every line beyond its offsets; False when it is stale (rebuild).

    The names of files that end in an unfinished line are added to ``unfinished``.
    """
    own = own or {}
    present = {path.name: (day, path) for day, path in daily_files(log_dir)}
    sizes: dict[str, int] = {}
    for name, offset in snap.offsets.items():
        if name not in present:
            return False
        with contextlib.suppress(FileNotFoundError):
            sizes[name] = present[name][1].stat().st_size
            if sizes[name] < offset:
                return False
        known = snap.heads.get(name)
        if known is not None and _files.first_line_crc(present[name][1]) != known:
            return False  # another file under its name (moved away, made again): rebuild
    try:
        for name, (day, path) in present.items():
            pos = snap.offsets.get(name, 0)
            if pos == sizes.get(name) and not own.get(name):
                continue  # nothing new: the month need not be read
            agg = snap.changed(day[:7])
            spans = snap.spans(day[:7]).setdefault(name, {})
            for r in sorted(own.get(name, ()), key=lambda r: r.start):
                if r.end <= pos:
                    continue  # another process's update already folded these lines of ours
                if r.start >= pos:
                    pos = _fold_file(agg, path, day, pos, r.start, spans).end
                    if pos != r.start:
                        return False  # the file is not what we appended to: rebuild
                    agg.merge(r.agg)
                    _widen(spans, r)
                    pos = r.end
                else:  # partly folded by someone who read while we wrote
                    pos = _fold_file(agg, path, day, pos, r.end, spans).end
            rest = _fold_file(agg, path, day, pos, None, spans)
            snap.offsets[name] = rest.end
            if name not in snap.heads:
                head = _files.first_line_crc(path)
                if head is not None:
                    snap.heads[name] = head
            if rest.unfinished and unfinished is not None:
                unfinished.append(name)
    except StaleStats as exc:
        snap.stale.append(stats_month_file(exc.args[0]))
        return False
    return True


def current(
    log_dir: Path,
    own: Mapping[str, list[OwnRange]] | None = None,
    unfinished: list[str] | None = None,
) -> Snapshot:
    """The exact stats of the directory now, without writing anything."""
    found: list[str] = []
    stale: list[str] = []
    try:
        snap = load(log_dir)
    except StaleStats:
        snap, stale = None, [STATS_FILE]
    if snap is None or not catch_up(log_dir, snap, own, found):
        stale += snap.stale if snap is not None else []
        snap = Snapshot(log_dir)
        found.clear()
        catch_up(log_dir, snap, own, found)
        snap.rebuilt = True
        snap.stale = stale
    if unfinished is not None:
        unfinished.extend(found)
    return snap


def update(
    log_dir: Path,
    own: Mapping[str, list[OwnRange]],
    mode: int,
    label_keys: frozenset[str] | None = None,
) -> Snapshot:
    """Fold new lines into the stats under the stats lock; rewrite the months touched,
    keeping the labels of ``label_keys`` (None: every key) as report dimensions."""
    with _files.locked_file(log_dir / STATS_LOCK_FILE, mode):
        snap = current(log_dir, own)
        staged: list[tuple[Path, Path]] = []  # (written, to rename over)
        renamed = 0
        try:
            for month in sorted(snap.dirty):
                cells, quarters, labelled = encode_month(snap, month, label_keys)  # a generation
                # quarters and labelled cells first: a month file never names what is not there
                parts = [(stats_quarters_file(month), quarters)]
                if labelled is not None:
                    parts += [(stats_labels_file(month), labelled[0]),
                              (stats_days_file(month), labelled[2]),
                              (stats_totals_file(month), labelled[1])]  # fmt: skip
                parts.append((stats_month_file(month), cells))
                for name, data in parts:
                    staged.append((_files.write_temp(log_dir / name, data, mode), log_dir / name))
            index = log_dir / STATS_FILE
            staged.append((_files.write_temp(index, encode(snap), mode), index))
            # every file written, then all renamed at once: a report meets files of two
            # updates for the microseconds of the renames, not for the time of the writes
            for written, path in staged:
                _files.commit_temp(written, path)
                renamed += 1
        except BaseException:
            for written, _ in staged[renamed:]:
                with contextlib.suppress(OSError):
                    written.unlink()
            raise
        if snap.rebuilt:  # month files of days no longer there
            named = (stats_month_file, stats_quarters_file, stats_labels_file, stats_totals_file,
                     stats_days_file)  # fmt: skip
            keep = {f(m) for m in snap.months() for f in named}
            for path in stats_month_files(log_dir):
                if path.name not in keep:
                    with contextlib.suppress(OSError):
                        path.unlink()
    return snap


def encode_month(
    snap: Snapshot, month: str, label_keys: frozenset[str] | None = None
) -> tuple[bytes, bytes, tuple[bytes, bytes, bytes] | None]:
    """The month file, its quarters file and (when a cell has labels) its labels, totals and
    days files, naming each other by a fresh token: the month file holds the cells without
    labels, which every report but those by a label reads, the labels file the cells with
    them, the totals and days files those summed over the month and by day (``_totals``).

    The labels kept are those of ``label_keys`` that every earlier writer of the month kept
    too (the file's ``label_keys``; None: every key): a key one of them left out is
    incomplete in the cells, so reports by it read the lines."""
    agg = snap.month(month)
    was = snap.kept.get(month)
    before = None if was is None else frozenset(was)
    kept = before if label_keys is None else label_keys if before is None else before & label_keys
    if kept is not None:
        agg = without_labels_of(agg, kept)
        snap.kept[month] = sorted(kept)
    agg = cap_labels(agg)  # a label of an id's cardinality stays bounded
    labelled = has_labels(agg)
    keys, columns, quarters = columns_of(without_labels_of(agg) if labelled else agg)
    token = os.urandom(TOKEN_BYTES)
    cells_with_labels: tuple[bytes, bytes, bytes] | None = None
    hours_with_labels = 0
    if labelled:  # their early counters after the others'
        with_keys, with_columns, with_quarters = columns_of(agg)
        hours_with_labels = len(with_quarters) // EARLY
        quarters.extend(with_quarters)
        cells_with_labels = (
            orjson.dumps({"quarters": token.hex(), "keys": with_keys, "columns": with_columns}),
            *encode_totals(agg, token.hex(), kept),
        )
    snap.tokens[month] = token.hex()  # the index names it: the two belong together
    if sys.byteorder == "big":
        quarters.byteswap()
    doc = {
        "format_version": STATS_VERSION,
        "month": month,
        "quarters": token.hex(),
        "invalid_lines_by_day": dict(sorted(agg.invalid.items())),
        "keys": keys,
        "columns": columns,
        **({"label_keys": sorted(kept)} if kept is not None else {}),
        **({"labelled": hours_with_labels} if labelled else {}),
        "spans": {
            name: dict(sorted(of_file.items()))
            for name, of_file in sorted(snap.spans(month).items())
            if of_file
        },
    }
    return orjson.dumps(doc), QUARTERS_MAGIC + token + quarters.tobytes(), cells_with_labels


def encode(snap: Snapshot) -> bytes:
    doc: dict[str, Any] = {"format_version": STATS_VERSION, "prompt_bands": PROMPT_BANDS}
    doc["updated_at"] = _dt.datetime.now(_dt.UTC).isoformat()
    rows = {month: snap.month_rows(month) for month in snap.months()}  # once per update
    doc.update(snap.summary(rows))
    months: dict[str, Any] = {}
    for month, month_rows in rows.items():
        months[month] = {
            "file": stats_month_file(month),
            "rows": month_rows,
            "invalid_lines_by_day": dict(sorted(snap.month_invalid(month).items())),
        }
        if month in snap.tokens:
            months[month]["token"] = snap.tokens[month]
    doc["months"] = months
    doc["files"] = dict(sorted(snap.offsets.items()))
    doc["file_heads"] = {n: snap.heads[n] for n in sorted(snap.heads) if n in snap.offsets}
    return _one_entry_a_line(doc)


def _one_entry_a_line(doc: dict[str, Any]) -> bytes:
    """JSON a person can read and a program can parse, without indentation's cost.

    Each top-level key is on its line and each entry of a top-level object (a model, a day,
    a month) on its own: readable with ``less`` and diffable, and half the size of an
    indented file (100,000 model names would make the indented index 50 MB).
    """
    out = [b"{"]
    last = len(doc) - 1
    for i, (key, value) in enumerate(doc.items()):
        end = b"" if i == last else b","
        name = orjson.dumps(key)
        if isinstance(value, dict) and value:
            out.append(b"  " + name + b": {")
            entries = [
                b"    " + orjson.dumps(k) + b": " + orjson.dumps(v) for k, v in value.items()
            ]
            out.append(b",\n".join(entries))
            out.append(b"  }" + end)
        else:
            out.append(b"  " + name + b": " + orjson.dumps(value) + end)
    out.append(b"}\n")
    return b"\n".join(out)
