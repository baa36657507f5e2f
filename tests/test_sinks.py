"""Sinks beside the files: every written event, in order; a failing sink costs nothing else."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from asynctokens import Sink, TokenEvent, TokenTracker
from asynctokens.record._event import RECORD_FIELDS
from asynctokens.testing import InMemorySink
from asynctokens.writer._sinkfeed import SINK_BUFFER_EVENTS
from tests.conftest import read_lines, run_script, wait_until


class Exploding:
    def __init__(self) -> None:
        self.calls = 0

    def export(self, events: Sequence[TokenEvent]) -> None:
        self.calls += 1
        raise ConnectionError("collector down")

    def shutdown(self) -> None:
        raise ConnectionError("collector still down")


def test_the_in_memory_sink_gets_every_written_event_with_its_fields(
    make_tracker: Any, log_dir: Path
) -> None:
    sink = InMemorySink()
    assert isinstance(sink, Sink)
    tracker = make_tracker(sinks=[sink])
    tracker.log(450, 770, "openai", "gpt-4o", cached_tokens=100, latency_ms=812.5,
                request_id="req_1", api_key="sk-test-0000000000000000abcd")  # fmt: skip
    tracker.log(0, 0, "gemini", "gemini-2.5-flash", False, "429 quota exceeded")
    assert tracker.close() is True  # the sink has everything once close() returns
    events = sink.events
    assert [e._replace(ts_ns=0) for e in events] == [
        TokenEvent(0, 450, 770, "openai", "gpt-4o", True, None, 100, 0, 0, 812.5, "abcd",
                   "req_1", None),
        TokenEvent(0, 0, 0, "gemini", "gemini-2.5-flash", False, "429 quota exceeded", 0, 0, 0,
                   None, None, None, None),
    ]  # fmt: skip
    assert sink.is_shutdown
    lines = read_lines(log_dir)
    assert [line["ts"][:26] for line in lines] == [_iso(e.ts_ns) for e in events]


def _iso(ts_ns: int) -> str:
    import datetime as dt

    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (epoch + dt.timedelta(microseconds=ts_ns // 1000)).isoformat()[:26]


def test_a_failing_sink_never_affects_the_files_other_sinks_or_the_app(
    make_tracker: Any, log_dir: Path
) -> None:
    exploding, kept = Exploding(), InMemorySink()
    tracker = make_tracker(sinks=[exploding, kept])
    for i in range(5):
        tracker.log(i, 1)
        assert tracker.flush_sync() is True
    assert tracker.close() is True
    assert len(read_lines(log_dir)) == 5
    assert [e.prompt_tokens for e in kept.events] == [0, 1, 2, 3, 4]
    health = tracker.health()
    assert health.sink_errors == exploding.calls + 1  # five batches and the shutdown
    assert health.last_error == (
        "sink Exploding.shutdown() failed: ConnectionError('collector still down')"
    )
    assert "sink Exploding.export() failed" in (log_dir / "token_debug.log").read_text()


def test_a_sink_without_the_methods_is_refused_up_front() -> None:
    with pytest.raises(TypeError, match=r"each sink needs export\(events\) and shutdown\(\)"):
        TokenTracker(sinks=[object()])


def test_token_event_fields_are_the_record_order_with_the_key_cut() -> None:
    # the record's last value, when any is known, holds the event's last five fields
    assert (*TokenEvent._fields[:11], "api_key", *TokenEvent._fields[12:14], "extra") == (
        RECORD_FIELDS
    )
    assert TokenEvent._fields[14:] == (
        "response_model", "service_tier", "labels", "cache_write_1h_tokens", "counts_unknown",
    )  # fmt: skip
    assert RECORD_FIELDS[:3] == ("ts_ns", "prompt_tokens", "completion_tokens")


def test_sinks_get_the_key_suffix_and_the_bare_call_filled_in(tmp_path: Path) -> None:
    """The caller queues the key whole and the bare call as 5 values: a sink sees neither."""
    sink = InMemorySink()
    tracker = TokenTracker(tmp_path, sinks=[sink])
    tracker.log(3, 2, "openai", "gpt-4o", metadata={"first": 1})  # starts the worker
    tracker.log(3, 2, "openai", "gpt-4o")
    tracker.log(3, 2, "openai", "gpt-4o", latency_ms=5.5, api_key="sk-test-0000000000000000abcd")
    tracker.log(3, 2, "openai", "gpt-4o", api_key="short-key")
    assert tracker.close() is True
    bare, keyed, short = [e._replace(ts_ns=0) for e in sink.events][1:]
    assert bare == TokenEvent(0, 3, 2, "openai", "gpt-4o", True, None, 0, 0, 0, None, None, None,
                              None)  # fmt: skip
    assert keyed == TokenEvent(0, 3, 2, "openai", "gpt-4o", True, None, 0, 0, 0, 5.5, "abcd",
                               None, None)  # fmt: skip
    assert short.api_key_suffix is None


async def test_sinks_work_with_a_task_worker(tmp_path: Path) -> None:
    sink = InMemorySink()
    async with TokenTracker(tmp_path, sinks=[sink]) as tracker:
        tracker.log(3, 2, "openai", "gpt-4o")
        assert await tracker.flush() is True
    assert [(e.model, e.prompt_tokens) for e in sink.events] == [("gpt-4o", 3)]
    assert sink.is_shutdown


def test_configure_adds_sinks_to_the_default_tracker(tmp_path: Path) -> None:
    result = run_script(
        """
        from asynctokens import configure, log_tokens, get_tracker
        from asynctokens.testing import InMemorySink
        sink = InMemorySink()
        configure(log_dir="out", sinks=[sink])
        log_tokens(7, 3, "openai", "gpt-4o")
        get_tracker().close()
        print([(e.model, e.prompt_tokens) for e in sink.events], sink.is_shutdown)
        """,
        cwd=tmp_path,
    )
    assert result.stdout == "[('gpt-4o', 7)] True\n", result.stderr


class Hanging:
    """A sink whose export() blocks until released: a collector that stopped answering."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.events = 0
        self.is_shutdown = False

    def export(self, events: Sequence[TokenEvent]) -> None:
        self.entered.set()
        self.release.wait(60)
        self.events += len(events)

    def shutdown(self) -> None:
        self.is_shutdown = True


