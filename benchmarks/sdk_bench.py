"""What logging straight from the SDKs costs the caller.

    python -m benchmarks.sdk_bench [--calls 100000] [--sdk-calls 3000] [--rounds 3]
                                   [--streams 60] [--chunks 100]

1. ``log_response(resp)`` on real SDK objects (an OpenAI ``ChatCompletion``, an Anthropic
   ``Message``, a GenAI ``GenerateContentResponse``, each built by its SDK from canned HTTP),
   timed call by call, next to ``log_tokens()`` with the same fields written out by hand: the
   difference is what reading the response adds.
2. The instrumentation alone: the method wrapper ``instrument()`` puts on a client, around
   a method that returns the SDK's reply at once, against that method bare (paired blocks):
   the CPU an instrumented call adds in the caller's thread (reading the usage, logging it),
   warm, and right after a bare SDK call as in a real call (the SDK's work evicts the
   wrapper's code and data from the CPU caches: that, not the wrapper's length, is most of
   what 3. adds).
3. One SDK call on an instrumented client against the same call on a bare client, both on
   the same mock transport, in alternating blocks so drift hits both alike: the ratio is what
   instrumenting adds to a call (the mock transport makes the call itself as cheap as it gets,
   so this is the worst case; a real network call is 1,000 times longer).
4. The same for a streamed call read to its end (``--chunks`` text chunks): what the stream
   wrapper adds to a whole stream, its per-chunk work included.

The canned replies are the integration tests' (``tests/sdk_replies.py``); run from the
repository root. Figures are medians over rounds; read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asynctokens import TokenTracker
from tests import sdk_replies as r

MESSAGES = [{"role": "user", "content": "Hi"}]


def _per_call_ns(fn: Callable[[], Any], n: int) -> list[int]:
    clock = time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out


def _timer_ns(n: int = 100_000) -> float:
    clock = time.perf_counter_ns
    return statistics.median(-clock() + clock() for _ in range(n))


def _objects() -> dict[str, Any]:
    """One real response per SDK, and the log_tokens() call that logs the same event."""
    chat = r.openai_client(r.Replies(r.openai_chat())).chat.completions.create(
        model="gpt-4o", messages=MESSAGES
    )
    message = r.anthropic_client(r.Replies(r.anthropic_message())).messages.create(
        model="claude-opus-4-5", max_tokens=10, messages=MESSAGES
    )
    gemini = r.gemini_client(r.Replies(r.gemini_reply())).models.generate_content(
        model="gemini-2.5-pro", contents="Hi"
    )
    return {"openai": chat, "anthropic": message, "gemini": gemini}


def measure_log_response(calls: int, rounds: int) -> dict[str, Any]:
    objects = _objects()
    hand = {
        "openai": dict(prompt_tokens=1200, completion_tokens=300, api_type="openai",
                       model="gpt-4o-2024-08-06", cached_tokens=1024, reasoning_tokens=128,
                       request_id="req_chat_1"),
        "anthropic": dict(prompt_tokens=2600, completion_tokens=300, api_type="anthropic",
                          model="claude-opus-4-5-20251101", cached_tokens=2000,
                          cache_write_tokens=500, reasoning_tokens=120, request_id="req_ant_1"),
        "gemini": dict(prompt_tokens=1050, completion_tokens=300, api_type="gemini",
                       model="gemini-2.5-pro", cached_tokens=400, reasoning_tokens=100,
                       request_id="resp-gem-1"),
    }  # fmt: skip
    names = ("log_response", "log_tokens", "usage_from")
    samples: dict[str, dict[str, list[int]]] = {p: {n: [] for n in names} for p in objects}
    from asynctokens import usage_from

    block = min(500, calls)
    with tempfile.TemporaryDirectory() as tmp:
        tracker = TokenTracker(Path(tmp), max_queue_events=4 * calls * rounds + 2000)
        runs = {
            provider: {
                "log_response": lambda obj=obj: tracker.log_response(obj, latency_ms=812.5),
                "log_tokens": lambda f=hand[provider]: tracker.log(**f, latency_ms=812.5),
                "usage_from": lambda obj=obj: usage_from(obj),
            }
            for provider, obj in objects.items()
        }
        order = [(p, n) for p in objects for n in names]
        gc.collect()
        # small blocks in rotating order: the worker thread writing the events logged so far
        # (it shares the GIL) and the machine's drift hit every function alike
        for i in range(rounds * (calls // block)):
            k = i % len(order)
            for provider, name in order[k:] + order[:k]:
                samples[provider][name] += _per_call_ns(runs[provider][name], block)
        tracker.close()
    timer = _timer_ns()
    out: dict[str, Any] = {"timer_ns": timer}
    for provider, by_name in samples.items():
        row: dict[str, float] = {}
        for name, values in by_name.items():
            values.sort()
            row[name] = values[len(values) // 2] - timer
            row[name + "_p99"] = values[int(len(values) * 0.99)]
        out[provider] = row
    return out


def _calls(tracker: TokenTracker | None) -> dict[str, Callable[[], Any]]:
    """One sync call per SDK on a client (instrumented by ``tracker`` when given)."""

    openai = r.openai_client(_forever(r.openai_chat))
    anthropic = r.anthropic_client(_forever(r.anthropic_message))
    gemini = r.gemini_client(_forever(r.gemini_reply))
    if tracker is not None:
        for client in (openai, anthropic, gemini):
            tracker.instrument(client)
    return {
        "openai": lambda: openai.chat.completions.create(model="gpt-4o", messages=MESSAGES),
        "anthropic": lambda: anthropic.messages.create(
            model="claude-opus-4-5", max_tokens=10, messages=MESSAGES
        ),
        "gemini": lambda: gemini.models.generate_content(model="gemini-2.5-pro", contents="Hi"),
    }


def _forever(reply: Callable[[], Any]) -> r.Replies:
    """A mock transport's handler that answers every request with a fresh ``reply()``."""
    replies = r.Replies()
    replies.queue = _Endless(reply)  # type: ignore[assignment]
    return replies


