"""Call-site checks of log(): what is rejected, with which message, and what is kept."""

from __future__ import annotations

import datetime as dt
import enum
import math
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import read_lines


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"prompt_tokens": -1}, ValueError, "prompt_tokens must be >= 0, got -1"),
        ({"completion_tokens": -5}, ValueError, "completion_tokens must be >= 0, got -5"),
        ({"prompt_tokens": 1.5}, TypeError, "prompt_tokens must be an int, got float 1.5"),
        ({"prompt_tokens": 2.0}, TypeError, "prompt_tokens must be an int, got float 2.0"),
        ({"completion_tokens": "3"}, TypeError, "completion_tokens must be an int, got str '3'"),
        ({"prompt_tokens": True}, TypeError, "prompt_tokens must be an int, got bool True"),
        ({"prompt_tokens": None}, TypeError, "prompt_tokens must be an int, got NoneType None"),
        ({"cached_tokens": -1}, ValueError, "cached_tokens must be >= 0, got -1"),
        ({"reasoning_tokens": 1.0}, TypeError, "reasoning_tokens must be an int, got float"),
        (
            {"prompt_tokens": 10, "cached_tokens": 8, "cache_write_tokens": 3},
            ValueError,
            "cached_tokens (8) + cache_write_tokens (3) cannot exceed prompt_tokens (10)",
        ),
        (
            {"completion_tokens": 5, "reasoning_tokens": 6},
            ValueError,
            "reasoning_tokens (6) cannot exceed completion_tokens (5)",
        ),
        ({"model": None}, TypeError, "model must be a str, got NoneType None"),
        ({"model": 4}, TypeError, "model must be a str, got int 4"),
        ({"api_type": b"openai"}, TypeError, "api_type must be a str, got bytes"),
        ({"success": 1}, TypeError, "success must be a bool, got int 1"),
        ({"error_message": 429}, TypeError, "error_message must be a str, got int 429"),
        ({"latency_ms": math.nan}, ValueError, "latency_ms must be a finite number >= 0"),
        ({"latency_ms": -1}, ValueError, "latency_ms must be a finite number >= 0, got -1"),
        ({"latency_ms": "fast"}, TypeError, "latency_ms must be a number, got str"),
        ({"request_id": 7}, TypeError, "request_id must be a str, got int 7"),
        ({"api_key": 1234}, TypeError, "api_key must be a str, got int"),
        ({"metadata": [1, 2]}, TypeError, "metadata must be a dict, got list"),
        ({"metadata": {"s": {1, 2}}}, TypeError, "metadata cannot be stored as JSON"),
        ({"metadata": {1: "non-str key"}}, TypeError, "metadata cannot be stored as JSON"),
        ({"ts": dt.datetime(2026, 1, 1)}, ValueError, "ts must be timezone-aware"),
        ({"ts": "2026-01-01"}, TypeError, "ts must be an aware datetime or epoch seconds"),
        (
            {"ts": 1_767_225_599_999},
            ValueError,
            "ts must be epoch seconds before the year 10000 (< 253,402,300,800), got"
            " 1767225599999 (that looks like epoch milliseconds: divide by 1000)",
        ),
        ({"ts": 1e300}, ValueError, "before the year 10000 (< 253,402,300,800), got 1e+300"),
        (
            {"ts": dt.datetime(1969, 12, 31, 23, 59, tzinfo=dt.UTC)},
            ValueError,
            "ts must be in 1970 or later, got 1969-12-31T23:59:00+00:00",
        ),
    ],
)
def test_bad_argument_raises_at_the_call_site_naming_the_field(
    make_tracker: Any, log_dir: Path, kwargs: dict[str, Any], exc: type[Exception], message: str
) -> None:
    tracker = make_tracker()
    with pytest.raises(exc) as info:
        tracker.log(**kwargs)
    assert message in str(info.value)
    assert tracker.health().queue_depth == 0
    assert tracker.state.value == "unstarted"


def test_cyclic_metadata_is_rejected(make_tracker: Any) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(TypeError, match="metadata cannot be stored as JSON"):
        make_tracker().log(1, 1, metadata=cyclic)


