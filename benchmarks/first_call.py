"""What the first ``log_tokens()`` costs a request handler on an event loop.

    python -m benchmarks.first_call [--runs 5]

Each run is a fresh interpreter: ``from asynctokens import log_tokens`` at start-up (as an
application imports it), then, inside a coroutine, the first call (which starts the
writer's thread) and a second one. Prints the median and worst of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    os.environ["ASYNCTOKENS_LOG_DIR"] = sys.argv[1]
    from asynctokens import get_tracker, log_tokens

    async def main():
        t = time.perf_counter(); log_tokens(1, 1, "openai", "gpt-4o")
        first = time.perf_counter() - t
        t = time.perf_counter(); log_tokens(1, 1, "openai", "gpt-4o")
        second = time.perf_counter() - t
        print(json.dumps([first * 1000, second * 1e6]))

    asyncio.run(main())
    get_tracker().close()
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    firsts, seconds = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, "-c", CHILD, tmp], capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
        first, second = json.loads(out)
        firsts.append(first)
        seconds.append(second)
    print(f"first log_tokens() on a loop: median {statistics.median(firsts):.3f} ms,"
          f" worst {max(firsts):.3f} ms")  # fmt: skip
    print(f"the second: median {statistics.median(seconds):.1f} us, worst {max(seconds):.1f} us")


if __name__ == "__main__":
    main()