def test_a_hanging_sink_never_holds_up_the_files_a_flush_or_close(
    make_tracker: Any, log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hanging, kept = Hanging(), InMemorySink()
    tracker = make_tracker(sinks=[hanging, kept], sink_timeout_s=0.2, max_queue_events=150_000)
    tracker.log(1, 1, "openai", "gpt-4o")
    assert tracker.flush_sync() is True
    assert hanging.entered.wait(30)  # its first export() is stuck from here on
    total = 1 + 149_999
    for i in range(149_999):
        tracker.log(i % 100, 1, "openai", "gpt-4o")
    assert tracker.flush_sync() is True  # the lines, while the sink hangs
    assert len(read_lines(log_dir)) == total
    wait_until(lambda: tracker.health().sinks[0].stuck_for_s is not None)
    health = tracker.health()
    stuck, other = health.sinks
    assert (stuck.name, other.name, other.dropped) == ("Hanging", "InMemorySink", 0)
    said = (log_dir / "token_debug.log").read_text()
    assert "sink Hanging has not returned for" in said
    assert "sink Hanging is behind: its buffer of 100000 events is full" in said
    # its buffer is full; the rest is dropped for it alone, counted
    assert stuck.pending == SINK_BUFFER_EVENTS
    in_flight = total - stuck.pending - stuck.dropped - stuck.exported
    assert stuck.exported == 0 and 1 <= in_flight <= 10_000
    assert health.sink_dropped == stuck.dropped > 0
    assert tracker.close() is True  # the files are whole; the sink is named, and left behind
    assert "sink(s) Hanging did not finish within 0.2s" in capsys.readouterr().err
    wait_until(lambda: len(kept.events) == total)  # the other sink got every event
    assert kept.is_shutdown and not hanging.is_shutdown
    hanging.release.set()
    wait_until(lambda: hanging.is_shutdown)  # released, it drains what it holds and shuts down
    assert hanging.events == total - stuck.dropped
