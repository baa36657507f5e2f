"""OpenAI SDK objects, built by the real client from canned HTTP, logged with their bill's numbers.

OpenAI's counts already have the file format's meaning (input includes cached, output includes
reasoning), so every expected line below carries them unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from asynctokens import Usage, UsageMissingWarning, usage_from
from tests.conftest import asked, event, logged, served
from tests.sdk_replies import (
    Replies,
    openai_chat,
    openai_chat_stream,
    openai_client,
    openai_embeddings,
    openai_rate_limited,
    openai_response,
    openai_responses_stream,
    sse,
)

MESSAGES = [{"role": "user", "content": "Hi"}]
# each as a call that asked for the model by its alias logs it: under the alias, with the
# snapshot the reply names as response_model
CHAT_LINE = asked(
    event(
        api_type="openai",
        model="gpt-4o-2024-08-06",
        prompt_tokens=1200,
        completion_tokens=300,
        cached_tokens=1024,
        reasoning_tokens=128,
        api_key_suffix="abcd",
        request_id="req_chat_1",
    ),
    "gpt-4o",
)
STREAM_LINE = asked(
    event(
        api_type="openai",
        model="gpt-4o-mini-2024-07-18",
        prompt_tokens=50,
        completion_tokens=7,
        api_key_suffix="abcd",
        request_id="req_stream_1",
    ),
    "gpt-4o-mini",
)
RESPONSES_LINE = asked(
    event(
        api_type="openai",
        model="o3-2025-04-16",
        prompt_tokens=2000,
        completion_tokens=900,
        cached_tokens=1500,
        reasoning_tokens=700,
        api_key_suffix="abcd",
        request_id="resp_R1",
    ),
    "o3",
)


def test_usage_from_a_chat_completion_reads_every_part() -> None:
    client = openai_client(Replies(openai_chat()))
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert usage_from(reply) == Usage(
        prompt_tokens=1200,
        completion_tokens=300,
        cached_tokens=1024,
        reasoning_tokens=128,
        api_type="openai",
        model="gpt-4o-2024-08-06",
        request_id="req_chat_1",
    )


def test_instrumented_chat_call_logs_one_line_with_the_served_model(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_chat())))
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.choices[0].message.content == "Hello"
    assert logged(tracker, log_dir) == [CHAT_LINE]


def test_log_response_logs_one_event_with_latency_and_metadata(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    reply = openai_client(Replies(openai_chat())).chat.completions.create(
        model="gpt-4o", messages=MESSAGES
    )
    usage = tracker.log_response(
        reply, latency_ms=812.5, api_key="sk-test-0000000000000000abcd", metadata={"job": 7}
    )
    assert usage is not None and usage.total_tokens == 1500
    tracker.close()
    from tests.conftest import read_lines

    (line,) = read_lines(log_dir)
    assert line["latency_ms"] == 812.5
    assert {k: line[k] for k in ("prompt_tokens", "metadata", "api_key_suffix")} == {
        "prompt_tokens": 1200,
        "metadata": {"job": 7},
        "api_key_suffix": "abcd",
    }


def test_instrumented_stream_asks_for_usage_and_hides_the_usage_chunk(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    replies = Replies(openai_chat_stream())
    client = tracker.instrument(openai_client(replies))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    seen = [chunk.choices[0].delta.content for chunk in stream]
    assert seen == ["Hel", "lo", "!"]  # the usage-only chunk (no choices) never reaches the user
    assert replies.bodies[0]["stream_options"] == {"include_usage": True}
    assert logged(tracker, log_dir) == [STREAM_LINE]


def test_a_stream_that_asked_for_usage_itself_gets_the_usage_chunk(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_chat_stream())))
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert [len(c.choices) for c in chunks] == [1, 1, 1, 0]
    assert chunks[-1].usage.prompt_tokens == 50
    assert logged(tracker, log_dir) == [STREAM_LINE]


def test_wrap_stream_without_usage_warns_and_logs_it_with_its_counts_unknown(
    make_tracker: Any, log_dir: Path
) -> None:
    """A stream read to its end was billed, usage or not: its line names the request and
    the served model, its counts 0 and marked unknown (never a plain 0-token success)."""
    tracker = make_tracker()
    client = openai_client(Replies(openai_chat_stream(with_usage=False)))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.warns(UsageMissingWarning, match="logged with its counts unknown.*include_usage"):
        assert len(list(tracker.wrap_stream(stream))) == 3
    unknown = event(api_type="openai", model="gpt-4o-mini-2024-07-18",
                    request_id="req_stream_1", counts_unknown=True)  # fmt: skip
    assert logged(tracker, log_dir) == [unknown]


def test_wrap_stream_of_a_stream_with_usage_logs_it(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = openai_client(Replies(openai_chat_stream()))
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    with tracker.wrap_stream(stream, api_key="sk-test-0000000000000000abcd") as wrapped:
        assert len(list(wrapped)) == 4
    assert logged(tracker, log_dir) == [served(STREAM_LINE)]


def test_a_stream_left_early_is_logged_once_and_marked(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_chat_stream())))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    for _chunk in stream:
        break
    stream.close()
    stream.close()
    # no count had arrived, but the served model (first chunk) and the request id (header)
    # had: the line says which request it was
    assert logged(tracker, log_dir) == [
        event(
            api_type="openai",
            model="gpt-4o-mini",
            response_model="gpt-4o-mini-2024-07-18",
            success=False,
            error_message="stream closed before usage was reported: token counts unknown",
            api_key_suffix="abcd",
            request_id="req_stream_1",
            counts_unknown=True,
        )
    ]


def test_a_stream_dropped_without_close_is_logged_when_collected(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_chat_stream())))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    next(stream)
    del stream
    import gc

    gc.collect()
    lines = logged(tracker, log_dir)
    assert [(line["success"], line["error_message"]) for line in lines] == [
        (False, "stream closed before usage was reported: token counts unknown")
    ]


def test_responses_api_call_and_truncated_call_are_billed_successes(
    make_tracker: Any, log_dir: Path
) -> None:
    import httpx2

    tracker = make_tracker()
    replies = Replies(
        httpx2.Response(200, json=openai_response()),
        httpx2.Response(200, json=openai_response("incomplete")),
    )
    client = tracker.instrument(openai_client(replies))
    client.responses.create(model="o3", input="Hi")
    truncated = client.responses.create(model="o3", input="Hi", max_output_tokens=900)
    assert truncated.status == "incomplete"
    assert logged(tracker, log_dir) == [RESPONSES_LINE, RESPONSES_LINE]


def test_a_failed_response_is_a_failure_with_its_usage() -> None:
    body = {**openai_response("failed"), "error": {"code": "server_error", "message": "boom"}}
    usage = usage_from(body)
    assert usage is not None
    assert (usage.success, usage.error_message, usage.prompt_tokens) == (
        False,
        "server_error: boom",
        2000,
    )


def test_responses_stream_takes_usage_from_the_completed_event(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_responses_stream())))
    events = [e.type for e in client.responses.create(model="o3", input="Hi", stream=True)]
    assert events == ["response.created", "response.output_text.delta", "response.completed"]
    assert logged(tracker, log_dir) == [RESPONSES_LINE]


def test_embeddings_log_input_only(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_embeddings())))
    client.embeddings.create(model="text-embedding-3-small", input="Hi")
    assert logged(tracker, log_dir) == [
        event(
            api_type="openai",
            model="text-embedding-3-small",
            prompt_tokens=8,
            api_key_suffix="abcd",
            # the operation, for the OpenTelemetry sink's gen_ai.operation.name
            metadata={"gen_ai.operation.name": "embeddings"},
        )
    ]


def test_rate_limit_is_logged_as_a_failure_and_reraised_unchanged(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_rate_limited())))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert caught.value.status_code == 429
    assert usage_from(caught.value) == Usage(
        0,
        0,
        api_type="openai",
        request_id="req_429",
        success=False,
        error_message="429 insufficient_quota: You exceeded your current quota.",
    )
    assert logged(tracker, log_dir) == [
        event(
            api_type="openai",
            model="gpt-4o",
            success=False,
            error_message="429 insufficient_quota: You exceeded your current quota.",
            api_key_suffix="abcd",
            request_id="req_429",
        )
    ]


async def test_async_client_calls_and_streams_are_logged(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    replies = Replies(openai_chat(), openai_chat_stream(), openai_rate_limited())
    client = tracker.instrument(openai_client(replies, asynchronous=True))
    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    assert [c.choices[0].delta.content async for c in stream] == ["Hel", "lo", "!"]
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    lines = logged(tracker, log_dir)
    assert lines[:2] == [CHAT_LINE, STREAM_LINE]
    assert (lines[2]["success"], lines[2]["request_id"]) == (False, "req_429")


def test_instrument_twice_still_logs_each_call_once(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = openai_client(Replies(openai_chat()))
    assert tracker.instrument(tracker.instrument(client)) is client
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert logged(tracker, log_dir) == [CHAT_LINE]


def test_instrument_changes_only_the_given_client(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    tracker.instrument(openai_client(Replies()))
    other = openai_client(Replies(openai_chat()))
    other.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert tracker.close() is True
    assert not list(log_dir.glob("tokens_*.jsonl"))


def test_parse_is_logged_like_create(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_chat())))
    client.chat.completions.parse(model="gpt-4o", messages=MESSAGES)
    assert logged(tracker, log_dir) == [CHAT_LINE]


async def test_a_reply_without_usage_warns_at_the_users_call_and_is_logged_counts_unknown(
    make_tracker: Any, log_dir: Path
) -> None:
    import httpx2

    body = openai_chat().json()
    body["usage"] = None
    tracker = make_tracker()
    sync = tracker.instrument(openai_client(Replies(httpx2.Response(200, json=body))))
    asynchronous = tracker.instrument(
        openai_client(Replies(httpx2.Response(200, json=body)), asynchronous=True)
    )
    with pytest.warns(UsageMissingWarning) as record:
        sync.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        await asynchronous.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert [w.filename for w in record] == [__file__, __file__]
    # the reply names its model and id (this one came without a request-id header)
    unknown = asked(event(api_type="openai", model="gpt-4o-2024-08-06", api_key_suffix="abcd",
                          request_id="chatcmpl-A1", counts_unknown=True), "gpt-4o")  # fmt: skip
    assert logged(tracker, log_dir) == [unknown, unknown]


def test_the_chat_stream_helper_is_logged_from_its_snapshot(
    make_tracker: Any, log_dir: Path
) -> None:
    replies = Replies(openai_chat_stream(), openai_chat_stream())
    tracker = make_tracker()
    client = tracker.instrument(openai_client(replies))
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
    assert deltas == ["Hel", "lo", "!"]
    assert replies.bodies[0]["stream_options"] == {"include_usage": True}
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        stream.get_final_completion()
    assert logged(tracker, log_dir) == [STREAM_LINE, STREAM_LINE]


async def test_the_async_chat_stream_helper_left_early_is_marked(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_chat_stream()), asynchronous=True))
    async with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        async for _event in stream:
            break
    # the helper's async generator is closed by the loop soon after, and with it our wrapper
    del stream, _event
    import asyncio
    import gc

    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0)
    (line,) = logged(tracker, log_dir)
    assert (line["success"], line["error_message"]) == (
        False,
        "stream closed before usage was reported: token counts unknown",
    )


def test_the_responses_stream_helper_is_logged_once(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    created = {**openai_response(), "status": "in_progress", "usage": None}
    events: list[tuple[str | None, Any]] = [
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": created}),
        ("response.completed", {"type": "response.completed", "sequence_number": 1,
                                "response": openai_response()}),
    ]  # fmt: skip
    client = tracker.instrument(openai_client(Replies(sse(events))))
    with client.responses.stream(model="o3", input="Hi") as stream:
        assert stream.get_final_response().usage.output_tokens == 900
    assert logged(tracker, log_dir) == [RESPONSES_LINE]


def test_copies_made_with_with_options_or_copy_are_logged(make_tracker: Any, log_dir: Path) -> None:
    """Per-request timeouts and retries make a new client each time: each is instrumented."""
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_chat(), openai_chat("req_2"))))
    client.with_options(timeout=5.0).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    client.copy(max_retries=1).with_options(timeout=9.0).chat.completions.create(
        model="gpt-4o", messages=MESSAGES
    )
    assert logged(tracker, log_dir) == [CHAT_LINE, {**CHAT_LINE, "request_id": "req_2"}]


def test_a_second_tracker_is_refused_with_a_message(make_tracker: Any, log_dir: Path) -> None:
    first, second = make_tracker(), make_tracker()
    client = first.instrument(openai_client(Replies(openai_chat())))
    with pytest.raises(ValueError, match="instrumented by another tracker already"):
        second.instrument(client)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert logged(first, log_dir) == [CHAT_LINE]


def test_legacy_completions_plain_and_streamed_are_logged(make_tracker: Any, log_dir: Path) -> None:
    import httpx2

    base = {"id": "cmpl-1", "object": "text_completion", "created": 1763900000,
            "model": "gpt-3.5-turbo-instruct"}  # fmt: skip
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    choice = {"index": 0, "logprobs": None, "finish_reason": "stop"}
    plain = httpx2.Response(200, json={**base, "choices": [{**choice, "text": "Hi!"}],
                                       "usage": usage})  # fmt: skip
    chunks = [(None, {**base, "choices": [{**choice, "text": t}]}) for t in ("Hi", "!")]
    chunks.append((None, {**base, "choices": [], "usage": usage}))
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(plain, sse(chunks, done=True))))
    assert client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Hi").usage
    streamed = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Hi",
                                         stream=True)  # fmt: skip
    # the usage chunk the instrumented client asked for is kept from the user
    assert ["".join(c.text for c in chunk.choices) for chunk in streamed] == ["Hi", "!"]
    line = event(api_type="openai", model="gpt-3.5-turbo-instruct", prompt_tokens=12,
                 completion_tokens=3, api_key_suffix="abcd", request_id="cmpl-1")  # fmt: skip
    assert logged(tracker, log_dir) == [line, line]


def test_image_generation_and_edit_bill_their_tokens(make_tracker: Any, log_dir: Path) -> None:
    """gpt-image models bill text and image input tokens and image output tokens; the reply
    names no model, so the line has the one asked for."""
    import httpx2

    reply = {
        "created": 1763900000,
        "data": [{"b64_json": "aGk="}],
        "usage": {
            "input_tokens": 50,
            "output_tokens": 4160,
            "total_tokens": 4210,
            "input_tokens_details": {"text_tokens": 40, "image_tokens": 10},
        },
    }
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(
        httpx2.Response(200, json=reply), httpx2.Response(200, json=reply)
    )))  # fmt: skip
    client.images.generate(model="gpt-image-1", prompt="a cat")
    client.images.edit(model="gpt-image-1", image=("cat.png", b"\x89PNG"), prompt="a hat")
    line = event(api_type="openai", model="gpt-image-1", prompt_tokens=50,
                 completion_tokens=4160, api_key_suffix="abcd")  # fmt: skip
    assert logged(tracker, log_dir) == [line, line]


def test_a_streamed_image_bills_the_tokens_its_last_event_reports(
    make_tracker: Any, log_dir: Path
) -> None:
    """``images.generate(stream=True)`` and ``images.edit(stream=True)`` send partial images,
    then an ``image_generation.completed`` / ``image_edit.completed`` event with the usage."""
    from tests.sdk_replies import sse

    usage = {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210,
             "input_tokens_details": {"text_tokens": 40, "image_tokens": 10}}  # fmt: skip
    image = {"b64_json": "aGk=", "created_at": 1763900000, "size": "1024x1024",
             "quality": "low", "background": "opaque", "output_format": "png"}  # fmt: skip

    def stream(kind: str) -> Any:
        return sse([
            (f"{kind}.partial_image", {"type": f"{kind}.partial_image", **image,
                                       "partial_image_index": 0}),
            (f"{kind}.completed", {"type": f"{kind}.completed", **image, "usage": usage}),
        ])  # fmt: skip

    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(
        stream("image_generation"), stream("image_edit")
    )))  # fmt: skip
    generated = client.images.generate(model="gpt-image-1", prompt="a cat", stream=True,
                                       partial_images=1)  # fmt: skip
    assert [e.type for e in generated] == [
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    edited = client.images.edit(model="gpt-image-1", image=("cat.png", b"\x89PNG"),
                                prompt="a hat", stream=True, partial_images=1)  # fmt: skip
    assert len(list(edited)) == 2
    line = event(api_type="openai", model="gpt-image-1", prompt_tokens=50,
                 completion_tokens=4160, api_key_suffix="abcd")  # fmt: skip
    assert logged(tracker, log_dir) == [line, line]


def test_a_background_response_is_logged_once_when_it_is_retrieved_finished(
    make_tracker: Any, log_dir: Path
) -> None:
    """responses.create(background=True) answers "queued" with no usage; polls answer
    "in_progress"; the finished response carries the bill. It is logged once, however often
    it is retrieved, and nothing is warned about on the way."""
    import httpx2

    def state(status: str) -> httpx2.Response:
        body = openai_response(status if status != "in_progress" else "completed")
        body.update(status=status, background=True)
        if status in ("queued", "in_progress"):
            body["usage"] = None
        return httpx2.Response(200, json=body)

    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(
        state("queued"), state("in_progress"), state("completed"), state("completed")
    )))  # fmt: skip
    job = client.responses.create(model="o3", input="Hi", background=True)
    assert job.status == "queued"
    statuses = [client.responses.retrieve(job.id).status for _ in range(3)]
    assert statuses == ["in_progress", "completed", "completed"]
    # under the name create() asked for, as a call that was not in the background
    assert logged(tracker, log_dir) == [asked(RESPONSES_LINE, "o3")]


def test_a_streamed_response_fetched_again_is_counted_once(
    make_tracker: Any, log_dir: Path
) -> None:
    """A background job followed as a stream (``create(background=True, stream=True)``),
    then fetched whole with ``retrieve()``, then replayed as a stream: one line, the first."""
    import httpx2

    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(
        openai_responses_stream(), httpx2.Response(200, json=openai_response()),
        openai_responses_stream(),
    )))  # fmt: skip
    for _event in client.responses.create(model="o3", input="Hi", background=True, stream=True):
        pass
    assert client.responses.retrieve("resp_R1").usage.output_tokens == 900
    for _event in client.responses.retrieve("resp_R1", stream=True):
        pass
    assert logged(tracker, log_dir) == [RESPONSES_LINE]


def test_a_background_job_started_elsewhere_is_logged_under_the_served_name(
    make_tracker: Any, log_dir: Path
) -> None:
    """A job retrieved by id whose start this tracker never saw (another process made it)."""
    import httpx2

    body = openai_response("completed")
    body.update(background=True)
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(httpx2.Response(200, json=body))))
    client.responses.retrieve(body["id"])
    assert logged(tracker, log_dir) == [served(RESPONSES_LINE)]
