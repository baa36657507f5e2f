"""Anthropic SDK objects, built by the real client from canned HTTP, logged as billed.

Anthropic's ``input_tokens`` leaves out cache reads and writes: the whole prompt here is
100 + 2,000 + 500 = 2,600. Stream usage is cumulative: the final ``message_delta``'s
``output_tokens`` of 300 replaces ``message_start``'s 1 (never 301).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from asynctokens import Usage, usage_from
from tests.conftest import event, logged
from tests.sdk_replies import (
    Replies,
    anthropic_client,
    anthropic_message,
    anthropic_overloaded,
    anthropic_stream,
    anthropic_stream_events,
)

MESSAGES = [{"role": "user", "content": "Hi"}]
ARGS: dict[str, Any] = {"model": "claude-opus-4-5", "max_tokens": 1024, "messages": MESSAGES}


def line(request_id: str) -> dict[str, Any]:
    """A call that asked for ARGS' model, answered by the snapshot the reply names."""
    return event(
        api_type="anthropic",
        model="claude-opus-4-5",
        response_model="claude-opus-4-5-20251101",
        prompt_tokens=2600,
        completion_tokens=300,
        cached_tokens=2000,
        cache_write_tokens=500,
        reasoning_tokens=120,
        api_key_suffix="wxyz",
        request_id=request_id,
    )


def test_usage_from_a_message_adds_cache_reads_and_writes_to_the_prompt() -> None:
    message = anthropic_client(Replies(anthropic_message())).messages.create(**ARGS)
    assert usage_from(message) == Usage(
        prompt_tokens=2600,
        completion_tokens=300,
        cached_tokens=2000,
        cache_write_tokens=500,
        reasoning_tokens=120,
        api_type="anthropic",
        model="claude-opus-4-5-20251101",
        request_id="req_ant_1",
    )


def test_instrumented_create_logs_one_line(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(anthropic_client(Replies(anthropic_message())))
    client.messages.create(**ARGS)
    assert logged(tracker, log_dir) == [line("req_ant_1")]


def test_raw_stream_usage_replaces_never_adds(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(anthropic_client(Replies(anthropic_stream())))
    kinds = [e.type for e in client.messages.create(**ARGS, stream=True)]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert logged(tracker, log_dir) == [line("req_ant_stream")]


def test_usage_from_the_list_of_stream_events_as_dicts() -> None:
    events = [data for _name, data in anthropic_stream_events()]
    usage = usage_from(events)
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (
        2600,
        300,
        120,
    )
    assert usage.request_id == "msg_02"


def test_messages_stream_helper_is_logged_however_it_is_read(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(anthropic_client(Replies(anthropic_stream(), anthropic_stream())))
    with client.messages.stream(**ARGS) as stream:
        assert "".join(stream.text_stream) == "Hello"
    with client.messages.stream(**ARGS) as stream:
        assert stream.get_final_message().usage.output_tokens == 300
    assert logged(tracker, log_dir) == [line("req_ant_stream"), line("req_ant_stream")]


def test_an_error_event_mid_stream_is_a_failure_with_the_counts_so_far(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(anthropic_client(Replies(anthropic_stream(error=True))))
    with pytest.raises(anthropic.APIStatusError) as caught:
        for _event in client.messages.create(**ARGS, stream=True):
            pass
    assert caught.value.type == "overloaded_error"
    assert logged(tracker, log_dir) == [
        event(
            api_type="anthropic",
            model="claude-opus-4-5",
            response_model="claude-opus-4-5-20251101",
            prompt_tokens=2600,
            completion_tokens=1,
            cached_tokens=2000,
            cache_write_tokens=500,
            success=False,
            error_message="overloaded_error: Overloaded",
            api_key_suffix="wxyz",
            request_id="req_ant_stream",
        )
    ]


def test_an_error_event_in_a_list_of_events_is_a_failure() -> None:
    events = [data for _name, data in anthropic_stream_events(error=True)]
    usage = usage_from(events)
    assert usage is not None
    assert (usage.success, usage.error_message, usage.completion_tokens) == (
        False,
        "overloaded_error: Overloaded",
        1,
    )


def test_overloaded_is_logged_as_a_failure_and_reraised(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(anthropic_client(Replies(anthropic_overloaded())))
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(**ARGS)
    assert caught.value.status_code == 529
    assert logged(tracker, log_dir) == [
        event(
            api_type="anthropic",
            model="claude-opus-4-5",
            success=False,
            error_message="529 overloaded_error: Overloaded",
            api_key_suffix="wxyz",
            request_id="req_ant_529",
        )
    ]


async def test_async_client_create_stream_and_stream_helper(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    replies = Replies(anthropic_message(), anthropic_stream(), anthropic_stream())
    client = tracker.instrument(anthropic_client(replies, asynchronous=True))
    await client.messages.create(**ARGS)
    stream = await client.messages.create(**ARGS, stream=True)
    assert len([e async for e in stream]) == 7
    async with client.messages.stream(**ARGS) as helper:
        assert "".join([text async for text in helper.text_stream]) == "Hello"
    assert logged(tracker, log_dir) == [
        line("req_ant_1"),
        line("req_ant_stream"),
        line("req_ant_stream"),
    ]


def test_a_stream_helper_left_early_is_marked(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(anthropic_client(Replies(anthropic_stream())))
    with client.messages.stream(**ARGS) as stream:
        for _event in stream:
            break
    (only,) = logged(tracker, log_dir)
    # the counts so far are a lower bound: the model went on until it saw the close
    assert (only["success"], only["error_message"], only["prompt_tokens"]) == (
        False,
        "stream closed before its end: token counts are those reported so far",
        2600,
    )
    assert only["counts_unknown"] is True


def test_a_with_options_copy_is_logged(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(anthropic_client(Replies(anthropic_message())))
    client.with_options(timeout=5.0).messages.create(
        model="claude-opus-4-5", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
    )
    (line,) = logged(tracker, log_dir)
    assert (line["api_type"], line["prompt_tokens"], line["request_id"]) == (
        "anthropic",
        2600,
        "req_ant_1",
    )


def test_parse_and_the_beta_namespace_are_logged_once_each(
    make_tracker: Any, log_dir: Path
) -> None:
    """messages.parse() sends its own request; client.beta.messages create, parse and
    stream are the same calls under the beta namespace: each logged once."""
    import httpx2
    import pydantic

    class Greeting(pydantic.BaseModel):
        text: str

    def json_reply(request_id: str) -> httpx2.Response:
        reply = anthropic_message()
        body = reply.json()
        body["content"] = [{"type": "text", "text": '{"text": "Hello"}'}]
        return httpx2.Response(200, headers={"request-id": request_id}, json=body)

    tracker = make_tracker()
    client = tracker.instrument(anthropic_client(Replies(
        json_reply("req_parse"), anthropic_message(), json_reply("req_beta_parse"),
        anthropic_stream(),
    )))  # fmt: skip
    parsed = client.messages.parse(**ARGS, output_format=Greeting)
    assert parsed.parsed_output == Greeting(text="Hello")
    client.beta.messages.create(**ARGS)
    client.beta.messages.parse(**ARGS, output_format=Greeting)
    with client.beta.messages.stream(**ARGS) as stream:
        stream.until_done()
    assert logged(tracker, log_dir) == [
        line("req_parse"),
        line("req_ant_1"),
        line("req_beta_parse"),
        line("req_ant_stream"),
    ]
