"""A report's stats files, opened all at once and read later from those descriptors.

A writer's update writes each stats file under a temporary name, then renames them all over
the old ones in one burst (``_update``). A report reads the index, then the month files it
needs, one after another: under a writer updating many times a second, a report slower than
one update met files of two updates on every try, and waited out ``STATS_SETTLE_S`` before
reading the lines. Opening every stats file of the directory first (a few microseconds
apart) pins one update's files: a rename afterwards replaces the name, not the file already
open, so what is read later is what was there when pinned. Only a rename burst landing
between the opens still mixes two updates, and that is read again (``_plan.settled``).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Final

from asynctokens.record._format import STATS_FILE

#: The files pinned by the read in progress (path -> descriptor), per directory pinned.
_PINNED: ContextVar[dict[Path, dict[Path, int]] | None] = ContextVar("pinned", default=None)
_PREFIX: Final = STATS_FILE.removesuffix(".json")  # token_stats: the index and month files


def read_bytes(path: Path) -> bytes:
    """The bytes of stats file ``path``: as pinned when its directory is, else as it is now.

    A file its pinned directory did not have then is missing (FileNotFoundError), as the
    update pinned had no such file."""
    pinned = _PINNED.get()
    files = None if pinned is None else pinned.get(path.parent)
    if files is None:
        return path.read_bytes()
    fd = files.get(path)
    if fd is None:
        raise FileNotFoundError(f"{path} was not there when the stats were read")
    if fd < 0:  # not a regular file: read as it is, for the reader's own checks to refuse
        return path.read_bytes()
    parts = []
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        parts.append(chunk)
        offset += len(chunk)
    return b"".join(parts)


@contextlib.contextmanager
def pinned(dirs: list[Path]) -> Iterator[None]:
    """Within the block, :func:`read_bytes` of a stats file of ``dirs`` reads it as it was
    when the block began. Only regular files are pinned; anything else (a directory or a
    pipe planted under a stats name) is read as it is when asked for, for the reads' own
    checks to refuse."""
    if not hasattr(os, "pread"):  # Windows: read as they are, and read again if need be
        yield
        return
    opened: dict[Path, dict[Path, int]] = {}
    try:
        for d in dirs:
            files: dict[Path, int] = {}
            try:
                paths = [p for p in d.iterdir() if p.name.startswith(_PREFIX)]
            except OSError:
                continue  # no directory to pin: its reads say what is wrong
            opened[d] = files
            for path in paths:
                files[path] = _open(path)
        token = _PINNED.set(opened)
        try:
            yield
        finally:
            _PINNED.reset(token)
    finally:
        for files in opened.values():
            for fd in files.values():
                if fd >= 0:
                    os.close(fd)


def _open(path: Path) -> int:
    """A descriptor of regular file ``path``; -1 for anything else (or a file that cannot
    be opened): that one is read as it is when asked for."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return -1
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
    except OSError:
        pass
    os.close(fd)
    return -1
