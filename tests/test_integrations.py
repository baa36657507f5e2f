"""What holds for every provider: shapes, warnings, track(), and no SDK import."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from asynctokens import Usage, UsageMissingWarning, usage_from
from tests.conftest import REPO, event, logged, read_lines, run_script


def test_importing_asynctokens_and_reading_usage_imports_no_sdk() -> None:
    code = (
        "import sys, asynctokens\n"
        "from asynctokens import usage_from, log_response, get_tracker\n"
        "u = usage_from({'object': 'chat.completion', 'model': 'm',"
        " 'usage': {'prompt_tokens': 3, 'completion_tokens': 2}})\n"
        "assert u.total_tokens == 5, u\n"
        "get_tracker().instrument\n"
        "loaded = sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('openai', 'anthropic', 'google', 'httpx', 'httpx2', 'pydantic'))\n"
        "print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout == "[]\n"


@pytest.mark.parametrize(
    "obj",
    [
        None,
        42,
        "text",
        {"no": "usage"},
        {"object": "chat.completion.chunk", "choices": []},
        ValueError("not from an SDK"),
        [],
        [{"object": "chat.completion.chunk", "choices": []}],
    ],
)
def test_objects_without_usage_give_none(obj: Any) -> None:
    assert usage_from(obj) is None


def test_a_bare_usage_dict_whose_provider_cannot_be_told_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot tell which provider"):
        usage_from({"usage": {"input_tokens": 10, "output_tokens": 2}})


def test_bare_usage_dicts_with_a_providers_own_fields_are_read_by_its_rule() -> None:
    anthropic_like = {"usage": {"input_tokens": 10, "cache_read_input_tokens": 90,
                                "output_tokens": 2}}  # fmt: skip
    openai_like = {"usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 90},
                             "output_tokens": 2}}  # fmt: skip
    assert usage_from(anthropic_like) == Usage(100, 2, 90, api_type="anthropic")
    assert usage_from(openai_like) == Usage(100, 2, 90, api_type="openai")


def test_log_response_without_usage_warns_once_per_call_site_and_logs_nothing(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")  # Python's own default: once per location
        for _ in range(3):
            assert tracker.log_response({"object": "chat.completion"}) is None
        assert tracker.log_response({"object": "chat.completion"}) is None
    assert [(w.category, w.filename) for w in record] == [
        (UsageMissingWarning, __file__),
        (UsageMissingWarning, __file__),
    ]
    assert record[0].lineno != record[1].lineno
    assert tracker.close() is True
    assert read_lines(log_dir) == []


def test_log_response_model_is_the_one_asked_for_and_the_reply_names_the_served_one(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    tracker.log_response(
        {"object": "chat.completion", "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
        model="asked-for",
    )
    tracker.log_response(
        {"object": "chat.completion", "model": "served",
         "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
        model="asked-for",
    )  # fmt: skip
    assert [
        (line["model"], line.get("response_model"))
        for line in read_lines_after_close(tracker, log_dir)
    ] == [
        ("asked-for", None),
        ("asked-for", "served"),
    ]


def read_lines_after_close(tracker: Any, log_dir: Path) -> list[dict[str, Any]]:
    assert tracker.close() is True
    return read_lines(log_dir)


def test_track_context_manager_logs_recorded_counts(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    with tracker.track(api_type="acme", model="acme-1", metadata={"job": 1}) as call:
        call.record(prompt_tokens=10, completion_tokens=5, reasoning_tokens=2, request_id="r1")
    assert logged(tracker, log_dir) == [
        event(api_type="acme", model="acme-1", prompt_tokens=10, completion_tokens=5,
              reasoning_tokens=2, request_id="r1", metadata={"job": 1})
    ]  # fmt: skip


def test_track_logs_a_failure_and_reraises(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    with pytest.raises(TimeoutError), tracker.track(api_type="acme", model="acme-1"):
        raise TimeoutError("upstream took too long")
    assert logged(tracker, log_dir) == [
        event(api_type="acme", model="acme-1", success=False,
              error_message="TimeoutError: upstream took too long")
    ]  # fmt: skip


def test_track_without_counts_warns_and_logs_the_call_with_its_counts_unknown(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    with (
        pytest.warns(UsageMissingWarning, match="logged with its counts unknown"),
        tracker.track(api_type="acme", model="acme-1"),
    ):
        pass
    [line] = read_lines_after_close(tracker, log_dir)
    assert (line["api_type"], line["model"], line["success"], line["counts_unknown"]) == (
        "acme", "acme-1", True, True
    )  # fmt: skip
    assert (line["prompt_tokens"], line["completion_tokens"]) == (0, 0)


def test_a_track_block_is_used_once(make_tracker: Any) -> None:
    tracker = make_tracker()
    block = tracker.track(api_type="acme", model="acme-1")
    with block:
        block.record(1, 1)
    with pytest.raises(RuntimeError, match="already used"), block:
        pass


def test_track_as_decorator_reads_what_the_function_returns(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()

    @tracker.track(api_type="acme", model="acme-1")
    def call_sync(n: int) -> Usage:
        return Usage(n, 1, api_type="acme")

    @tracker.track(api_type="acme", model="acme-2")
    async def call_async() -> dict[str, Any]:
        return {"object": "chat.completion", "usage": {"prompt_tokens": 7, "completion_tokens": 3}}

    assert call_sync(4).prompt_tokens == 4
    assert call_sync(6).prompt_tokens == 6
    asyncio.run(call_async())
    # the api_type given is the provider, whatever shape its replies have (a gateway that
    # speaks OpenAI's JSON is billed as itself)
    assert [(line["model"], line["prompt_tokens"], line["api_type"])
            for line in read_lines_after_close(tracker, log_dir)] == [
        ("acme-1", 4, "acme"), ("acme-1", 6, "acme"), ("acme-2", 7, "acme")
    ]  # fmt: skip


async def test_track_as_async_context_manager(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    async with tracker.track(api_type="acme", model="acme-1") as call:
        call.record_usage(Usage(8, 2, api_type="acme", model="acme-1-0423"))
    lines = read_lines_after_close(tracker, log_dir)
    assert [(line["model"], line["response_model"], line["total_tokens"]) for line in lines] == [
        ("acme-1", "acme-1-0423", 10)
    ]


def test_track_refuses_non_str_names(make_tracker: Any) -> None:
    with pytest.raises(TypeError, match="api_type and model as str"):
        make_tracker().track(api_type="acme", model=None)


def test_wrap_stream_of_a_generator_that_raises_logs_a_failure_with_counts_so_far(
    make_tracker: Any, log_dir: Path
) -> None:
    chunks = [{"usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2}}]

    def stream() -> Any:
        yield from chunks
        raise ConnectionResetError("peer went away")

    tracker = make_tracker()
    with pytest.raises(ConnectionResetError):
        list(tracker.wrap_stream(stream(), model="gemini-x"))
    assert logged(tracker, log_dir) == [
        event(api_type="gemini", model="gemini-x", prompt_tokens=5, completion_tokens=2,
              success=False, error_message="ConnectionResetError: peer went away")
    ]  # fmt: skip


def test_instrument_refuses_an_unknown_client(make_tracker: Any) -> None:
    with pytest.raises(TypeError, match=r"OpenAI, Anthropic or google\.genai client"):
        make_tracker().instrument(object())


def test_a_closed_tracker_never_breaks_an_instrumented_call(make_tracker: Any) -> None:
    tracker = make_tracker()
    tracker.close()
    with (
        pytest.warns(RuntimeWarning, match="could not log"),
        tracker.track(api_type="acme", model="acme-1") as call,
    ):
        call.record(1, 1)


def test_module_level_log_response_writes_through_the_default_tracker(tmp_path: Path) -> None:
    result = run_script(
        """
        from asynctokens import configure, log_response
        configure(log_dir="out")
        log_response({"type": "message", "model": "claude-x",
                      "usage": {"input_tokens": 1, "cache_read_input_tokens": 9,
                                "output_tokens": 4}})
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (line,) = read_lines(tmp_path / "out")
    assert (line["prompt_tokens"], line["cached_tokens"], line["completion_tokens"]) == (10, 9, 4)