class _Endless:
    """A reply queue that never runs out: pop() builds a fresh reply every time."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def pop(self, _index: int) -> Any:
        return self.make()


def _paired(bare: Callable[[], Any], tracked: Callable[[], Any], count: int, block: int,
            warm_up: int) -> list[tuple[float, float]]:  # fmt: skip
    """``count`` pairs of (bare, tracked) ns per call, each timed over a block of ``block``
    calls, the bare block just before the tracked one; both warmed up first."""
    for fn in (bare, tracked):
        for _ in range(warm_up):
            fn()
    clock = time.perf_counter_ns
    pairs: list[tuple[float, float]] = []
    for _ in range(count):
        times = []
        for fn in (bare, tracked):
            t0 = clock()
            for _ in range(block):
                fn()
            times.append((clock() - t0) / block)
        pairs.append((times[0], times[1]))
    return pairs


def measure_instrumented(sdk_calls: int, rounds: int, block: int = 20) -> dict[str, Any]:
    """Per SDK: bare and instrumented calls in alternating blocks; the median paired ratio.

    Pairing each instrumented block with the bare block just before it cancels the slow
    drift of a shared machine; the median of the pairs' ratios ignores the blocks a
    background task happened to hit.
    """
    with tempfile.TemporaryDirectory() as tmp:
        tracker = TokenTracker(Path(tmp), max_queue_events=sdk_calls * rounds * 3 + 2000)
        bare, tracked = _calls(None), _calls(tracker)
        out: dict[str, Any] = {}
        for provider in bare:
            pairs = _paired(bare[provider], tracked[provider], rounds * (sdk_calls // block),
                            block, warm_up=50)  # fmt: skip
            ratio = statistics.median(t / b for b, t in pairs)
            out[provider] = {
                "bare_us": statistics.median(b for b, _ in pairs) / 1000,
                "instrumented_us": statistics.median(t for _, t in pairs) / 1000,
                "overhead_pct": 100 * (ratio - 1),
                "calls": len(pairs) * block,
            }
        assert tracker.close() is True
    return out


def _stream_calls(tracker: TokenTracker | None, chunks: int) -> dict[str, Callable[[], Any]]:
    """One streamed call per SDK, read to its end, of ``chunks`` text chunks: the OpenAI
    chat stream asked for its usage chunk (as an instrumented client asks), Anthropic's raw
    events, Gemini's chunks with running totals."""
    openai_events = r.openai_chat_stream_events(with_usage=True)
    anthropic_events = r.anthropic_stream_events()
    gemini_bodies = r.gemini_stream_bodies()

    def openai_reply() -> Any:
        reply = r.sse(openai_events[:1] * chunks + openai_events[-1:], done=True)
        reply.headers["x-request-id"] = "req_stream"
        return reply

    def anthropic_reply() -> Any:
        return r.sse(anthropic_events[:2] + anthropic_events[2:3] * chunks + anthropic_events[-3:])

    def gemini_reply() -> Any:
        return r.sse([(None, gemini_bodies[1])] * chunks + [(None, gemini_bodies[2])])

    openai = r.openai_client(_forever(openai_reply))
    anthropic = r.anthropic_client(_forever(anthropic_reply))
    gemini = r.gemini_client(_forever(gemini_reply))
    if tracker is not None:
        for client in (openai, anthropic, gemini):
            tracker.instrument(client)
    usage = {"include_usage": True}
    return {
        "openai": lambda: list(
            openai.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True, stream_options=usage
            )
        ),
        "anthropic": lambda: list(
            anthropic.messages.create(
                model="claude-opus-4-5", max_tokens=10, messages=MESSAGES, stream=True
            )
        ),
        "gemini": lambda: list(
            gemini.models.generate_content_stream(model="gemini-2.5-pro", contents="Hi")
        ),
    }


