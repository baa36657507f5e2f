"""Reading the complete lines of a daily file, forwards or backwards, in bounded memory.

Every reader (the stats fold, scans, ``recent``) reads through here and judges each line
with ``_format.judge_line``, so they agree on what a file holds; what a read met besides
good lines (bad lines, unfinished files) is tallied in one :class:`ReadReport`.

Where a file ends is taken under a shared ``flock`` (writers append whole lines under the
exclusive one, see ``_files``): a size read so is never in the middle of a healthy append,
so bytes after the last newline are a write a crash cut short, never one under way. Reads
go in blocks of ``BLOCK`` bytes; a line longer than a block is gathered piece by piece and
joined once, so the work is linear in its length and memory is one block plus the longest
line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from asynctokens._errors import LogDirError
from asynctokens.record import _files

BLOCK: Final = 4 << 20
_MAX_SAMPLES: Final = 10


def _open_sized(path: Path) -> tuple[int, int] | None:
    """(fd, size under the shared lock), or None when the file is gone. The caller closes."""
    try:
        fd = _files.open_read(path)
    except FileNotFoundError:
        return None
    try:
        return fd, _files.locked_size(fd)
    except BaseException:
        _files.close_read(fd)
        raise


class ForwardBlocks:
    """Blocks of complete lines of ``path[start:stop)``, each ending with ``\\n``.

    ``stop`` None means the end of the file as its lock shows it. After iteration, ``end``
    is the offset just past the last complete line and ``unfinished`` the count of bytes
    after it (within ``stop``).
    """

    def __init__(self, path: Path, start: int = 0, stop: int | None = None) -> None:
        self.path, self.start, self.stop = path, start, stop
        self.end = start
        self.unfinished = 0

    def __iter__(self) -> Iterator[bytes]:
        opened = _open_sized(self.path)
        if opened is None:
            return
        fd, size = opened
        try:
            stop = size if self.stop is None else min(self.stop, size)
            pos = self.end = self.start
            pieces: list[bytes] = []  # a line longer than a block, gathered
            while pos < stop:
                data = os.pread(fd, min(BLOCK, stop - pos), pos)
                if not data:
                    break
                pos += len(data)
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    pieces.append(data)
                    continue
                block = b"".join([*pieces, data[:cut]]) if pieces else data[:cut]
                pieces = [data[cut:]] if cut < len(data) else []
                self.end += len(block)
                yield block
            self.unfinished = pos - self.end
        finally:
            _files.close_read(fd)


class BackwardLines:
    """The complete lines of ``path``, last first, each as ``(offset, line)``.

    Reads blocks from the end, so the last few lines of a huge file cost a few kilobytes.
    ``unfinished`` is the count of bytes after the last newline, known once the first line
    is yielded.
    """

    def __init__(self, path: Path, block: int = 64 << 10) -> None:
        self.path, self.block = path, block
        self.unfinished = 0

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        opened = _open_sized(self.path)
        if opened is None:
            return
        fd, size = opened
        try:
            yield from self._lines(fd, self._last_newline(fd, size))
        finally:
            _files.close_read(fd)

    def _last_newline(self, fd: int, size: int) -> int:
        """The offset just past the file's last newline (0 if none); sets ``unfinished``."""
        pos = size
        while pos > 0:
            start = max(0, pos - self.block)
            cut = os.pread(fd, pos - start, start).rfind(b"\n") + 1
            if cut:
                self.unfinished = size - (start + cut)
                return start + cut
            pos = start
        self.unfinished = size
        return 0

    def _lines(self, fd: int, end: int) -> Iterator[tuple[int, bytes]]:
        pos = end
        later: list[bytes] = []  # the end of the line being gathered, last piece first
        while pos > 0:
            start = max(0, pos - self.block)
            data = os.pread(fd, pos - start, start)
            pos = start
            if b"\n" not in data and start > 0:
                later.append(data)
                continue
            if later:
                later.append(data)
                later.reverse()
                data = b"".join(later)
                later = []
            lines = data.split(b"\n")
            lines.pop()  # data ends at a line's end: nothing after its newline
            offset = start + len(data)
            first = 1 if start > 0 else 0  # lines[0] may begin in an earlier block
            for i in range(len(lines) - 1, first - 1, -1):
                offset -= len(lines[i]) + 1
                yield offset, lines[i]
            if first:
                later = [lines[0] + b"\n"]


@dataclass
class ReadReport:
    """What a read met besides good events: the CLI turns this into one warning line."""

    files_read: int = 0
    lines_read: int = 0
    bad_lines: int = 0
    samples: list[str] = field(default_factory=list)  # "file:line: reason", the first few
    #: Files whose last bytes are a write cut short (no bad line until a writer ends it).
    unfinished: list[str] = field(default_factory=list)
    #: Names shaped like daily files with an impossible date: not read.
    misnamed: list[str] = field(default_factory=list)
    #: Stats files that failed their checks: the lines were read instead.
    stale_stats: list[str] = field(default_factory=list)

    def bad(self, path: Path, where: str, reason: str) -> None:
        """Count a bad line; ``where`` is "line N" or "byte N"."""
        self.bad_lines += 1
        if len(self.samples) < _MAX_SAMPLES:
            self.samples.append(f"{path.name} {where}: {reason}")

    def add(self, other: ReadReport) -> None:
        """Count another read's findings in this one (samples still capped)."""
        self.files_read += other.files_read
        self.lines_read += other.lines_read
        self.bad_lines += other.bad_lines
        self.samples.extend(other.samples[: _MAX_SAMPLES - len(self.samples)])
        self.unfinished.extend(n for n in other.unfinished if n not in self.unfinished)
        self.misnamed.extend(n for n in other.misnamed if n not in self.misnamed)
        self.stale_stats.extend(n for n in other.stale_stats if n not in self.stale_stats)


def unreadable(path: Path, exc: OSError) -> LogDirError:
    return LogDirError(f"cannot read {str(path)!r}: {exc.strerror or exc}")
