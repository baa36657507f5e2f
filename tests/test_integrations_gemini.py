"""Google GenAI SDK objects, built by the real client from canned HTTP, logged as billed.

Gemini reports thinking apart from the answer and tool-use input apart from the prompt: the
call below is 1,000 + 50 = 1,050 input (400 cached) and 200 + 100 = 300 output (100
thinking), which adds up to the response's ``totalTokenCount`` of 1,350. Stream chunks carry
running totals: the last one with counts is the call's usage, never their sum.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors

from asynctokens import Usage, usage_from
from tests.conftest import event, logged
from tests.sdk_replies import (
    GEMINI_USAGE,
    Replies,
    gemini_body,
    gemini_client,
    gemini_exhausted,
    gemini_reply,
    gemini_stream,
    gemini_stream_bodies,
)

USAGE = Usage(
    prompt_tokens=1050,
    completion_tokens=300,
    cached_tokens=400,
    reasoning_tokens=100,
    api_type="gemini",
    model="gemini-2.5-pro",
    request_id="resp-gem-1",
)
LINE = event(
    api_type="gemini",
    model="gemini-2.5-pro",
    prompt_tokens=1050,
    completion_tokens=300,
    cached_tokens=400,
    reasoning_tokens=100,
    api_key_suffix="gk42",
    request_id="resp-gem-1",
)


def operations(lines: list[dict[str, Any]]) -> list[str | None]:
    """Each line's operation id (taken out of its metadata, checked to be 16 hex digits),
    None for a line without one: what the requests of a call that sent several carry."""
    found: list[str | None] = []
    for line in lines:
        operation = line["metadata"].pop("asynctokens.operation_id", None)
        assert operation is None or re.fullmatch("[0-9a-f]{16}", operation), operation
        found.append(operation)
    return found


def test_usage_from_a_response_adds_thoughts_to_output_and_tool_use_to_input() -> None:
    client = gemini_client(Replies(gemini_reply()))
    response = client.models.generate_content(model="gemini-2.5-pro", contents="Hi")
    usage = usage_from(response)
    assert usage == USAGE
    assert usage is not None and usage.total_tokens == GEMINI_USAGE["totalTokenCount"]


def test_usage_from_rest_json_in_camel_case() -> None:
    assert usage_from(gemini_body(GEMINI_USAGE)) == USAGE


def test_instrumented_generate_content_logs_one_line(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(gemini_reply())))
    assert client.models.generate_content(model="gemini-2.5-pro", contents="Hi").text == "Hi"
    lines = logged(tracker, log_dir)
    assert operations(lines) == [None]  # one request: a plain line, no operation id
    assert lines == [LINE]


def test_stream_takes_the_last_chunk_with_counts_never_a_sum(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(gemini_stream())))
    chunks = client.models.generate_content_stream(model="gemini-2.5-pro", contents="Hi")
    assert "".join(chunk.text for chunk in chunks) == "Hello!"
    assert logged(tracker, log_dir) == [LINE]


def test_usage_from_a_list_of_chunks_skips_chunks_with_unset_counts() -> None:
    bodies = gemini_stream_bodies()
    assert usage_from(bodies) == USAGE
    assert usage_from(bodies[:1]) is None  # Vertex's first chunk: usage with no counts


def test_resource_exhausted_is_logged_as_a_failure_and_reraised(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(gemini_exhausted(), gemini_exhausted())))
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-pro", contents="Hi")
    assert caught.value.code == 429
    with pytest.raises(errors.ClientError):
        for _chunk in client.models.generate_content_stream(model="gemini-2.5-pro", contents="Hi"):
            pass
    failure = event(
        api_type="gemini",
        model="gemini-2.5-pro",
        success=False,
        error_message="429 RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).",
        api_key_suffix="gk42",
    )
    lines = logged(tracker, log_dir)
    assert operations(lines) == [None, None]
    assert lines == [failure, failure]


async def test_aio_generate_content_and_stream(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(gemini_reply(), gemini_stream())))
    await client.aio.models.generate_content(model="gemini-2.5-pro", contents="Hi")
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-pro", contents="Hi")
    assert len([chunk async for chunk in stream]) == 3
    lines = logged(tracker, log_dir)
    assert operations(lines) == [None, None]
    assert lines == [LINE, LINE]


def test_a_chat_session_on_an_instrumented_client_logs_each_message(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(gemini_reply(), gemini_reply())))
    chat = client.chats.create(model="gemini-2.5-pro")
    chat.send_message("Hi")
    chat.send_message("Again")
    lines = logged(tracker, log_dir)
    assert operations(lines) == [None, None]  # a request each
    assert lines == [LINE, LINE]


def gemini_function_call(usage: dict[str, Any]) -> Any:
    """A first hop of automatic function calling: the model asks for a tool."""
    from tests.sdk_replies import httpx2

    body = gemini_body(usage)
    body["candidates"][0]["content"]["parts"] = [
        {"functionCall": {"name": "get_weather", "args": {"city": "Lisbon"}}}
    ]
    body["responseId"] = "resp-gem-hop-1"
    return httpx2.Response(200, json=body)


HOP_USAGE = {"promptTokenCount": 700, "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
             "totalTokenCount": 750}  # fmt: skip


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "aio"])
async def test_automatic_function_calling_logs_every_hop_linked_by_one_operation(
    make_tracker: Any, log_dir: Path, asynchronous: bool
) -> None:
    """generate_content with a Python function tool sends two requests (the tool call, then
    the answer) and returns only the last one's usage: each request is logged, exactly, and
    both name the same operation."""
    from google.genai import types

    asked: list[str] = []

    def get_weather(city: str) -> str:
        """The weather in a city."""
        asked.append(city)
        return "sunny"

    tracker = make_tracker()
    client = tracker.instrument(
        gemini_client(Replies(gemini_function_call(HOP_USAGE), gemini_reply()))
    )
    config = types.GenerateContentConfig(tools=[get_weather])
    models = client.aio.models if asynchronous else client.models
    response = models.generate_content(model="gemini-2.5-pro", contents="Hi", config=config)
    if asynchronous:
        response = await response
    assert (response.text, asked) == ("Hi", ["Lisbon"])
    lines = logged(tracker, log_dir)
    first, second = operations(lines)
    assert first is not None and first == second
    hop = event(api_type="gemini", model="gemini-2.5-pro", prompt_tokens=700,
                completion_tokens=50, reasoning_tokens=30, api_key_suffix="gk42",
                request_id="resp-gem-hop-1")  # fmt: skip
    assert lines == [hop, LINE]
    assert sum(line["total_tokens"] for line in lines) == 750 + 1_350


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


def with_a_tool() -> dict[str, Any]:
    """A call's arguments with a Python function tool: the SDK calls it for the model and
    sends its result in a second request (automatic function calling)."""
    from google.genai import types

    config = types.GenerateContentConfig(tools=[get_weather])
    return {"model": "gemini-2.5-pro", "contents": "Hi", "config": config}


def gemini_function_call_stream(usage: dict[str, Any]) -> Any:
    """The first hop of a streamed automatic function call: one chunk asking for a tool."""
    from tests.sdk_replies import sse

    return sse([(None, gemini_function_call(usage).json())])


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "aio"])
async def test_a_streamed_automatic_function_call_links_its_hops_and_no_other_call(
    make_tracker: Any, log_dir: Path, asynchronous: bool
) -> None:
    """generate_content_stream with a Python function tool streams two requests (the tool
    call, then the answer): each is logged with its own usage, both under one operation. A
    call the user makes between two chunks is a call of its own, not a hop."""
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(
        gemini_function_call_stream(HOP_USAGE), gemini_reply(), gemini_stream()
    )))  # fmt: skip
    args = with_a_tool()
    texts = []
    if asynchronous:
        async for chunk in await client.aio.models.generate_content_stream(**args):
            if not texts:  # between the tool call's chunk and the answer's
                await client.aio.models.generate_content(model="gemini-2.5-pro", contents="Hi")
            texts.append(chunk.text)
    else:
        for chunk in client.models.generate_content_stream(**args):
            if not texts:
                client.models.generate_content(model="gemini-2.5-pro", contents="Hi")
            texts.append(chunk.text)
    assert texts == [None, "Hel", "lo", "!"]
    lines = logged(tracker, log_dir)
    alone, first, second = operations(lines)
    assert alone is None and first is not None and first == second
    hop = event(api_type="gemini", model="gemini-2.5-pro", prompt_tokens=700,
                completion_tokens=50, reasoning_tokens=30, api_key_suffix="gk42",
                request_id="resp-gem-hop-1")  # fmt: skip
    assert lines == [LINE, hop, LINE]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "aio"])
async def test_a_streamed_automatic_function_call_left_early_logs_both_hops_linked(
    make_tracker: Any, log_dir: Path, asynchronous: bool
) -> None:
    """Left during its second request: that request is logged as left (with the counts
    reported so far), linked to the first."""
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(
        gemini_function_call_stream(HOP_USAGE), gemini_stream()
    )))  # fmt: skip
    args = with_a_tool()
    if asynchronous:
        stream = await client.aio.models.generate_content_stream(**args)
        async for chunk in stream:
            if chunk.text == "lo":
                break
        await stream.aclose()
    else:
        stream = client.models.generate_content_stream(**args)
        for chunk in stream:
            if chunk.text == "lo":
                break
        stream.close()
    lines = logged(tracker, log_dir)
    first, second = operations(lines)
    assert first is not None and first == second
    assert [(line["prompt_tokens"], line["completion_tokens"], line["success"])
            for line in lines] == [(700, 50, True), (1050, 220, False)]  # fmt: skip
    assert lines[1]["error_message"].startswith("stream closed before its end")


def gemini_embeddings(usage: dict[str, Any] | None) -> Any:
    """A ``batchEmbedContents`` reply (the GenAI SDK's ``embed_content`` on the Gemini API)."""
    from tests.sdk_replies import httpx2

    body: dict[str, Any] = {"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]}
    if usage is not None:
        body["usageMetadata"] = usage
    return httpx2.Response(200, json=body)


async def test_embed_content_logs_its_input_tokens_and_a_reply_without_them_is_said(
    make_tracker: Any, log_dir: Path
) -> None:
    """Embeddings bill their input: logged under the model asked for (the reply names none),
    as an embeddings call. A reply without counts is a warning and a line whose counts are
    marked unknown, never a plain 0-token line."""
    from asynctokens import UsageMissingWarning

    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(
        gemini_embeddings({"promptTokenCount": 12, "totalTokenCount": 12}),
        gemini_embeddings({"promptTokenCount": 7, "totalTokenCount": 7}),
        gemini_embeddings(None),
    )))  # fmt: skip
    args: dict[str, Any] = {"model": "gemini-embedding-001", "contents": ["Hi", "there"]}
    assert len(client.models.embed_content(**args).embeddings) == 2
    await client.aio.models.embed_content(**args)
    with pytest.warns(UsageMissingWarning, match="logged with its counts unknown"):
        client.models.embed_content(**args)
    line = event(api_type="gemini", model="gemini-embedding-001", api_key_suffix="gk42",
                 metadata={"gen_ai.operation.name": "embeddings"})  # fmt: skip
    twelve, seven = {**line, "prompt_tokens": 12}, {**line, "prompt_tokens": 7}
    assert logged(tracker, log_dir) == [
        {**twelve, "total_tokens": 12},
        {**seven, "total_tokens": 7},
        {**line, "metadata": {}, "counts_unknown": True},
    ]