def measure_streams(streams: int, rounds: int, chunks: int = 100, block: int = 3) -> dict[str, Any]:
    """Per SDK: streamed calls of ``chunks`` chunks, bare and instrumented, in alternating
    blocks (as :func:`measure_instrumented`): what instrumenting adds to a whole stream."""
    with tempfile.TemporaryDirectory() as tmp:
        tracker = TokenTracker(Path(tmp), max_queue_events=streams * rounds * 3 + 2000)
        bare, tracked = _stream_calls(None, chunks), _stream_calls(tracker, chunks)
        out: dict[str, Any] = {}
        for provider in bare:
            pairs = _paired(bare[provider], tracked[provider], rounds * (streams // block),
                            block, warm_up=5)  # fmt: skip
            ratio = statistics.median(t / b for b, t in pairs)
            bare_us = statistics.median(b for b, _ in pairs) / 1000
            out[provider] = {
                "bare_us": bare_us,
                "overhead_pct": 100 * (ratio - 1),
                "added_us": bare_us * (ratio - 1),
                "chunks": chunks,
            }
        assert tracker.close() is True
    return out


def _warm_and_cold(bare: Callable[[], Any], wrapped: Callable[[], Any],
                   before: Callable[[], Any], warm: tuple[int, int],
                   cold: tuple[int, int]) -> tuple[float, float]:  # fmt: skip
    """ns ``wrapped()`` adds to ``bare()``: the median over ``warm[0]`` pairs of blocks of
    ``warm[1]`` calls each, back to back (warm caches); and over ``cold[0]`` pairs of
    ``cold[1]`` calls each, every call timed alone in the thread's CPU time right after
    ``before()`` (the SDK's own work, not timed, which leaves the caches cold)."""
    clock, cpu = time.perf_counter_ns, time.thread_time_ns
    added, left = [], []
    for _ in range(warm[0]):
        times = []
        for fn in (bare, wrapped):
            t0 = clock()
            for _ in range(warm[1]):
                fn()
            times.append((clock() - t0) / warm[1])
        added.append(times[1] - times[0])
    for _ in range(cold[0]):
        times = []
        for fn in (bare, wrapped):
            spent = 0
            for _ in range(cold[1]):
                before()
                t0 = cpu()
                fn()
                spent += cpu() - t0
            times.append(spent / cold[1])
        left.append(times[1] - times[0])
    return statistics.median(added), statistics.median(left)


def _read(create: Callable[..., Any]) -> None:
    """One streamed call, read to its end."""
    for _item in create(model="m", messages=MESSAGES):
        pass


def measure_wrapper(rounds: int, block: int = 500) -> dict[str, tuple[float, float]]:
    """Per SDK: ns the method wrapper adds around a method that returns its reply at once
    (median of paired blocks), so nothing but the instrumentation is timed: warm (the
    wrapper called again and again), and as it runs in a real call, right after the SDK's
    own work has filled the CPU's caches with other code and data (each call timed alone, in
    the thread's CPU time, after a bare SDK call on the mock transport)."""
    from types import SimpleNamespace

    from asynctokens.integrations import anthropic, gemini, openai
    from asynctokens.integrations._wrap import NEVER, At, wrap_method

    replies = _objects()
    readers = {"openai": openai, "anthropic": anthropic, "gemini": gemini}
    sdk = _calls(None)
    out: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tracker = TokenTracker(Path(tmp), max_queue_events=rounds * 300 * block * 3 + 2000)
        for provider, reader in readers.items():
            reply = replies[provider]
            bare = SimpleNamespace(create=lambda *a, _r=reply, **k: _r)
            wrapped = SimpleNamespace(create=lambda *a, _r=reply, **k: _r)
            wrap_method(At(tracker, r.OPENAI_KEY, provider), wrapped, "create", reader, NEVER)
            out[provider] = _warm_and_cold(
                functools.partial(bare.create, model="m", messages=MESSAGES),
                functools.partial(wrapped.create, model="m", messages=MESSAGES),
                sdk[provider], (rounds * 60, block), (rounds * 40, 10),
            )  # fmt: skip
        assert tracker.close() is True
    return out


class _Replayed:
    """A stream of the SDK's own items (and its HTTP response, for the request id header),
    replayed from a list, with the pass-through layer an OpenAI ``Stream`` has: iterating it
    is nearly free, so what the stream wrapper adds is all there is to time."""

    def __init__(self, items: list[Any], response: Any) -> None:
        self._iterator, self.response = iter(items), response

    def __iter__(self) -> Any:
        for item in self._iterator:  # noqa: UP028 (the SDK's own loop, as it is)
            yield item


#: How a timing wraps a replayed stream method: (provider, the bare method, the tracker) ->
#: the method to time against the bare one.
Wrapping = Callable[[str, Callable[..., Any], TokenTracker], Callable[..., Any]]


def _stream_wrapping_cost(rounds: int, chunks: int, block: int,
                          wrapping: Wrapping) -> dict[str, tuple[float, float]]:  # fmt: skip
    """Per SDK: ns ``wrapping`` adds to a streamed call of ``chunks`` chunks read to its
    end, around a method that returns the SDK's own items at once (paired blocks, as
    :func:`measure_wrapper`): warm, and cold: each stream timed alone in the thread's CPU
    time, replaying the chunks a bare streamed SDK call has just made (the SDK's work has
    evicted the wrapper's code and data from the CPU caches, as between two chunks of a
    real stream; the chunks are as fresh as the SDK left them). A whole stream on a mock
    transport costs the SDK a thousand times more than this, so timing the two together
    cannot resolve it."""
    from types import SimpleNamespace

    sdk = _stream_calls(None, chunks)
    out: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tracker = TokenTracker(Path(tmp), max_queue_events=rounds * 200 * block * 3 + 2000)
        for provider in sdk:
            items = [sdk[provider]()]  # the chunks the next stream replays
            # a response with an x-request-id header, as a real stream's
            stream = SimpleNamespace(headers=r.openai_chat_stream().headers)

            def create(*a: Any, _i: list[Any] = items, _s: Any = stream, **k: Any) -> Any:
                return _Replayed(_i[0], _s)

            def fresh(_i: list[Any] = items, _sdk: Callable[[], Any] = sdk[provider]) -> None:
                _i[0] = _sdk()  # the SDK's stream; the next stream replays its chunks

            out[provider] = _warm_and_cold(
                functools.partial(_read, create),
                functools.partial(_read, wrapping(provider, create, tracker)),
                fresh, (rounds * 40, block), (rounds * 20, 5),
            )  # fmt: skip
        assert tracker.close() is True
    return out


def measure_stream_wrapper(rounds: int, chunks: int = 100,
                           block: int = 20) -> dict[str, tuple[float, float]]:  # fmt: skip
    """Per SDK: ns the stream wrapper adds (its per-chunk work, reading the usage, logging
    it), timed by :func:`_stream_wrapping_cost`."""
    from types import SimpleNamespace

    from asynctokens.integrations import anthropic, gemini, openai
    from asynctokens.integrations._wrap import ALWAYS, At, wrap_method

    readers = {"openai": openai, "anthropic": anthropic, "gemini": gemini}

    def instrumented(provider: str, create: Callable[..., Any], tracker: TokenTracker) -> Any:
        owner = SimpleNamespace(create=create)
        wrap_method(At(tracker, r.OPENAI_KEY, provider), owner, "create", readers[provider],
                    ALWAYS)  # fmt: skip
        return owner.create

    return _stream_wrapping_cost(rounds, chunks, block, instrumented)


def _passed(items: Any, log: Callable[..., None]) -> Any:
    """The floor's stream: each item passed on, then one event logged."""
    yield from items
    log(1, 1, "openai", "m")


def measure_stream_floor(rounds: int, chunks: int = 100,
                         block: int = 20) -> dict[str, tuple[float, float]]:  # fmt: skip
    """Per SDK: ns the least any stream wrapper must do adds, timed as
    :func:`measure_stream_wrapper` times the real one: a Python function in place of the
    SDK method, a generator passing each item on, and one ``log_tokens`` call at the end
    (no usage read, no request id, no call object). What the real wrapper costs above this
    is its own work; this much no wrapper written in Python avoids."""

    def floor(_provider: str, create: Callable[..., Any], tracker: TokenTracker) -> Any:
        log = tracker.log
        return lambda *a, **k: _passed(create(*a, **k), log)

    return _stream_wrapping_cost(rounds, chunks, block, floor)


def _warm_cold_table(head: str, rows: dict[str, tuple[float, float]]) -> list[str]:
    """A table of what :func:`_warm_and_cold` measured per provider, in µs."""
    return ["", f"| {head} |", "|---|---:|---:|"] + [
        f"| {provider} | {warm / 1000:,.1f} | {cold / 1000:,.1f} |"
        for provider, (warm, cold) in rows.items()
    ]


def render(log_response: dict[str, Any], instrumented: dict[str, Any],
           wrapper: dict[str, tuple[float, float]] | None = None,
           streams: dict[str, Any] | None = None,
           stream_wrapper: dict[str, tuple[float, float]] | None = None,
           stream_floor: dict[str, tuple[float, float]] | None = None) -> str:  # fmt: skip
    lines = [
        "| SDK object | `log_response(resp)` p50 ns | p99 ns | `log_tokens(...)` by hand p50 ns"
        " | added by reading the response ns | `usage_from(resp)` p50 ns |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for provider in ("openai", "anthropic", "gemini"):
        row = log_response[provider]
        lines.append(
            f"| {provider} | {row['log_response']:,.0f} | {row['log_response_p99']:,.0f}"
            f" | {row['log_tokens']:,.0f} | {row['log_response'] - row['log_tokens']:,.0f}"
            f" | {row['usage_from']:,.0f} |"
        )
    if wrapper is not None:
        lines += _warm_cold_table(
            "instrumentation alone (paired blocks) | added per call µs, warm"
            " | right after an SDK call (cold caches)", wrapper
        )  # fmt: skip
    lines += [
        "",
        "| SDK call on a mock transport | bare client µs | instrumented µs"
        " | added (median of paired blocks) | added µs (the ratio times the bare call) |",
        "|---|---:|---:|---:|---:|",
    ]
    for provider, row in instrumented.items():
        lines.append(
            f"| {provider} | {row['bare_us']:,.1f} | {row['instrumented_us']:,.1f}"
            f" | {row['overhead_pct']:+.1f} % | {row['bare_us'] * row['overhead_pct'] / 100:+.1f} |"
        )
    if stream_wrapper is not None:
        lines += _warm_cold_table(
            "stream wrapper alone (paired blocks), chunks as given | added per streamed call"
            " µs, warm | right after a bare streamed SDK call (cold caches)", stream_wrapper
        )  # fmt: skip
    if stream_floor is not None:
        lines += _warm_cold_table(
            "the least a stream wrapper does (a generator and one log call), timed alike"
            " | µs, warm | cold", stream_floor
        )  # fmt: skip
    if streams is not None:
        lines += [
            "",
            "| streamed call read to its end | chunks | bare client µs"
            " | added (median of paired blocks) | added µs |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {provider} | {row['chunks']} | {row['bare_us']:,.0f}"
            f" | {row['overhead_pct']:+.2f} % | {row['added_us']:+.1f} |"
            for provider, row in streams.items()
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sdk_bench", description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000, help="timed log_response calls")
    parser.add_argument("--sdk-calls", type=int, default=3_000, help="SDK calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, default=60, help="streamed calls per round")
    parser.add_argument("--chunks", type=int, default=100, help="text chunks per stream")
    args = parser.parse_args(argv)
    print(
        render(
            measure_log_response(args.calls, args.rounds),
            measure_instrumented(args.sdk_calls, args.rounds),
            measure_wrapper(args.rounds),
            measure_streams(args.streams, args.rounds, args.chunks),
            measure_stream_wrapper(args.rounds, args.chunks),
            measure_stream_floor(args.rounds, args.chunks),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