def test_usage_read_from_an_object_is_an_ordinary_frozen_usage() -> None:
    import dataclasses

    read = usage_from({"object": "chat.completion", "model": "m",
                       "usage": {"prompt_tokens": 3, "completion_tokens": 2}})  # fmt: skip
    made = Usage(3, 2, api_type="openai", model="m")
    assert read == made and hash(read) == hash(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.prompt_tokens = 4  # type: ignore[misc]
    assert dataclasses.replace(read, success=False).success is False
    assert read.total_tokens == 5


def test_track_on_a_generator_logs_once_when_it_is_exhausted_closed_or_raises(
    make_tracker: Any, log_dir: Path
) -> None:
    """A generator function decorated with track(): its call is logged when the generator
    ends, with the usage of the SDK chunks it yields (a real OpenAI stream on a mock
    transport), or of what it returns; left early, it is logged as abandoned."""
    from tests import sdk_replies as r

    tracker = make_tracker()
    client = r.openai_client(r.Replies(*[r.openai_chat_stream] * 3))

    @tracker.track(api_type="openai", model="gpt-4o-mini")
    def answer(question: str) -> Any:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}],
            stream=True, stream_options={"include_usage": True},
        )  # fmt: skip
        yield from stream

    @tracker.track(api_type="acme", model="acme-1")
    def counted() -> Any:
        yield "a"
        yield "b"
        return Usage(11, 2, api_type="acme")

    @tracker.track(api_type="acme", model="acme-1")
    def failing() -> Any:
        yield "a"
        raise TimeoutError("upstream")

    chunks = list(answer("hi"))  # exhausted
    assert [c.choices[0].delta.content for c in chunks if c.choices] == ["Hel", "lo", "!"]
    assert list(counted()) == ["a", "b"]
    early = answer("hi")
    next(early)
    early.close()  # left after its first chunk
    with pytest.raises(TimeoutError):
        list(failing())
    lines = logged(tracker, log_dir)
    assert [(line["model"], line.get("response_model"), line["prompt_tokens"],
             line["completion_tokens"], line["success"], line["error_message"])
            for line in lines] == [
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 50, 7, True, None),
        ("acme-1", None, 11, 2, True, None),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 0, 0, False,
         "stream closed before usage was reported: token counts unknown"),
        ("acme-1", None, 0, 0, False, "TimeoutError: upstream"),
    ]  # fmt: skip


