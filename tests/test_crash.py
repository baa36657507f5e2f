"""Hard kills: SIGKILL at random moments never leaves a file the reader or the next writer
cannot use, and loses at most what was still queued."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import read_stats

from asynctokens import TokenTracker, reader

CHILD = textwrap.dedent(
    """
    import sys, time
    from asynctokens import TokenTracker
    tracker = TokenTracker(sys.argv[1], batch_size=200, flush_interval_s=0.05)
    run = sys.argv[2]
    i = 0
    while True:
        for _ in range(500):
            tracker.log(i, 1, model=run)
            i += 1
        print(i, flush=True)
        time.sleep(0.005)
    """
)


def kill_one(log_dir: Path, run: str, rng: random.Random) -> tuple[int, float]:
    """Start a logging child, SIGKILL it at a random moment; return what it had reported
    logging at least 0.5 s before the kill (that much must be on disk), and the delay."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(log_dir), run],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    stdout = proc.stdout
    first = stdout.readline()  # the child is up and logging
    reports = [(time.monotonic(), int(first))]

    def collect() -> None:  # blocking reads on a thread: whole lines, stamped on arrival
        reports.extend((time.monotonic(), int(line)) for line in stdout)

    reader_thread = threading.Thread(target=collect)
    reader_thread.start()
    delay = rng.uniform(0.05, 0.5)
    time.sleep(delay)
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader_thread.join()
    stdout.close()
    required = max([n for t, n in reports if t <= killed_at - 0.5], default=0)
    return required, delay


@pytest.mark.parametrize(
    "kills",
    [pytest.param(3, id="3-kills"), pytest.param(20, id="20-kills", marks=pytest.mark.slow)],
)
def test_sigkill_at_random_moments_keeps_every_file_usable(tmp_path: Path, kills: int) -> None:
    rng = random.Random(20261123)
    log_dir = tmp_path / "tokens"
    required = {}
    for k in range(kills):
        required[f"run-{k}"], _ = kill_one(log_dir, f"run-{k}", rng)
    # every file readable; each run's events on disk are a gap-free, duplicate-free prefix
    report = reader.ReadReport()
    seen: dict[str, list[int]] = {}
    for event in reader.iter_events(log_dir, report=report):
        seen.setdefault(event["model"], []).append(event["prompt_tokens"])
    for run, values in seen.items():
        assert values == list(range(len(values))), run
    for run, need in required.items():
        assert len(seen.get(run, [])) >= need, (run, need)
    assert report.bad_lines <= kills  # at most one torn line per kill
    # a later process repairs the last torn tail, folds everything, and its stats match
    tracker = TokenTracker(log_dir)
    tracker.log(5, 5, model="after")
    assert tracker.close() is True
    after = reader.ReadReport()
    events = list(reader.iter_events(log_dir, report=after))
    stats = read_stats(log_dir)
    assert stats["total_requests"] == len(events)
    assert stats["total_prompt_tokens"] == sum(e["prompt_tokens"] for e in events)
    assert stats["invalid_lines"] == after.bad_lines
    assert events[-1]["model"] == "after"
