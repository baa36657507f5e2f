"""Fuzzed input: log() either refuses at the call site or writes a line that reads back equal;
the reader survives any bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynctokens import TokenTracker, reader
from asynctokens.record._providers import provider_of

counts = st.one_of(
    st.integers(min_value=-3, max_value=2**70),
    st.integers(min_value=0, max_value=10_000),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=2),
)
names = st.one_of(st.text(max_size=40), st.integers(), st.none())
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)  # fmt: skip
metadata = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(st.text(max_size=10), st.integers()),
        st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10),
        max_size=4,
    ),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_tracker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenTracker]:
    tracker = TokenTracker(tmp_path_factory.mktemp("fuzz"))
    yield tracker
    assert tracker.close() is True


def expected_line(kw: dict[str, Any]) -> dict[str, Any]:
    key = kw["api_key"]
    error = kw["error_message"]
    return {
        "prompt_tokens": kw["prompt_tokens"],
        "completion_tokens": kw["completion_tokens"],
        "total_tokens": kw["prompt_tokens"] + kw["completion_tokens"],
        "cached_tokens": kw["cached_tokens"],
        "model": kw["model"],
        # left out (None): the provider the model names (tests/test_tracker.py holds the names)
        "api_type": provider_of(kw["model"]) if kw["api_type"] is None else kw["api_type"],
        "success": kw["success"],
        "error_message": error if error is None or len(error) <= 500 else error[:499] + "…",
        "latency_ms": None if kw["latency_ms"] is None else float(kw["latency_ms"]),
        "api_key_suffix": key[-4:] if key is not None and len(key) >= 12 else None,
        # JSON has no NaN or Infinity: orjson writes null, so that is what reads back
        "metadata": orjson.loads(orjson.dumps(kw["metadata"])) if kw["metadata"] else {},
    }


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prompt_tokens=counts, completion_tokens=counts, cached_tokens=counts, model=names,
    api_type=names, success=st.one_of(st.booleans(), st.integers(0, 1)),
    error_message=st.one_of(st.none(), st.text(max_size=600), st.integers()),
    latency_ms=st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-5, 10**6)),
    api_key=st.one_of(st.none(), st.text(max_size=60)), metadata=metadata,
)  # fmt: skip
def test_log_refuses_at_the_call_site_or_reads_back_equal(
    fuzz_tracker: TokenTracker, **kw: Any
) -> None:
    before = fuzz_tracker.health().written
    try:
        fuzz_tracker.log(**kw)
    except (TypeError, ValueError) as exc:
        assert str(exc)  # a message, naming what is wrong
        assert fuzz_tracker.health().queue_depth == 0
        return
    assert fuzz_tracker.flush_sync() is True
    assert fuzz_tracker.health().written == before + 1
    assert fuzz_tracker.health().last_error is None  # the worker met nothing it could not write
    newest = next(reader.iter_recent(fuzz_tracker.log_dir))
    got = {k: newest[k] for k in expected_line(kw)}
    assert got == expected_line(kw)


def test_counts_beyond_any_real_call_are_refused(fuzz_tracker: TokenTracker) -> None:
    with pytest.raises(ValueError, match="prompt_tokens must be < 1,099,511,627,776"):
        fuzz_tracker.log(2**40, 0)
    fuzz_tracker.log(2**40 - 1, 0)  # the fast path's shift and the checked path agree
    fuzz_tracker.log(0, 5, cached_tokens=0, reasoning_tokens=5)
    assert fuzz_tracker.flush_sync() is True
    newest = list(reader.iter_recent(fuzz_tracker.log_dir))[:2]
    assert [e["prompt_tokens"] for e in newest] == [0, 2**40 - 1]
    with pytest.raises(ValueError, match="cached_tokens must be < 1,099,511,627,776"):
        fuzz_tracker.log(5, 0, cached_tokens=2**40)


def test_a_lone_surrogate_in_a_name_is_written_replaced_not_lost(
    fuzz_tracker: TokenTracker,
) -> None:
    fuzz_tracker.log(1, 2, model="bad\ud800name")
    fuzz_tracker.log(3, 4, model="fine")
    assert fuzz_tracker.flush_sync() is True
    newest = list(reader.iter_recent(fuzz_tracker.log_dir))[:2]
    assert [(e["model"], e["prompt_tokens"]) for e in newest] == [("fine", 3), ("bad\ufffdname", 1)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=200).map(str.encode),
            st.just(b'{"event_id":"x"}'),
            st.just(b"[1,2]"),
        ),
        max_size=30,
    )
)
def test_reader_survives_any_bytes_and_counts_what_it_skips(lines: list[bytes]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens_2026-01-01.jsonl"
        data = b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n"
        path.write_bytes(data)
        report = reader.ReadReport()
        events = list(reader.iter_events(tmp, report=report))
        nonblank = sum(1 for line in data.split(b"\n") if line.strip())
        assert len(events) + report.bad_lines == nonblank
        assert reader.aggregate(tmp).totals()["total_requests"] == len(events)