def test_a_generator_left_early_is_logged_when_dropped_not_at_the_next_collection(
    make_tracker: Any, log_dir: Path
) -> None:
    """The wrapper of a generator is freed (and logs the call it left) as soon as its
    user drops it: nothing in it refers back to it, so no collection is waited for."""
    tracker = make_tracker()

    @tracker.track(api_type="acme", model="acme-1")
    def counted() -> Any:
        yield "a"
        yield "b"
        return Usage(11, 2, api_type="acme")

    gc.disable()
    try:
        for _ in counted():
            break  # the stream and its generator are dropped here
        lines = logged(tracker, log_dir)
    finally:
        gc.enable()
    assert [(line["model"], line["success"], line["error_message"]) for line in lines] == [
        ("acme-1", False, "stream closed before usage was reported: token counts unknown")
    ]


async def test_track_on_an_async_generator_logs_its_stream_once(
    make_tracker: Any, log_dir: Path
) -> None:
    from tests import sdk_replies as r

    tracker = make_tracker()
    client = r.anthropic_client(r.Replies(r.anthropic_stream), asynchronous=True)

    @tracker.track(api_type="anthropic", model="claude-sonnet-4-5")
    async def answer() -> Any:
        stream = await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=100, stream=True,
            messages=[{"role": "user", "content": "hi"}],
        )  # fmt: skip
        async for item in stream:
            yield item

    seen = [item.type async for item in answer()]
    assert seen[0] == "message_start" and seen[-1] == "message_stop"
    [line] = logged(tracker, log_dir)
    # 100 fresh + 2,000 cache-read + 500 cache-write input; 300 output, 120 of it thinking
    assert [line[k] for k in ("api_type", "model", "response_model", "prompt_tokens",
                              "cached_tokens", "cache_write_tokens", "completion_tokens",
                              "reasoning_tokens", "success")] == [
        "anthropic", "claude-sonnet-4-5", "claude-opus-4-5-20251101", 2_600, 2_000, 500, 300,
        120, True
    ]  # fmt: skip
