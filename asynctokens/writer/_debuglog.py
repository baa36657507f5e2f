"""``token_debug.log``: the writer's own diagnostics (write errors, retries, drops, repairs).

The messages matter most when the directory cannot be written (it was removed, the disk is
full), so up to ``MAX_BACKLOG`` of them wait and are written with the next message after the
fault clears. A failure here never hides the real one: it is never raised. The file is
rotated to ``token_debug.log.1`` past ``MAX_BYTES``.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections import deque
from pathlib import Path
from typing import Final

from asynctokens.record import _files
from asynctokens.record._format import DEBUG_LOG_FILE

MAX_BYTES: Final = 4 << 20
MAX_BACKLOG: Final = 100


class DebugLog:
    """Stamped lines appended to a directory's ``token_debug.log``, kept while it fails."""

    def __init__(self, log_dir: Path, pid: int, file_mode: int) -> None:
        self.path = log_dir / DEBUG_LOG_FILE
        self.pid = pid
        self.file_mode = file_mode
        self._backlog: deque[str] = deque(maxlen=MAX_BACKLOG)
        # the worker and each sink's thread write here: one writer of the file at a time
        self._lock = threading.Lock()

    def write(self, message: str) -> None:
        """Add a line (with its time and pid), and write all that waits."""
        stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
        self._backlog.append(f"{stamp} pid={self.pid} {message}\n")
        self.flush()

    def flush(self) -> None:
        """Write what waits; on an error it keeps waiting (the oldest beyond the backlog go)."""
        if not self._backlog:
            return
        path = self.path
        with self._lock:
            lines = list(self._backlog)
            try:
                if path.exists() and path.stat().st_size > MAX_BYTES:
                    path.replace(path.with_name(DEBUG_LOG_FILE + ".1"))
                _files.append_lines(path, "".join(lines).encode(), self.file_mode)
            except OSError:
                return
            for _ in lines:  # what was written; lines added meanwhile wait for the next flush
                self._backlog.popleft()
