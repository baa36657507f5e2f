"""How much Python an instrumented call adds, counted rather than timed.

    python -m benchmarks.ops_bench [--chunks 1] [--top 8]

On this project's shared 2-core machine a whole streamed call's wall time moves by more
than the instrumentation costs, so ``sdk_bench``'s stream figures cannot tell one version
of the stream wrapper from the next. This counts instead: the Python bytecode instructions
the interpreter runs for one SDK call on an instrumented client, minus those of the same
call on a bare client (same mock transport, warmed up first), with the functions that run
the most of them. The count is exact and the same on every run; it leaves out the work
done in C (the SDKs' pydantic parsing, ``dict.get``), which is the same on both sides
except for the few C calls each bytecode makes. Run from the repository root with the test
extras installed (the canned replies are the integration tests').
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from asynctokens import TokenTracker
from benchmarks.sdk_bench import _calls, _stream_calls


def count_ops(fn: Callable[[], Any]) -> Counter[tuple[str, str]]:
    """Bytecodes run by one call of ``fn`` (after 3 unrecorded ones), per (file, function)."""
    for _ in range(3):
        fn()
    counts: Counter[tuple[str, str]] = Counter()

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            counts[(Path(code.co_filename).name, code.co_name)] += 1
        return trace

    sys.settrace(trace)
    try:
        fn()
    finally:
        sys.settrace(None)
    return counts


def added(
    bare: Callable[[], Any], tracked: Callable[[], Any]
) -> tuple[int, Counter[tuple[str, str]]]:
    """Bytecodes the instrumented call runs beyond the bare one, and by whom."""
    before, after = count_ops(bare), count_ops(tracked)
    return sum(after.values()) - sum(before.values()), after - before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ops_bench", description=__doc__)
    parser.add_argument("--chunks", type=int, default=1, help="text chunks per stream")
    parser.add_argument("--top", type=int, default=8, help="functions shown per call")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tracker = TokenTracker(Path(tmp))
        shapes = {
            "whole reply": (_calls(None), _calls(tracker)),
            f"stream of {args.chunks} chunks": (
                _stream_calls(None, args.chunks),
                _stream_calls(tracker, args.chunks),
            ),
        }
        print("| call | openai | anthropic | gemini |\n|---|---:|---:|---:|")
        details = []
        for shape, (bare, tracked) in shapes.items():
            row = []
            for provider in ("openai", "anthropic", "gemini"):
                total, by_function = added(bare[provider], tracked[provider])
                row.append(f"{total:,}")
                top = ", ".join(f"{name} {n}" for (_, name), n in by_function.most_common(args.top))
                details.append(f"- {shape}, {provider}: {top}")
            print(f"| {shape} | " + " | ".join(row) + " |")
        print("\n" + "\n".join(details))
        assert tracker.close() is True
    return 0


if __name__ == "__main__":
    sys.exit(main())
