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
from collections.abc import Callable
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


#: True once that drain has ended: every event since is written as it is logged.
drained = False


#: Worker threads of trackers that were dropped (``_loop.drain_orphan``), with their
#: tracker's close timeout: the exit waits for them as it does for the trackers still here.
orphans: dict[threading.Thread, float] = {}


def orphaned(thread: threading.Thread, wake: threading.Event, timeout_s: float) -> None:
    """A tracker was collected: its worker is to drain what it held, and the exit to wait
    for that (called by the tracker's finalizer, at once, in the thread that dropped it)."""
    for done in [t for t in orphans if not t.is_alive()]:
        orphans.pop(done, None)  # a thread that ended after its finalizer was run
    if thread.is_alive():
        orphans[thread] = timeout_s
    wake.set()


def close_all_at_exit() -> None:
    global draining, drained
    draining = True
    for tracker in list(_ALL):
        tracker._drain_at_exit()
    for thread, timeout_s in list(orphans.items()):
        # a drain gives up after its timeout without progress, counted from when the worker
        # noticed the drop (within a second); a thread stuck in a system call (another
        # process holds the stats lock) is not waited for longer than that
        thread.join(timeout_s + 1.0)
    drained = True


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


def drain_before_later_hooks() -> None:
    """The atexit drain once more, now: a tracker with sinks starting after the application
    made its telemetry (an OpenTelemetry MeterProvider registers its shutdown at exit when
    made) drains before that shutdown, so the sinks' last events are exported, not dropped
    by a provider already shut down. The early registration stays (a no-op by then)."""
    atexit.register(close_all_at_exit)


def install_sigterm_handler() -> None:
    """Drain on SIGTERM; main thread only (only it may install a handler).

    With no handler of the app's (the default action), ours drains and exits. When a server
    has its own (uvicorn, gunicorn, hypercorn install theirs, often before they import the
    app), ours goes in front of it: it drains, then calls the server's handler, so the
    server's graceful shutdown and exit code are its own. Both are needed because a server
    may end its shutdown by restoring the handler it found (the default) and raising the
    signal again, which kills the process before atexit: by then every event is on disk,
    since after the drain each event is written in the thread that logs it.

    Called when the tracker module is imported on the main thread and again when a
    tracker's first event is logged there (a server may install its handler in between).
    A handler that ignores SIGTERM is left alone.
    """
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
        elif callable(current) and not getattr(current, "_asynctokens", False):
            signal.signal(signal.SIGTERM, _in_front_of(current))
    except (ValueError, OSError, AttributeError):  # not the main thread, or no SIGTERM
        pass


def _in_front_of(handler: Callable[[int, FrameType | None], Any]) -> Any:
    def drain_then_handle(signum: int, frame: FrameType | None) -> Any:
        if not draining and any(tracker._needs_drain() for tracker in list(_ALL)):
            close_all_at_exit()  # from here on events are written as they are logged
        return handler(signum, frame)

    drain_then_handle._asynctokens = True  # type: ignore[attr-defined]
    return drain_then_handle


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Drain every thread-worker tracker, then leave as SystemExit (exit code 143).

    The drain runs here, in the handler, before the exit unwinds anything: a process may be
    in the middle of its own exit when SIGTERM arrives (a ``Pool`` terminates workers that
    are running their exit hooks), and an exception raised there would skip the hooks that
    would have drained. A SIGTERM that arrives during the drain is ignored (the drain is
    bounded by ``close_timeout_s``).
    """
    if draining and not drained:
        return  # a second SIGTERM while ours drains: the drain is bounded, let it end
    if drained or not any(tracker._needs_drain() for tracker in list(_ALL)):
        # nothing (more) to drain: die as the default action would, so a server that raised
        # the signal again after its own shutdown exits as it does without us
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signum)
        return
    close_all_at_exit()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(128 + signum)


_on_sigterm._asynctokens = True  # type: ignore[attr-defined]


def _after_fork_in_child() -> None:
    global _hooks_lock, draining, drained
    _hooks_lock = threading.Lock()
    draining = drained = False
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
