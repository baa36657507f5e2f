"""Starting asynctokens' own threads with SIGTERM and SIGINT blocked in them.

The kernel delivers a process-directed signal to any thread that does not block it. When a
Python handler is installed (ours drains on SIGTERM) and the signal lands on one of our
threads, the main thread is not interrupted: blocked in a C wait (a multiprocessing Pool
worker waiting on its queue's lock, which ``Pool.terminate`` holds) it never runs the
handler, and the process never ends. With both signals blocked in every thread we start,
they reach the main thread (or a thread of the application's), as they would without us.
A new thread takes the mask of the thread that creates it, so the mask is set around the
start and restored at once.
"""

from __future__ import annotations

import signal
import threading
from typing import Final

_QUIET: Final = frozenset(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGINT", None)) if s
)


def start(thread: threading.Thread) -> None:
    """``thread.start()``, the thread blocking SIGTERM and SIGINT for its whole life."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None or not _QUIET:  # no POSIX thread signal masks here
        thread.start()
        return
    old = mask(signal.SIG_BLOCK, _QUIET)
    try:
        thread.start()
    finally:
        mask(signal.SIG_SETMASK, old)
