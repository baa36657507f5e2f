"""Every thread asynctokens starts blocks SIGTERM and SIGINT, so a process-directed signal
reaches the main thread (or one of the application's) and never lands where it cannot
interrupt a main thread blocked in a C wait: the fork-pool hang CI caught once, its stacks
showing a Pool worker stuck on its queue's lock after SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import pytest

from asynctokens import Budget, TokenTracker

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def blocked(thread: threading.Thread) -> set[int]:
    """The signals ``thread`` blocks, from the kernel's own record."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    mask = int(
        next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16
    )
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


def test_the_writer_sink_and_budget_threads_block_sigterm_and_sigint(tmp_path: Path) -> None:
    class Quiet:
        def export(self, events: object) -> None:
            pass

        def shutdown(self) -> None:
            pass

    tracker = TokenTracker(tmp_path, sinks=[Quiet()], budgets=[Budget(usd=100)])
    tracker.log(1, 1, "openai", "gpt-4o")
    assert tracker.flush_sync()
    ours = [t for t in threading.enumerate() if t.name.startswith("asynctokens")]
    assert {t.name.split("-")[1] for t in ours} >= {"writer", "sink", "budgets"}
    for thread in ours:
        assert {signal.SIGTERM, signal.SIGINT} <= blocked(thread), thread.name
    assert signal.SIGTERM not in blocked(threading.main_thread())  # ours alone
    assert tracker.close()
