"""The SDKs' own retries: every attempt the provider saw is one line.

The OpenAI and Anthropic SDKs retry a 429, a 5xx or a dropped connection (twice, by default)
inside the one method call the user made. Each failed attempt is a request the provider
answered, and a spike of them is what a user watches for, so each is logged (read at the
transport, with its own status, message, request id and latency), and the attempts of one
call share ``metadata["asynctokens.operation_id"]`` with its last request. A call answered at
the first try, or failing at its only try, is the one plain line it always was.

And the one request asynctokens sends again itself: an endpoint that refuses to be asked for a
stream's usage (``stream_options``) gets the user's own request.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.conftest import event, logged
from tests.sdk_replies import (
    ANTHROPIC_KEY,
    GEMINI_KEY,
    OPENAI_KEY,
    Replies,
    anthropic_message,
    anthropic_stream,
    arriving,
    gemini_exhausted,
    gemini_reply,
    openai_chat,
    openai_chat_stream,
)

MESSAGES = [{"role": "user", "content": "Hi"}]
OPERATION = "asynctokens.operation_id"
CHAT = event(api_type="openai", model="gpt-4o", response_model="gpt-4o-2024-08-06",
             prompt_tokens=1200, completion_tokens=300, cached_tokens=1024,
             reasoning_tokens=128, api_key_suffix="abcd", request_id="req_chat_1")  # fmt: skip
CLAUDE = event(api_type="anthropic", model="claude-opus-4-5",
               response_model="claude-opus-4-5-20251101", prompt_tokens=2600,
               completion_tokens=300, cached_tokens=2000, cache_write_tokens=500,
               reasoning_tokens=120, api_key_suffix="wxyz")  # fmt: skip
GEMINI = event(api_type="gemini", model="gemini-2.5-pro", prompt_tokens=1050,
               completion_tokens=300, cached_tokens=400, reasoning_tokens=100,
               api_key_suffix="gk42", request_id="resp-gem-1")  # fmt: skip


def openai_error(status: int, request_id: str) -> httpx2.Response:
    """An OpenAI error the SDK retries at once (``retry-after-ms``: 1 ms), its body unread
    as a network delivers it."""
    body = {"error": {"message": f"Server error {request_id}", "type": "server_error"}}
    headers = {"x-request-id": request_id, "retry-after-ms": "1"}
    return arriving(httpx2.Response(status, json=body, headers=headers))


def anthropic_overloaded(request_id: str) -> httpx2.Response:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    headers = {"request-id": request_id, "retry-after-ms": "1"}
    return arriving(httpx2.Response(529, json=body, headers=headers))


def dropped() -> httpx2.Response:
    raise httpx2.ConnectError("connection reset by peer")


def openai_with_retries(replies: Replies, *, asynchronous: bool = False) -> Any:
    kind = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    http = replies.async_client() if asynchronous else replies.sync_client()
    return kind(api_key=OPENAI_KEY, base_url="https://api.openai.com/v1", http_client=http,
                max_retries=2)  # fmt: skip


def anthropic_with_retries(replies: Replies, *, asynchronous: bool = False) -> Any:
    kind = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    http = replies.async_client() if asynchronous else replies.sync_client()
    return kind(api_key=ANTHROPIC_KEY, base_url="https://api.anthropic.com", http_client=http,
                max_retries=2)  # fmt: skip


def linked(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``lines`` with their shared operation id taken out, once checked to be one id."""
    ids = {line["metadata"].pop(OPERATION) for line in lines}
    assert len(ids) == 1 and len(ids.pop()) == 16, ids
    return lines


def failed_openai(status: int, request_id: str, model: str = "gpt-4o") -> dict[str, Any]:
    return event(api_type="openai", model=model, success=False, api_key_suffix="abcd",
                 request_id=request_id,
                 error_message=f"{status} server_error: Server error {request_id}")  # fmt: skip


def test_a_retried_429_and_the_answer_after_it_are_two_linked_lines(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_with_retries(Replies(
        openai_error(429, "req_a"), openai_error(500, "req_b"), arriving(openai_chat())
    )))  # fmt: skip
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.usage.prompt_tokens == 1200
    assert linked(logged(tracker, log_dir)) == [
        failed_openai(429, "req_a"),
        failed_openai(500, "req_b"),
        CHAT,
    ]


