"""What a tracker's worker does while it runs: hand batches to the engine, sleep when idle.

The worker's decisions (batches, retries, stats, flush answers, sinks) are the ``Engine``'s
(``_engine``); this loop runs its steps, on a worker thread when the worker is a task of the
application's loop (``offload``), and lets the worker sleep when there is nothing to do: the
fast path never signals it; while it sleeps the fast path is closed (``_capacity`` 0), so the
next ``log()`` takes the slow path, which wakes it.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections.abc import Callable

import anyio

from asynctokens.writer import _closing, _runtime
from asynctokens.writer._engine import IDLE_WAKE_S, RETRY_MAX_S, Engine
from asynctokens.writer._lifetime import _CLOSED, _CLOSING, _RUNNING, _UNSTARTED, Lifetime


async def run_holding_weakly(
    ref: weakref.ref[WorkerLoop], engine: Engine, close_timeout_s: float
) -> None:
    """A thread worker's loop: it holds its tracker only while it runs a turn.

    A tracker made per call and never closed would otherwise live, with its thread, until
    the process exits. Between turns (a batch's delay, the idle sleep) only this weak
    reference is held: once the application drops the tracker, the worker writes what is
    still queued (the engine, which owns the queue, is held here) and its thread ends.
    """
    try:
        await _turns(ref, engine, close_timeout_s)
    finally:
        _runtime.orphans.pop(threading.current_thread(), None)


async def _turns(ref: weakref.ref[WorkerLoop], engine: Engine, timeout_s: float) -> None:
    running = True
    while True:
        tracker = ref()
        if tracker is None:
            # dropped while closing: its close() has returned, and said what it left
            if running:
                drain_orphan(engine, timeout_s)
            return
        wait = tracker._turn()
        running = tracker._state is _RUNNING
        del tracker
        if wait is None:
            return
        if not isinstance(wait, threading.Event):
            await anyio.sleep(wait)
            continue
        wait.wait(IDLE_WAKE_S)  # our own thread and loop: nothing else runs on it
        tracker = ref()
        if tracker is not None and tracker._asleep:
            tracker._wake_worker()
        del tracker


def drain_orphan(engine: Engine, timeout_s: float) -> None:
    """Write what a tracker dropped unclosed left queued, then end (and say any loss).

    The close's rule holds: give up only after the tracker's ``close_timeout_s`` without
    progress. The exit hook waits for this drain (``_runtime.orphans``)."""
    seen, deadline = -1, 0.0
    while True:
        if engine.writer.written != seen:
            seen, deadline = engine.writer.written, time.monotonic() + timeout_s
        try:
            delay = engine.step(True, deadline)
        except Exception as exc:  # a bug must not kill the drain
            engine.writer.debug(f"internal error: {exc!r}")
            delay = RETRY_MAX_S
        if delay is None:
            break
        time.sleep(delay)
    lost = engine.unwritten()
    engine.finish(lost=bool(lost))
    if lost:
        message = (
            f"a tracker dropped without close() left {lost} events not written: no"
            f" progress for {timeout_s:g}s"
        )
        engine.writer.debug(message)
        print(f"asynctokens: {message}", file=sys.stderr)
    engine.close_sinks()


class WorkerLoop(Lifetime):
    """The worker's loop, its sleep, and its end: when closed, at exit, in a fork child."""

    def _thread_main(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        args = (run_holding_weakly, weakref.ref(self), self._engine, self.close_timeout_s)
        return anyio.run, args

    async def _run(self, offload: bool) -> None:
        """Hand work to :meth:`_cycle` until closed and drained; sleep when there is none."""
        engine = self._engine
        assert engine is not None
        try:
            while True:
                if not engine.has_work(self._state is not _RUNNING):
                    if self._queue or engine.busy():
                        await anyio.sleep(engine.idle_delay())  # a batch is filling: look again
                    else:
                        await self._sleep(offload)
                    continue
                if offload:
                    delay = await anyio.to_thread.run_sync(self._safe_step)
                else:
                    delay = self._safe_step()
                if delay is None:
                    return
                await anyio.sleep(delay)
        finally:
            with anyio.CancelScope(shield=True):
                if self._state is _RUNNING:
                    self._capacity = 0
                    self._state = _CLOSING
                    self._close_wait = self.close_timeout_s
                    self._close_deadline = time.monotonic() + self.close_timeout_s
                while not self._done.is_set():
                    run = self._safe_step
                    delay = await anyio.to_thread.run_sync(run) if offload else run()
                    if delay is None:
                        break
                    await anyio.sleep(delay)

    def _turn(self) -> float | threading.Event | None:
        """One pass of a thread worker (``run_holding_weakly``): a step when one is due, the
        delay before the next look, the event to sleep on when idle, or None when over."""
        engine = self._engine
        assert engine is not None
        if not engine.has_work(self._state is not _RUNNING):
            if self._queue or engine.busy():
                return engine.idle_delay()  # a batch is filling: look again
            return self._fall_asleep()
        return self._safe_step()

    def _fall_asleep(self) -> threading.Event | float:
        """The event to sleep on, or 0.0 when a log(), flush() or close() raced the sleep."""
        self._wake.clear()
        self._asleep = True
        self._capacity = 0
        engine = self._engine
        assert engine is not None
        if (
            self._queue
            or self._state is not _RUNNING
            or engine.flush_requested != engine.flush_taken
        ):
            self._wake_worker()  # not asleep after all
            return 0.0
        return self._wake

    async def _sleep(self, offload: bool) -> None:
        """Nothing queued, nothing pending: sleep until an event, a flush or close wakes us.

        The fast path of ``log()`` cannot wake a sleeping worker (it makes no call that
        could), so ``_capacity`` goes to 0 first: the next ``log()`` takes the slow path,
        which wakes the worker. An event appended by a call that had read the old capacity
        in the few instructions before (a thread switch there is rare) is found when the
        sleep times out, after ``IDLE_WAKE_S``: an idle tracker wakes that seldom, and 300
        idle trackers cost about 0.1 % of a core.
        """
        if isinstance(self._fall_asleep(), float):
            return  # raced with a log(), flush() or close(): not asleep after all
        timeout = IDLE_WAKE_S
        if offload:  # a task of the app's loop: wait on a worker thread, not on the loop
            await anyio.to_thread.run_sync(self._wake.wait, timeout, abandon_on_cancel=True)
        else:  # our own thread and loop: nothing else runs on it
            self._wake.wait(timeout)
        if self._asleep:
            self._wake_worker()

    def _safe_step(self) -> float | None:
        """One engine step; the tracker's own bookkeeping around it; None when it is over."""
        engine = self._engine
        assert engine is not None
        closing = self._state is not _RUNNING
        writer = self._writer
        if closing and writer is not None and writer.written != self._close_seen:
            # progress: the close's timeout counts from here (see Lifetime.aclose)
            self._close_seen = writer.written
            self._close_deadline = time.monotonic() + self._close_wait
        try:
            delay = engine.step(closing, self._close_deadline)
        except Exception as exc:  # a bug must not kill the worker or reach the application
            self._record_error(f"internal error: {exc!r}")
            return RETRY_MAX_S
        self._report_drops(engine)
        if delay is None:
            self._finish(engine, lost=bool(engine.unwritten()))
        return delay

    def _report_drops(self, engine: Engine) -> None:
        dropped = self._dropped
        if dropped != self._dropped_reported:
            engine.writer.debug(
                f"queue full ({self.max_queue_events} events): dropped"
                f" {dropped - self._dropped_reported} events ({dropped} in all)"
            )
            self._dropped_reported = dropped

    def _finish(self, engine: Engine, *, lost: bool) -> None:
        if lost:
            _closing.report_loss(self)
        engine.finish(lost=lost)
        self._state = _CLOSED
        self._done.set()

    # -- exits and fork (the hooks are _runtime's) ------------------------------------------
    def _needs_drain(self) -> bool:
        return self._worker_kind == "thread" and self._state is _RUNNING

    def _drain_at_exit(self) -> None:
        if self._worker_kind == "thread" and self._state in (_RUNNING, _CLOSING):
            self._closed_at_exit = True
            self.close()

    def _after_fork_in_child(self) -> None:
        """The parent writes what was queued before the fork; the child starts empty."""
        if self._state is not _UNSTARTED:
            was_closed = self._state is _CLOSED
            self._init_runtime()
            if was_closed:
                self._state = _CLOSED
