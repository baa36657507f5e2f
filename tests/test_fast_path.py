"""The caller's fast path: taken by the bare and the realistic call, equal to the checked path.

``log()`` has one inlined test and one append for calls whose arguments are already in their
final form; everything else goes through ``_event.build_record``. These tests make the fast
path's silent loss fail: a spy on ``build_record`` shows which path a call took, and the line
each path writes for the same arguments is compared field by field.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from asynctokens.record import _event
from tests.conftest import VOLATILE, read_lines

BARE: dict[str, Any] = {"prompt_tokens": 120, "completion_tokens": 30, "api_type": "openai",
                        "model": "gpt-4o"}  # fmt: skip
REALISTIC: dict[str, Any] = {
    **BARE,
    "cached_tokens": 100,
    "cache_write_tokens": 10,
    "reasoning_tokens": 12,
    "latency_ms": 812.5,
    "request_id": "req_123",
    "api_key": "sk-test-0000000000000000abcd",
}
FAILED: dict[str, Any] = {**BARE, "success": False, "error_message": "429 rate_limit: slow down"}
SHORT_KEY: dict[str, Any] = {**BARE, "api_key": "short-key"}
#: what an instrumented client logs: the snapshot the reply named and the tier it reported
SERVED: dict[str, Any] = {**REALISTIC, "response_model": "gpt-4o-2024-08-06",
                          "service_tier": "flex"}  # fmt: skip


@pytest.fixture
def slow_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every call that reached the checked path, with its arguments."""
    calls: list[tuple[Any, ...]] = []
    real = _event.build_record

    def spy(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(_event, "build_record", spy)
    return calls


@pytest.mark.parametrize("call", [BARE, REALISTIC, FAILED, SHORT_KEY, SERVED],
                         ids=["bare", "realistic", "failed", "short-key", "served"])  # fmt: skip
def test_the_fast_path_is_taken_and_writes_what_the_checked_path_writes(
    call: dict[str, Any], make_tracker: Any, log_dir: Path, slow_calls: list[tuple[Any, ...]]
) -> None:
    tracker = make_tracker()
    assert tracker.flush_sync() is True  # nothing logged: the worker is not started yet
    tracker.log(**BARE, metadata={})  # the first call starts the worker: never the fast path
    slow_calls.clear()
    tracker.log(**call)
    assert slow_calls == []  # the fast path took it
    tracker.log(**call, metadata={})  # an empty dict stores nothing, but is not the fast path
    assert len(slow_calls) == 1
    assert tracker.close() is True
    _first, fast, checked = ({k: v for k, v in line.items() if k not in VOLATILE}
                             for line in read_lines(log_dir))  # fmt: skip
    assert fast == checked
    if "latency_ms" in call:
        assert [line["latency_ms"] for line in read_lines(log_dir)[1:]] == [812.5, 812.5]


def test_a_count_from_2_30_on_is_written_by_the_checked_path(make_tracker: Any,
        log_dir: Path, slow_calls: list[tuple[Any, ...]]) -> None:  # fmt: skip
    tracker = make_tracker()
    tracker.log(**BARE)  # starts the worker: checked here, queued by _enqueue
    assert slow_calls == []
    tracker.log(**{**REALISTIC, "prompt_tokens": 2**30 + 5})
    assert len(slow_calls) == 1
    assert tracker.close() is True
    assert [line["prompt_tokens"] for line in read_lines(log_dir)] == [120, 2**30 + 5]


@pytest.mark.parametrize(
    "extra",
    [
        {"latency_ms": 5},  # an int latency is stored as a float by the checked path
        {"latency_ms": float("nan")},
        {"latency_ms": -1.0},
        {"error_message": "x" * 501},  # cut to 500 characters by the checked path
        {"request_id": 7},
        {"api_key": b"sk-bytes-0000000000"},
        {"metadata": {"job": 1}},
        {"ts": 1_700_000_000.0},
        {"cached_tokens": 121},  # more cached than prompt
        {"reasoning_tokens": 31},  # more reasoning than output
        {"cached_tokens": -1},
        {"prompt_tokens": 2**30},  # the fast path takes compact ints; the checked one to 2**40
        {"completion_tokens": -1},
        {"prompt_tokens": True},
        {"model": None},
        {"success": 1},
        {"latency_ms": float("inf")},
    ],
)
def test_arguments_not_in_final_form_take_the_checked_path(
    extra: dict[str, Any], make_tracker: Any, slow_calls: list[tuple[Any, ...]]
) -> None:
    tracker = make_tracker()
    tracker.log(**BARE)  # starts the worker
    slow_calls.clear()
    # refused or not by the checked path: what matters is that it got there
    with contextlib.suppress(TypeError, ValueError):
        tracker.log(**{**BARE, **extra})
    assert len(slow_calls) == 1


@pytest.mark.parametrize("field", ["prompt_tokens", "cached_tokens", "model", "request_id",
                                   "latency_ms", "error_message", "api_key"])  # fmt: skip
def test_an_object_that_claims_a_plain_class_is_refused_at_the_call(
    field: str, make_tracker: Any, log_dir: Path
) -> None:
    """A mock with spec=int (or str, float) has that class as its __class__: the fast path
    must not take it for one; the checked path refuses it."""
    from unittest.mock import Mock

    spec = {"prompt_tokens": int, "cached_tokens": int, "latency_ms": float}.get(field, str)
    tracker = make_tracker()
    tracker.log(**REALISTIC)  # the worker runs: the next call could take the fast path
    with pytest.raises(TypeError):
        tracker.log(**{**REALISTIC, field: Mock(spec=spec)})
    assert tracker.close() is True
    assert tracker.health().rejected == 0
    assert len(read_lines(log_dir)) == 1


def test_a_call_that_finds_the_worker_asleep_is_checked_once_and_wakes_it(
    make_tracker: Any, log_dir: Path, slow_calls: list[tuple[Any, ...]]
) -> None:
    """An application whose calls come seconds apart finds the worker asleep at each: such a
    call queues the same record as the fast path (no second check) and wakes the worker."""
    tracker = make_tracker()
    tracker.log(**REALISTIC)
    assert tracker.flush_sync(10) is True
    deadline = time.monotonic() + 10
    while not tracker._asleep and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tracker._asleep
    tracker.log(**{**REALISTIC, "prompt_tokens": 177})
    assert slow_calls == [] and not tracker._asleep
    assert tracker.flush_sync(10) is True  # the woken worker writes it
    assert [line["prompt_tokens"] for line in read_lines(log_dir)] == [120, 177]
    assert tracker.close() is True


#: _log_read's arguments, in its order, for a reply read by a provider's ``fast_fields``
READ_ORDER = ("prompt_tokens", "completion_tokens", "api_type", "model", "cached_tokens",
              "cache_write_tokens", "reasoning_tokens", "latency_ms", "api_key", "request_id",
              "metadata", "response_model", "service_tier", "cache_write_1h_tokens")  # fmt: skip
READ: dict[str, Any] = {**SERVED, "metadata": None, "cache_write_1h_tokens": 0}


@pytest.mark.parametrize(
    "call",
    [
        READ,
        {**READ, "response_model": None, "service_tier": None, "request_id": None},
        {**READ, "cache_write_1h_tokens": 6, "api_key": None},
        {**READ, "metadata": {"asynctokens.operation_id": "0123456789abcdef"}},
        {**READ, "prompt_tokens": 2**40 + 5},  # parts summed past a count's limit: refused
        {**READ, "model": 42},  # the user's model argument, not text: refused
    ],
    ids=["served", "plain", "one-hour-writes", "linked", "too-large", "model-not-text"],
)
def test_a_read_reply_is_queued_as_log_queues_it(
    call: dict[str, Any], make_tracker: Any, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_log_read`` skips the checks a provider's reader made, not what they protect: its
    line is the one ``log()`` writes for the same arguments, in a ``labels()`` block too, and
    what ``log()`` refuses it refuses (a warning-free ``ValueError``/``TypeError``, which
    the integrations turn into a ``RuntimeWarning``), by handing it to ``log()``: the only
    calls that reach ``log()`` (a spy counts them), so the short path cannot be lost
    silently."""
    from asynctokens import labels

    tracker = make_tracker()
    tracker.log(**BARE, metadata={})  # starts the worker
    refused = call["prompt_tokens"] >= 2**40 or not isinstance(call["model"], str)
    with labels(customer="acme"):
        with pytest.raises((TypeError, ValueError)) if refused else contextlib.nullcontext():
            tracker.log(**call)
        handed: list[tuple[Any, ...]] = []
        real = tracker.log
        monkeypatch.setattr(tracker, "log", lambda *a: (handed.append(a), real(*a))[1])
        with pytest.raises((TypeError, ValueError)) if refused else contextlib.nullcontext():
            tracker._log_read(*[call[name] for name in READ_ORDER])
        monkeypatch.undo()
    assert len(handed) == (1 if refused else 0)
    assert tracker.close() is True
    lines = [{k: v for k, v in line.items() if k not in VOLATILE} for line in read_lines(log_dir)]
    if refused:
        assert len(lines) == 1
        return
    _first, logged, read = lines
    assert read == logged and read["labels"] == {"customer": "acme"}