def test_a_call_whose_every_attempt_failed_is_one_line_per_attempt(
    make_tracker: Any, log_dir: Path
) -> None:
    """The last attempt is logged from the error the SDK raises, never a second time from
    the transport."""
    tracker = make_tracker()
    replies = Replies(*(openai_error(503, f"req_{n}") for n in range(3)))
    client = tracker.instrument(openai_with_retries(replies))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert linked(logged(tracker, log_dir)) == [
        failed_openai(503, "req_0"),
        failed_openai(503, "req_1"),
        failed_openai(503, "req_2"),
    ]


def test_a_dropped_connection_retried_is_a_line_of_its_own(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_with_retries(Replies(dropped, arriving(openai_chat()))))
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert linked(logged(tracker, log_dir)) == [
        event(api_type="openai", model="gpt-4o", success=False, api_key_suffix="abcd",
              error_message="ConnectError: connection reset by peer"),
        CHAT,
    ]  # fmt: skip


def test_a_connection_dropped_at_every_try_is_one_line_per_try(
    make_tracker: Any, log_dir: Path
) -> None:
    """The last try's error is the SDK's (``APIConnectionError``, raised from the transport's
    own): logged once, from it."""
    tracker = make_tracker()
    client = tracker.instrument(openai_with_retries(Replies(dropped, dropped, dropped)))
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    dropped_line = event(api_type="openai", model="gpt-4o", success=False,
                         api_key_suffix="abcd",
                         error_message="ConnectError: connection reset by peer")  # fmt: skip
    lines = linked(logged(tracker, log_dir))
    assert lines[:2] == [dropped_line, dropped_line]
    assert len(lines) == 3 and lines[2]["error_message"].startswith("APIConnectionError")


