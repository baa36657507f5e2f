"""Many log directories read as one: globs, the daily files of each day, copies set aside.

A team copies each host's ``logs/tokens`` somewhere (rsync, object storage) and reports on
all of them: ``--log-dir 'fleet/*/logs/tokens'``. An event always lands in the daily file of
its UTC day, so the same event can only appear twice in files of the same name. For each
day the files of that name are planned together:

* a file that is byte for byte the beginning of another (a copy taken earlier, or the same
  directory given twice) is set aside: the longer one holds all of its events;
* files that begin alike but then differ (a copy someone kept writing to) share events: they
  are read with duplicates dropped by ``event_id``;
* files that begin differently were written by different writers (ids carry 64 random bits
  per process) and are read, or summed from their stats, as they are.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from asynctokens._errors import LogDirError
from asynctokens.record._format import daily_files, resolve_log_dir

LogDirs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None
_COMPARE_BLOCK: Final = 1 << 20
_HEAD: Final = 4096


def resolve_log_dirs(spec: LogDirs) -> list[Path]:
    """The directories a spec names, each checked (LogDirError says what is wrong)."""
    items: list[str | os.PathLike[str] | None] = (
        [spec] if spec is None or isinstance(spec, (str, os.PathLike)) else list(spec)
    )
    if not items:
        items = [None]
    found: list[Path] = []
    seen: set[str] = set()
    for item in items:
        text = None if item is None else os.fspath(item)
        if text is not None and glob.has_magic(text):
            # glob.glob, not Path.glob: the pattern may be absolute and span directories
            matches = sorted(glob.glob(text))  # noqa: PTH207
            if not matches:
                raise LogDirError(
                    f"no directory matches {text!r}: check the pattern (quote it so the"
                    " shell does not expand it)"
                )
            paths = [Path(m) for m in matches if Path(m).is_dir()]
        else:
            paths = [resolve_log_dir(text)]
        for path in paths:
            _check(path)
            key = os.path.realpath(path)
            if key not in seen:  # the same directory named twice counts once
                seen.add(key)
                found.append(path)
    if not found:
        raise LogDirError(f"no directory matches {items!r}")
    return found


def _check(path: Path) -> None:
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


@dataclass(frozen=True)
class DayPlan:
    """How to read one UTC day over many directories."""

    day: str
    files: tuple[Path, ...]  # to read, in directory order; copies left out
    dedup: bool  # files that share events: drop repeated event ids
    copies: tuple[Path, ...] = ()  # set aside: a prefix of one of ``files``


def plan_days(dirs: Sequence[Path]) -> list[DayPlan]:
    """One plan per UTC day present in any directory, oldest first."""
    by_day: dict[str, list[Path]] = {}
    for d in dirs:
        for day, path in daily_files(d):
            by_day.setdefault(day, []).append(path)
    return [_plan(day, paths) for day, paths in sorted(by_day.items())]


def _plan(day: str, paths: list[Path]) -> DayPlan:
    if len(paths) == 1:
        return DayPlan(day, (paths[0],), False)
    sizes = {p: _size(p) for p in paths}
    order = sorted(paths, key=lambda p: -sizes[p])  # longest first; stable by directory
    kept: list[Path] = []
    copies: list[Path] = []
    for path in order:
        if any(_is_prefix(path, sizes[path], longer) for longer in kept):
            copies.append(path)
        else:
            kept.append(path)
    heads = {_head(p) for p in kept}
    dedup = len(kept) > 1 and len(heads) < len(kept)  # two begin alike: they share events
    files = tuple(p for p in paths if p in kept)
    return DayPlan(day, files, dedup, tuple(p for p in paths if p in copies))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD).split(b"\n", 1)[0]  # the first line
    except FileNotFoundError:
        return b""


def _is_prefix(path: Path, size: int, longer: Path) -> bool:
    """Whether ``path``'s bytes are the beginning of ``longer``'s: compared in full."""
    try:
        with path.open("rb") as a, longer.open("rb") as b:
            done = 0
            while done < size:
                # a small first block: files of different writers differ in their first line
                want = min(_HEAD if done == 0 else _COMPARE_BLOCK, size - done)
                if a.read(want) != b.read(want):
                    return False
                done += want
            return True
    except FileNotFoundError:
        return size == 0