async def test_kept_values_are_exactly_what_the_caller_gave(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    meta: dict[str, Any] = {"article_id": 7, "tags": ["a", "é"]}
    tracker.log(
        120,
        40,
        "openai",
        "gpt-4o",
        api_key="sk-proj-0123456789abcdef9f3a",
        metadata=meta,
        cached_tokens=64,
        cache_write_tokens=6,
        reasoning_tokens=10,
        latency_ms=812.5,
        request_id="req_123",
        ts=dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC),
    )
    meta["article_id"] = 8  # changed after the call: must not change what was logged
    tracker.log(np_int(5), 6, error_message="x" * 600, success=False, api_key="short")
    assert await tracker.aclose() is True
    first, second = read_lines(log_dir)
    del first["event_id"], first["pid"], second["event_id"], second["pid"], second["ts"]
    assert first == {
        "ts": "2026-03-04T05:06:07.890123+00:00",
        "api_type": "openai",
        "model": "gpt-4o",
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "total_tokens": 160,
        "cached_tokens": 64,
        "cache_write_tokens": 6,
        "reasoning_tokens": 10,
        "success": True,
        "error_message": None,
        "latency_ms": 812.5,
        "api_key_suffix": "9f3a",
        "request_id": "req_123",
        "metadata": {"article_id": 7, "tags": ["a", "é"]},
        "host": socket.gethostname(),
    }
    assert second == {
        "api_type": "unknown",  # no api_type, and a model name that names no provider
        "model": "unknown",
        "prompt_tokens": 5,
        "completion_tokens": 6,
        "total_tokens": 11,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "success": False,
        "error_message": "x" * 499 + "…",
        "latency_ms": None,
        "api_key_suffix": None,
        "request_id": None,
        "metadata": {},
        "host": socket.gethostname(),
    }


class np_int:
    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


async def test_epoch_seconds_timestamp_is_kept_to_the_microsecond(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    tracker.log(1, 1, ts=1_767_225_599.999999)  # 2025-12-31T23:59:59.999999Z
    await tracker.aclose()
    (event,) = read_lines(log_dir)
    assert event["ts"] == "2025-12-31T23:59:59.999999+00:00"
    assert (log_dir / "tokens_2025-12-31.jsonl").exists()


class Model(str, enum.Enum):  # noqa: UP042  (the pre-3.11 spelling users still have)
    GPT_4O = "gpt-4o"


class Provider(str, enum.Enum):  # noqa: UP042
    OPENAI = "openai"


def test_str_subclasses_are_stored_as_their_plain_text(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    tracker.log(3, 2, Provider.OPENAI, Model.GPT_4O, request_id=Model.GPT_4O)
    assert tracker.close() is True
    (line,) = read_lines(log_dir)
    assert (line["api_type"], line["model"], line["request_id"]) == ("openai", "gpt-4o", "gpt-4o")


def test_numpy_scalars_are_taken_for_counts_and_latency(make_tracker: Any, log_dir: Path) -> None:
    np = pytest.importorskip("numpy")
    tracker = make_tracker()
    tracker.log(np.int64(1200), np.int32(300), "openai", "gpt-4o", cached_tokens=np.uint16(100),
                latency_ms=np.float32(812.5))  # fmt: skip
    assert tracker.close() is True
    (line,) = read_lines(log_dir)
    assert (line["prompt_tokens"], line["completion_tokens"], line["cached_tokens"]) == (
        1200,
        300,
        100,
    )
    assert line["latency_ms"] == 812.5


def test_metadata_over_64_kib_as_json_is_refused_at_the_call(make_tracker: Any) -> None:
    tracker = make_tracker()
    at_limit = {"note": "x" * (64 * 1024 - len('{"note":""}'))}
    tracker.log(1, 1, "openai", "gpt-4o", metadata=at_limit)  # exactly 65,536 characters
    with pytest.raises(ValueError, match=r"metadata is 65,537 characters as JSON, over the 65,536"):
        tracker.log(1, 1, "openai", "gpt-4o", metadata={"note": at_limit["note"] + "y"})
    assert tracker.close() is True
    assert tracker.health().written == 1
