"""File-system primitives: owner-only creation, advisory locks, locked append, atomic replace.

Several processes (uvicorn/gunicorn workers) append to the same daily file. Each append
happens under an exclusive ``flock`` on that file and is one ``write`` of whole lines, so
lines never interleave. A process killed mid-write leaves a last line without its ``\\n``;
the next appender sees that under the lock and ends it with a ``\\n`` first, so the torn
fragment stays one bad line that readers skip, instead of gluing itself to good lines.

POSIX only for locking: on platforms without ``fcntl`` the lock is a no-op (one writer
process per directory is then the user's responsibility).

A log directory may be shared, so what the writer opens there may have been planted: a symlink
at a daily, lock or temporary file's name would redirect our writes to its target, and a file
another user made could be swapped under us. So every file the writer opens there is opened
with ``O_NOFOLLOW`` (a symlink is refused, ``ELOOP``), a file it opens that already exists
must belong to this process's user (else ``PermissionError``, said in ``token_debug.log`` and
``health()`` like any write error), and temporaries get an unpredictable name and
``O_EXCL``, so nothing that was there before is ever written through.

A ``flock`` belongs to the open file description, which a fork child shares: a child
forked while a worker thread has one of these files open would keep the description (and
so the lock) alive after the parent closed it, with no thread to close it, and the parent's
next lock would wait forever. So every descriptor opened here is recorded in ``_OPEN_FDS``
while it is open, and a fork child closes its copies first thing (``register_at_fork``).
The fork waits only for that bookkeeping (``_FD_GUARD`` is held around an ``open`` and a
``close``, never across I/O), not for an append or a stats rebuild.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_FD_GUARD = threading.Lock()
_OPEN_FDS: set[int] = set()


def _close_inherited_fds() -> None:
    """In a fork child: drop the copies of the parent's open lock files, then start afresh."""
    global _FD_GUARD
    for fd in _OPEN_FDS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _OPEN_FDS.clear()
    _FD_GUARD = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=lambda: _FD_GUARD.acquire(),
        after_in_parent=lambda: _FD_GUARD.release(),
        after_in_child=_close_inherited_fds,
    )


def _open(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open``, recorded for fork children (see the module docstring)."""
    with _FD_GUARD:
        fd = os.open(path, flags, mode)
        _OPEN_FDS.add(fd)
    return fd


def _close(fd: int) -> None:
    with _FD_GUARD:
        _OPEN_FDS.discard(fd)
        os.close(fd)


_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)  # a planted symlink must not redirect a write
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_WRITE_FLAGS: Final = (
    os.O_RDWR  # read access for the torn-tail check
    | os.O_APPEND
    | os.O_CREAT
    | _CLOEXEC
    | _NOFOLLOW
)


def _check_owner(fd: int, path: Path) -> None:
    """Refuse a file another user owns (see the module docstring)."""
    owner, me = os.fstat(fd).st_uid, os.geteuid()
    if owner != me:
        raise PermissionError(
            errno.EPERM,
            f"{path} belongs to uid {owner}, not to this process's uid {me}: not written, as a"
            " file another user made in a shared log directory may have been planted there;"
            " remove it, or give it to this user",
        )


def ensure_dir(path: Path, mode: int) -> None:
    """Create the log directory (and parents) if missing; the leaf gets ``mode``.

    An existing directory, or a symlink to one, is used as it is: users point ``logs/tokens``
    at another volume on purpose, and we do not change the permissions of what they made.
    """
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.chmod(mode)


def _lock(fd: int, exclusive: bool) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def lock_held(path: Path) -> bool:
    """Whether another process holds ``path``'s exclusive lock (:func:`locked_file`): asked
    with a shared lock that is not waited for, let go at once; False when there is no such
    file (or no locking on this platform)."""
    if fcntl is None:
        return False
    try:
        fd = _open(path, os.O_RDONLY | _CLOEXEC | _NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        _close(fd)  # closing lets the lock go
    return False


@contextlib.contextmanager
def locked_file(path: Path, mode: int) -> Iterator[int]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` body."""
    fd = _open(path, os.O_RDWR | os.O_CREAT | _CLOEXEC | _NOFOLLOW, mode)
    try:
        _check_owner(fd, path)
        _lock(fd, exclusive=True)
        yield fd
    finally:
        _close(fd)  # closing releases the lock


def append_lines(path: Path, data: bytes | bytearray, mode: int) -> tuple[int, int, bool]:
    """Append whole lines under the file's lock; return (start, end, repaired_torn_tail).

    ``start``/``end`` are the byte offsets our lines occupy, which lets the stats update
    skip re-reading what this process wrote itself. On a failed or short write the file is
    cut back to where it was, so a retry of the same batch cannot duplicate lines.
    """
    fd = _open(path, _WRITE_FLAGS, mode)
    try:
        _check_owner(fd, path)
        _lock(fd, exclusive=True)
        size = os.fstat(fd).st_size
        repaired = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        payload = b"\n" + data if repaired else data  # bytes or bytearray: both write
        try:
            view = memoryview(payload)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
        start = size + 1 if repaired else size
        return start, start + len(data), repaired
    finally:
        _close(fd)


def open_read(path: Path) -> int:
    """A descriptor to read a daily file (recorded for fork children); close with close_read."""
    return _open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))


def close_read(fd: int) -> None:
    _close(fd)


def first_line_crc(path: Path) -> int | None:
    """A CRC-32 of the file's first complete line (it never changes once written: files are
    only appended to), or None while it has none. What tells one daily file from another
    under the same name; a copy of the file gives the same."""
    try:
        fd = open_read(path)
    except FileNotFoundError:
        return None
    try:
        head = b""
        for size in (4096, 256 * 1024):  # a line holds at most 64 KiB of metadata
            head = os.pread(fd, size, 0)
            end = head.find(b"\n")
            if end >= 0:
                return zlib.crc32(head[:end])
            if len(head) < size:
                return None
        return zlib.crc32(head)  # no newline in 256 KiB: not a line a writer wrote
    finally:
        close_read(fd)


def locked_size(fd: int) -> int:
    """The file's size taken under a shared lock: never inside an append (see above).

    The lock is held only for the ``fstat``, so a long read never stalls a writer; what is
    appended afterwards lies beyond the size and is left for the next read.
    """
    _lock(fd, exclusive=False)
    try:
        return os.fstat(fd).st_size
    finally:
        _unlock(fd)


def replace_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it over ``path``.

    Readers see the old file or the new one, never half of one. No fsync: the stats file is
    a cache that is rebuilt from the JSONL files if a power cut leaves it empty.
    """
    commit_temp(write_temp(path, data, mode), path)


def write_temp(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a fresh temp file beside ``path``, for :func:`commit_temp` to rename over
    it: several files written first and renamed together change for readers at once."""
    # a fresh, unpredictable name, created here or refused: a planted file or symlink at a
    # temporary's name is never written through
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC | _NOFOLLOW, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        os.close(fd)
    return tmp


def commit_temp(tmp: Path, path: Path) -> None:
    """Rename a :func:`write_temp` file over ``path`` (removed if that fails)."""
    try:
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
