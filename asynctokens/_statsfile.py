"""``token_stats.json``: a cache of the fold over the JSONL files, exact by construction.

The stats file records, for each daily file, the byte offset up to which its lines have been
folded. Updating it means folding whatever lies beyond those offsets, whoever wrote it, and
advancing them, all under one lock file. So the totals equal the sums over the lines even
with many processes writing, after a crash (a dead process's lines are folded by the next
updater), and after a torn line (counted as invalid once it is ended by a ``\\n``).

A writer passes the ranges it appended itself, with their folds, so in the common
one-process case nothing is read back. A missing, corrupt or stale stats file (a daily file
shrank or vanished) is rebuilt from offset 0.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from asynctokens import _files
from asynctokens._format import (
    PROMPT_BANDS,
    STATS_FILE,
    STATS_LOCK_FILE,
    STATS_VERSION,
    daily_files,
    judge_line,
)
from asynctokens._lines import ForwardBlocks
from asynctokens._stats import Aggregate


class OwnRange(NamedTuple):
    """Bytes ``[start, end)`` of one daily file that this process appended, and their fold."""

    start: int
    end: int
    agg: Aggregate


class Snapshot(NamedTuple):
    agg: Aggregate
    offsets: dict[str, int]


def load(log_dir: Path) -> Snapshot | None:
    """The stats file's content, or None when it is missing, corrupt or of another version."""
    try:
        raw = (log_dir / STATS_FILE).read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = orjson.loads(raw)
        if obj.get("format_version") != STATS_VERSION or obj.get("prompt_bands") != list(
            PROMPT_BANDS
        ):
            return None  # an older layout: rebuilt from the lines, its migration
        agg = Aggregate.from_cells_json(obj["cells"], obj["invalid_lines_by_day"])
        offsets = obj["files"]
        if not isinstance(offsets, dict) or not all(
            type(v) is int and v >= 0 for v in offsets.values()
        ):
            return None
    except (orjson.JSONDecodeError, ValueError, KeyError, AttributeError, TypeError):
        return None
    return Snapshot(agg, offsets)


def fold_lines(agg: Aggregate, block: bytes, day: str) -> None:
    """Fold the complete lines of ``block`` (it ends with ``\\n``), judged by judge_line."""
    judge, add = judge_line, agg.add
    lines = block.split(b"\n")
    lines.pop()
    bad = 0
    for line in lines:
        judged = judge(line, day)
        if isinstance(judged, tuple):
            add(day, *judged[1])
        elif judged is not None:
            bad += 1
    if bad:
        agg.add_invalid(day, bad)


def _fold_file(agg: Aggregate, path: Path, day: str, start: int, stop: int | None) -> ForwardBlocks:
    """Fold complete lines of ``path`` from ``start`` up to ``stop`` (None: end of file).

    The result's ``end`` is the offset after the last line folded; an unfinished tail is
    left for later (its ``unfinished`` bytes).
    """
    blocks = ForwardBlocks(path, start, stop)
    for block in blocks:
        fold_lines(agg, block, day)
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
    for name, offset in snap.offsets.items():
        if name not in present:
            return False
        with contextlib.suppress(FileNotFoundError):
            if present[name][1].stat().st_size < offset:
                return False
    for name, (day, path) in present.items():
        pos = snap.offsets.get(name, 0)
        for r in sorted(own.get(name, ()), key=lambda r: r.start):
            if r.end <= pos:
                continue  # another process's update already folded these lines of ours
            if r.start >= pos:
                pos = _fold_file(snap.agg, path, day, pos, r.start).end
                if pos != r.start:
                    return False  # the file is not what we appended to: rebuild
                snap.agg.merge(r.agg)
                pos = r.end
            else:  # partly folded by someone who read while we wrote
                pos = _fold_file(snap.agg, path, day, pos, r.end).end
        rest = _fold_file(snap.agg, path, day, pos, None)
        snap.offsets[name] = rest.end
        if rest.unfinished and unfinished is not None:
            unfinished.append(name)
    return True


def current(
    log_dir: Path,
    own: Mapping[str, list[OwnRange]] | None = None,
    unfinished: list[str] | None = None,
) -> Snapshot:
    """The exact aggregate of the directory now, without writing anything."""
    found: list[str] = []
    snap = load(log_dir)
    if snap is None or not catch_up(log_dir, snap, own, found):
        snap = Snapshot(Aggregate(), {})
        found.clear()
        catch_up(log_dir, snap, own, found)
    if unfinished is not None:
        unfinished.extend(found)
    return snap


def update(log_dir: Path, own: Mapping[str, list[OwnRange]], mode: int) -> Snapshot:
    """Fold new lines into ``token_stats.json`` under the stats lock and replace it."""
    with _files.locked_file(log_dir / STATS_LOCK_FILE, mode):
        snap = current(log_dir, own)
        _files.replace_atomically(log_dir / STATS_FILE, encode(snap), mode)
    return snap


def encode(snap: Snapshot) -> bytes:
    doc: dict[str, Any] = {"format_version": STATS_VERSION, "prompt_bands": PROMPT_BANDS}
    doc["updated_at"] = _dt.datetime.now(_dt.UTC).isoformat()
    doc.update(snap.agg.summary())
    doc["cells"] = snap.agg.cells_json()
    doc["files"] = dict(sorted(snap.offsets.items()))
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)
