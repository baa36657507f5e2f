"""Process-wide machinery around every tracker: exit hooks, SIGTERM, fork, event loops.

A tracker's worker must be drained however the process ends (see README, "Exits"). What
that takes is the same for every tracker in the process and is owned here, once: the
atexit hook, the finalizer ``multiprocessing`` runs in its children (which leave through
``os._exit``), the SIGTERM handler, and the fork hook that gives a child fresh trackers.
Trackers take part through three methods (``_needs_drain``, ``_drain_at_exit``,
``_after_fork_in_child``), so this module never imports the tracker.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import os
import signal
import sys
import threading
import weakref
from types import FrameType
from typing import Any, Protocol


class Drainable(Protocol):
    def _needs_drain(self) -> bool: ...

    def _drain_at_exit(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


_ALL: weakref.WeakSet[Any] = weakref.WeakSet()
_hooks_lock = threading.Lock()
_atexit_registered = False
_mp_finalizer: Any = None  # the multiprocessing.util.Finalize of this process, if any
#: True once the exit drain has begun: events logged after it are written in the caller's
#: thread (there is no worker any more), and a SIGTERM during it is ignored.
draining = False


def track(tracker: Drainable) -> None:
    """Count ``tracker`` among those drained at exit and reset in fork children."""
    _ALL.add(tracker)


def close_all_at_exit() -> None:
    global draining
    draining = True
    for tracker in list(_ALL):
        tracker._drain_at_exit()


def register_exit_hooks() -> None:
    """Drain at exit: atexit, and in a multiprocessing child its own exit hooks.

    A child of ``multiprocessing`` (``Process``, ``Pool`` and ``ProcessPoolExecutor``
    workers, whatever the start method) leaves through ``os._exit``, which skips atexit;
    before that it runs the finalizers of ``multiprocessing.util``, so the drain is
    registered there too, once per process.
    """
    global _mp_finalizer
    register_atexit()
    with _hooks_lock:
        mp = sys.modules.get("multiprocessing")
        if (
            mp is not None
            and mp.parent_process() is not None
            # a child's registry is emptied when it starts running: register after that
            and (_mp_finalizer is None or not _mp_finalizer.still_active())
        ):
            _mp_finalizer = mp.util.Finalize(None, close_all_at_exit, exitpriority=100)


def register_atexit() -> None:
    """The atexit drain, registered once; early registration runs it after the app's."""
    global _atexit_registered
    with _hooks_lock:
        if not _atexit_registered:
            atexit.register(close_all_at_exit)
            _atexit_registered = True


def install_sigterm_handler() -> None:
    """Drain on SIGTERM, unless the app has its own handler; main thread only.

    Installed when the tracker module is imported on the main thread, because only the
    main thread may install a handler and the first event may come from any thread (a
    thread pool). Until something is logged the handler does what the default would: it
    re-delivers the signal with the default action.
    """
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # not the main thread, or no SIGTERM
        pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Drain every thread-worker tracker, then leave as SystemExit (exit code 143).

    The drain runs here, in the handler, before the exit unwinds anything: a process may be
    in the middle of its own exit when SIGTERM arrives (a ``Pool`` terminates workers that
    are running their exit hooks), and an exception raised there would skip the hooks that
    would have drained. A SIGTERM that arrives during the drain is ignored (the drain is
    bounded by ``close_timeout_s``).
    """
    if draining:
        return
    if not any(tracker._needs_drain() for tracker in list(_ALL)):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signum)  # nothing to drain: die as if we were never there
        return
    close_all_at_exit()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(128 + signum)


def _after_fork_in_child() -> None:
    global _hooks_lock, draining
    _hooks_lock = threading.Lock()
    draining = False
    for tracker in list(_ALL):
        tracker._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def in_event_loop() -> bool:
    """True on a thread that runs an asyncio or trio loop, where blocking would stall it."""
    if asyncio._get_running_loop() is not None:
        return True
    trio = sys.modules.get("trio")
    return bool(trio is not None and trio.lowlevel.in_trio_run())


def import_backend() -> None:
    """Import anyio's asyncio backend now, on the caller's thread.

    anyio imports its backend on first run; doing that on a new worker thread could leave
    a module import lock held in a child forked meanwhile, and the child's own worker would
    then hang importing it.
    """
    with contextlib.suppress(ImportError):
        importlib.import_module("anyio._backends._asyncio")
