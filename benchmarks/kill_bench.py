"""How many events a SIGKILL loses from a process logging 200 events a second.

    python -m benchmarks.kill_bench [--kills 20]

Each round starts a process that logs 200 events a second and prints its count (and how
many its writer says it wrote) after each,
kills it with SIGKILL at a random moment 1 to 3 s in, and counts the events on disk: the
events lost are those still queued (or being written) at the kill, about a flush interval's
worth (``flush_interval_s``, 10 ms: 2 events at this rate). The tests show with counts that
what the writer said it wrote survives a kill (``tests/test_servers.py``); this times the
window.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from asynctokens import reader

#: The process killed (also by tests/test_servers.py): it logs 200 events a second into the
#: directory it is given and prints, after each, the events logged and those written.
CHILD = textwrap.dedent(
    """
    import sys, time
    from asynctokens import TokenTracker
    tracker = TokenTracker(sys.argv[1])
    start = time.monotonic()
    i = 0
    while True:
        time.sleep(max(0.0, start + i / 200 - time.monotonic()))
        tracker.log(i, 1)
        i += 1
        print(i, tracker.health().written, flush=True)
    """
)


def one_kill(after_s: float) -> tuple[int, int]:
    """(events logged, events on disk) of one process killed ``after_s`` seconds after its
    first event (not after its start: a loaded machine starts it late)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, tmp], stdout=subprocess.PIPE,
                                text=True)  # fmt: skip
        assert proc.stdout is not None
        first = proc.stdout.readline()
        time.sleep(after_s)
        proc.kill()
        # a line the kill cut short is not a count
        printed = [line.split() for line in [first, *proc.communicate()[0].splitlines()]]
        counts = [int(fields[0]) for fields in printed if len(fields) == 2]
        logged = counts[-1] if counts else 0
        if not any(Path(tmp).glob("tokens_*.jsonl")):
            return logged, 0  # killed before its first write
        return logged, sum(1 for _ in reader.iter_events(Path(tmp)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kill_bench", description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    args = parser.parse_args(argv)
    rng = random.Random(20261203)
    lost = []
    for _ in range(args.kills):
        logged, written = one_kill(rng.uniform(1.0, 3.0))
        lost.append(logged - written)
    print("| kills | events lost: median | max | min |\n|---:|---:|---:|---:|")
    print(f"| {args.kills} | {statistics.median(lost):g} | {max(lost)} | {min(lost)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