def test_vertex_embeddings_count_the_tokens_of_each_embedding(
    make_tracker: Any, log_dir: Path
) -> None:
    """Vertex's ``predict`` reply has no usage but a token count per embedding (a float in
    the SDK's object): their sum is the call's input. A count missing: the others' sum,
    the line's counts marked unknown and the adjustment said."""
    from google import genai
    from google.genai import types

    from asynctokens import UsageAdjustedWarning
    from tests.sdk_replies import httpx2

    def predictions(*counts: int | None) -> httpx2.Response:
        return httpx2.Response(200, json={"predictions": [
            {"embeddings": {"values": [0.1], "statistics": {} if n is None else {
                "token_count": n, "truncated": False}}} for n in counts
        ], "metadata": {"billableCharacterCount": 10}})  # fmt: skip

    replies = Replies(predictions(5, 9), predictions(5, None))
    options = types.HttpOptions(
        httpx_client=replies.sync_client(), retry_options=types.HttpRetryOptions(attempts=1)
    )
    tracker = make_tracker()
    client = tracker.instrument(
        genai.Client(vertexai=True, api_key="vk-test-0042", http_options=options)
    )
    client.models.embed_content(model="text-embedding-005", contents=["Hi", "there"])
    with pytest.warns(UsageAdjustedWarning, match="token_count missing for 1 of 2 embeddings"):
        client.models.embed_content(model="text-embedding-005", contents=["Hi", "there"])
    line = event(api_type="vertex", model="text-embedding-005", api_key_suffix="0042",
                 metadata={"gen_ai.operation.name": "embeddings"})  # fmt: skip
    assert logged(tracker, log_dir) == [
        {**line, "prompt_tokens": 14, "total_tokens": 14},
        {**line, "prompt_tokens": 5, "total_tokens": 5, "counts_unknown": True, "metadata": {
            "gen_ai.operation.name": "embeddings", "asynctokens.adjustments": [
                "token_count missing for 1 of 2 embeddings: unknown, counted as 0"]}},
    ]  # fmt: skip


def test_a_streamed_automatic_function_call_failing_at_its_second_request_links_both(
    make_tracker: Any, log_dir: Path
) -> None:
    """The tool call streamed, then the answer's request refused (429): both requests are
    lines, linked, and the user gets the SDK's error."""
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(
        gemini_function_call_stream(HOP_USAGE), gemini_exhausted()
    )))  # fmt: skip
    chunks = client.models.generate_content_stream(**with_a_tool())
    with pytest.raises(errors.ClientError):
        for _chunk in chunks:
            pass
    lines = logged(tracker, log_dir)
    first, second = operations(lines)
    assert first is not None and first == second
    assert [(line["prompt_tokens"], line["success"], line["error_message"]) for line in lines] == [
        (700, True, None),
        (0, False, "429 RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota)."),
    ]
