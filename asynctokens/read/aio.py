"""The read side for asyncio code: follow the logs as they grow, and reports off the loop.

``follow(log_dir)`` yields every event that any process appends, as it lands, reading with
``aiofiles`` (file I/O runs on a worker thread, so the loop never waits on a disk). It
follows across midnight (a new daily file), across writers in several processes, and waits
for a directory that does not exist yet. A line is yielded once it is complete: the bytes
after a file's last newline are a write under way (or one a crash cut short, which the next
writer ends), so they stay pending, never judged bad. Lines are judged as every reader judges
them (``_format.judge_line``); bad ones are counted in the ``ReadReport`` given.

``asummary``, ``abreakdown`` and ``arecent`` run the reports of ``summary`` on a worker
thread, for services that expose usage on an endpoint (see examples/fastapi_usage.py).

    async for event in follow("logs/tokens"):
        print(event["model"], event["total_tokens"])
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiofiles
import aiofiles.os
import anyio

from asynctokens.read import summary
from asynctokens.record import _files
from asynctokens.record._format import day_of_file, judge_line, resolve_log_dir
from asynctokens.record._lines import ReadReport

#: How often the directory is looked at: a new line reaches the follower within this.
POLL_S: Final = 0.1
_READ: Final = 4 << 20


@dataclass
class _Followed:
    """One daily file: how far it has been read, and a line begun but not ended."""

    day: str
    offset: int
    pending: bytes = b""
    #: (device, inode) of the file read so far: another one under the name is read anew
    identity: tuple[int, int] | None = None


@dataclass
class _State:
    files: dict[str, _Followed] = field(default_factory=dict)
    started: bool = False


async def follow(
    log_dir: str | os.PathLike[str] | None = None,
    *,
    from_start: bool = False,
    first_day: str | None = None,
    poll_s: float = POLL_S,
    report: ReadReport | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every event appended to the directory's daily files from now on (or, with
    ``from_start``, every event already there first), in file order, forever.

    ``first_day`` (``YYYY-MM-DD``, UTC): daily files of earlier days are left alone.
    """
    if not poll_s > 0:
        raise ValueError(f"poll_s must be > 0, got {poll_s!r}")
    path = resolve_log_dir(log_dir)
    report = report if report is not None else ReadReport()
    state = _State()
    while True:
        async for event in _poll(path, state, from_start, first_day or "", report):
            yield event
        state.started = True
        await anyio.sleep(poll_s)


async def _poll(
    path: Path, state: _State, from_start: bool, first_day: str, report: ReadReport
) -> AsyncIterator[dict[str, Any]]:
    try:
        names = await aiofiles.os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return  # not created yet: look again later
    days = sorted(
        (day, name) for name in names if (day := day_of_file(name)) is not None and day >= first_day
    )
    for day, name in days:
        followed = state.files.get(name)
        try:
            st = await aiofiles.os.stat(path / name)
        except FileNotFoundError:
            continue
        size, identity = st.st_size, (st.st_dev, st.st_ino)
        if followed is None:
            # a file there before we started begins at its end (taken under its lock, so
            # never inside an append), unless asked otherwise; a file that appears later
            # is all new
            start = 0
            if not (from_start or state.started):
                start = await anyio.to_thread.run_sync(_end_of_lines, path / name)
            followed = state.files[name] = _Followed(day, start, identity=identity)
        if size < followed.offset or identity != followed.identity:
            # cut, or another file under the name (moved away by a log shipper and made
            # again by the next append): read it from its start, each of its events once
            followed.offset, followed.pending, followed.identity = 0, b"", identity
        while followed.offset < size:
            async with aiofiles.open(path / name, "rb") as f:
                await f.seek(followed.offset)
                data = await f.read(min(_READ, size - followed.offset))
            if not data:
                break
            followed.offset += len(data)
            for event in _complete_lines(followed, data, path / name, report):
                yield event


def _end_of_lines(path: Path) -> int:
    try:
        fd = _files.open_read(path)
    except FileNotFoundError:
        return 0
    try:
        return _files.locked_size(fd)
    finally:
        _files.close_read(fd)


def _complete_lines(
    followed: _Followed, data: bytes, path: Path, report: ReadReport
) -> list[dict[str, Any]]:
    data = followed.pending + data if followed.pending else data
    pos = followed.offset - len(data)  # where ``data`` begins in the file
    cut = data.rfind(b"\n") + 1
    followed.pending = data[cut:]
    events = []
    lines = data[:cut].split(b"\n")
    lines.pop()
    report.lines_read += len(lines)
    for line in lines:
        judged = judge_line(line, followed.day)
        if isinstance(judged, tuple):
            events.append(judged[0])
        elif judged is not None:
            report.bad(path, f"byte {pos}", judged)
        pos += len(line) + 1
    return events


async def asummary(query: summary.Query | None = None) -> dict[str, Any]:
    """``summary.summary`` on a worker thread: the loop runs on while the files are read."""
    return await anyio.to_thread.run_sync(summary.summary, query or summary.Query())


async def abreakdown(query: summary.Query | None, dimension: str) -> dict[str, Any]:
    """``summary.breakdown`` (one row per model, api, day, month or host) off the loop."""
    return await anyio.to_thread.run_sync(summary.breakdown, query or summary.Query(), dimension)


async def arecent(query: summary.Query | None = None, n: int = 20) -> dict[str, Any]:
    """``summary.recent`` (the last ``n`` calls, newest first) off the loop."""
    return await anyio.to_thread.run_sync(summary.recent, query or summary.Query(), n)


__all__ = ["POLL_S", "abreakdown", "arecent", "asummary", "follow"]