def test_a_call_answered_at_once_or_failing_at_its_only_try_is_one_plain_line(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    replies = Replies(arriving(openai_chat()), openai_error(400, "req_bad"))
    client = tracker.instrument(openai_with_retries(replies))  # a 400 is not retried
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert logged(tracker, log_dir) == [CHAT, failed_openai(400, "req_bad")]


def test_a_stream_opened_after_a_retry_is_linked_to_it(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_with_retries(Replies(
        openai_error(429, "req_a"), arriving(openai_chat_stream())
    )))  # fmt: skip
    chunks = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert linked(logged(tracker, log_dir)) == [
        failed_openai(429, "req_a", model="gpt-4o-mini"),
        event(api_type="openai", model="gpt-4o-mini", response_model="gpt-4o-mini-2024-07-18",
              prompt_tokens=50, completion_tokens=7, api_key_suffix="abcd",
              request_id="req_stream_1"),
    ]  # fmt: skip


async def test_async_anthropic_retries_whole_and_streamed(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(anthropic_with_retries(Replies(
        anthropic_overloaded("req_o1"), anthropic_overloaded("req_o2"),
        arriving(anthropic_message()),
        anthropic_overloaded("req_o3"), arriving(anthropic_stream()),
    ), asynchronous=True))  # fmt: skip
    args: dict[str, Any] = {"model": "claude-opus-4-5", "max_tokens": 10, "messages": MESSAGES}
    await client.messages.create(**args)
    async with client.messages.stream(**args) as stream:
        await stream.get_final_message()
    lines = logged(tracker, log_dir)
    overloaded = [
        event(api_type="anthropic", model="claude-opus-4-5", success=False,
              api_key_suffix="wxyz", request_id=f"req_o{n}",
              error_message="529 overloaded_error: Overloaded")
        for n in (1, 2, 3)
    ]  # fmt: skip
    assert linked(lines[:3]) == [*overloaded[:2], {**CLAUDE, "request_id": "req_ant_1"}]
    assert linked(lines[3:]) == [overloaded[2], {**CLAUDE, "request_id": "req_ant_stream"}]


def test_gemini_retries_a_user_turned_on_are_lines_too(make_tracker: Any, log_dir: Path) -> None:
    """google-genai retries only when asked (``HttpRetryOptions``); its request names the
    model in the URL, so a failed attempt's line takes the model the call asked for."""
    from google import genai
    from google.genai import errors, types

    replies = Replies(gemini_exhausted(), gemini_reply(), gemini_exhausted(), gemini_exhausted())
    options = types.HttpOptions(
        base_url="https://generativelanguage.googleapis.com/",
        httpx_client=replies.sync_client(),
        retry_options=types.HttpRetryOptions(attempts=2, initial_delay=0.001, jitter=0),
    )
    tracker = make_tracker()
    client = tracker.instrument(genai.Client(api_key=GEMINI_KEY, http_options=options))
    reply = client.models.generate_content(model="gemini-2.5-pro", contents="Hi")
    assert reply.usage_metadata.prompt_token_count == 1000  # + 50 tool-use prompt tokens
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model="gemini-2.5-pro", contents="Hi")
    exhausted = event(
        api_type="gemini", model="gemini-2.5-pro", success=False, api_key_suffix="gk42",
        error_message="429 RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).",
    )  # fmt: skip
    lines = logged(tracker, log_dir)
    assert linked(lines[:2]) == [exhausted, GEMINI]
    assert linked(lines[2:]) == [exhausted, exhausted]


def azure_refusing_stream_options(replies: list[dict[str, Any]]) -> Any:
    """A handler answering as Azure OpenAI before API version 2024-09-01-preview: a request
    with ``stream_options`` is refused with 400, one without it streams (no usage chunk)."""
    import json

    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        replies.append(body)
        if "stream_options" in body:
            error = {"message": "Unrecognized request argument supplied: stream_options",
                     "type": "invalid_request_error", "param": None, "code": None}  # fmt: skip
            return httpx2.Response(400, json={"error": error})
        return arriving(openai_chat_stream(with_usage=False))

    return handle


def azure_client(handle: Any, *, asynchronous: bool = False) -> Any:
    kind = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
    transport = httpx2.MockTransport(handle)
    http = httpx2.AsyncClient(transport=transport) if asynchronous else httpx2.Client(
        transport=transport)  # fmt: skip
    # a resource of its own each time: an endpoint's refusal is remembered for the process
    endpoint = f"https://contoso-{uuid.uuid4().hex[:8]}.openai.azure.com"
    return kind(api_key=OPENAI_KEY, api_version="2024-06-01", http_client=http,
                azure_endpoint=endpoint, max_retries=2)  # fmt: skip


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_an_endpoint_refusing_to_be_asked_for_usage_gets_the_users_own_request(
    make_tracker: Any, log_dir: Path, asynchronous: bool
) -> None:
    """The user's stream works, as they asked for it; asked once, the endpoint is not asked
    again; the refusal is our question's, not a line; the stream, without usage, is said
    and logged with its counts unknown (it was billed), naming its request and model."""
    from asynctokens import UsageMissingWarning

    sent: list[dict[str, Any]] = []
    tracker = make_tracker()
    client = tracker.instrument(azure_client(azure_refusing_stream_options(sent),
                                             asynchronous=asynchronous))  # fmt: skip
    args: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    texts = []
    with pytest.warns(UsageMissingWarning, match="logged with its counts unknown"):
        for _ in range(2):
            if asynchronous:
                chunks = [c async for c in await client.chat.completions.create(**args)]
            else:
                chunks = list(client.chat.completions.create(**args))
            texts.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
    assert texts[0] == texts[1] != ""
    assert ["stream_options" in body for body in sent] == [True, False, False]
    unknown = event(api_type="azure", model="gpt-4o-mini", response_model=
                    "gpt-4o-mini-2024-07-18", api_key_suffix="abcd", request_id="req_stream_1",
                    counts_unknown=True)  # fmt: skip
    assert logged(tracker, log_dir) == [unknown, unknown]


async def test_a_call_cancelled_between_attempts_adds_no_line_of_its_own(
    make_tracker: Any, log_dir: Path
) -> None:
    """Cancelled while the SDK waits to retry, the provider saw only the failed attempt:
    one line. Cancelled with a request in flight, that request is the call's line. Each
    call is cancelled once its handler has answered, or is waiting: no deadline."""
    import asyncio

    answered, waiting_in_handler = asyncio.Event(), asyncio.Event()
    replies = Replies(openai_error(429, "req_a"))

    def answer(request: httpx2.Request) -> httpx2.Response:
        reply = replies(request)
        reply.headers["retry-after-ms"] = "30000"  # the SDK would wait 30 s to retry
        answered.set()  # the task next yields in that wait: the attempt is read by then
        return reply

    async def slow(request: httpx2.Request) -> httpx2.Response:
        waiting_in_handler.set()
        await asyncio.sleep(3600)
        raise AssertionError("never answered: cancelled first")

    tracker = make_tracker()
    for handler, reached in ((answer, answered), (slow, waiting_in_handler)):
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        bare = openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url="https://api.openai.com/v1",
                                  http_client=http)  # fmt: skip
        client = tracker.instrument(bare)
        call = asyncio.create_task(
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        )
        await reached.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    lines = logged(tracker, log_dir)
    assert lines[0] == failed_openai(429, "req_a")  # alone: no operation id
    assert len(lines) == 2 and lines[1]["error_message"].startswith("CancelledError")
