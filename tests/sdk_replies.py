"""Canned provider replies, and real SDK clients that receive them over a mock transport.

The clients are the SDKs' own (openai, anthropic, google-genai) with an ``httpx2`` client whose
transport answers from a handler: every object the tests see is built by the SDK itself from
HTTP, as in production. ``Replies`` records the request bodies, so tests can check what the
instrumented client sent.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from typing import Any

import httpx2

OPENAI_KEY = "sk-test-0000000000000000abcd"
ANTHROPIC_KEY = "sk-ant-test-00000000000wxyz"
GEMINI_KEY = "AIza-test-0000000000000gk42"

Handler = Callable[[httpx2.Request], httpx2.Response]


class _Chunks(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A body that arrives in small pieces, as over a network (sync or async)."""

    def __init__(self, data: bytes, size: int) -> None:
        self.pieces = [data[i : i + size] for i in range(0, len(data), size)]

    def __iter__(self) -> Any:
        yield from self.pieces

    async def __aiter__(self) -> Any:
        for piece in self.pieces:
            yield piece


def arriving(reply: httpx2.Response, size: int = 7) -> httpx2.Response:
    """``reply`` with its body unread, arriving ``size`` bytes at a time: what a real
    transport hands the client (a mock's reply is read whole already)."""
    headers = {k: v for k, v in reply.headers.items() if k.lower() != "content-length"}
    return httpx2.Response(reply.status_code, headers=headers, stream=_Chunks(reply.content, size))


def compressed(reply: httpx2.Response, coding: str, size: int = 7) -> httpx2.Response:
    """``reply`` as a provider sends it when the client accepts compression (OpenAI's and
    Anthropic's JSON arrive gzipped): ``Content-Encoding`` set, the body compressed and
    arriving ``size`` bytes at a time."""
    if coding == "gzip":
        body = gzip.compress(reply.content)
    elif coding == "deflate":
        body = zlib.compress(reply.content)
    else:
        raise ValueError(coding)
    headers = {k: v for k, v in reply.headers.items() if k.lower() != "content-length"}
    headers["content-encoding"] = coding
    return httpx2.Response(reply.status_code, headers=headers, stream=_Chunks(body, size))


def sse(events: list[tuple[str | None, Any]], *, done: bool = False) -> httpx2.Response:
    """A ``text/event-stream`` reply: ``(event name or None, JSON data)`` per event."""
    parts = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        parts.append(f"{head}data: {json.dumps(data)}\n\n")
    if done:
        parts.append("data: [DONE]\n\n")
    return httpx2.Response(
        200, content="".join(parts).encode(), headers={"content-type": "text/event-stream"}
    )


class Replies:
    """A mock transport's handler: answers each request with the next queued reply."""

    def __init__(self, *replies: httpx2.Response | Callable[[], httpx2.Response]) -> None:
        self.queue = list(replies)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        is_json = request.headers.get("content-type", "").startswith("application/json")
        self.bodies.append(json.loads(request.content or b"{}") if is_json else {})
        reply = self.queue.pop(0)
        return reply() if callable(reply) else reply

    def sync_client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))

    def async_client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))


def openai_client(replies: Replies, *, asynchronous: bool = False) -> Any:
    import openai

    if asynchronous:
        return openai.AsyncOpenAI(
            api_key=OPENAI_KEY,
            base_url="https://api.openai.com/v1",
            http_client=replies.async_client(),
            max_retries=0,
        )
    return openai.OpenAI(
        api_key=OPENAI_KEY,
        base_url="https://api.openai.com/v1",
        http_client=replies.sync_client(),
        max_retries=0,
    )


def anthropic_client(replies: Replies, *, asynchronous: bool = False) -> Any:
    import anthropic

    if asynchronous:
        return anthropic.AsyncAnthropic(
            api_key=ANTHROPIC_KEY,
            base_url="https://api.anthropic.com",
            http_client=replies.async_client(),
            max_retries=0,
        )
    return anthropic.Anthropic(
        api_key=ANTHROPIC_KEY,
        base_url="https://api.anthropic.com",
        http_client=replies.sync_client(),
        max_retries=0,
    )


def gemini_client(replies: Replies) -> Any:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(
        base_url="https://generativelanguage.googleapis.com/",
        httpx_client=replies.sync_client(),
        httpx_async_client=replies.async_client(),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=GEMINI_KEY, http_options=options)


# -- OpenAI ------------------------------------------------------------------------------------
def openai_chat(request_id: str = "req_chat_1") -> httpx2.Response:
    """gpt-4o: 1,200 input (1,024 cached), 300 output (128 reasoning)."""
    return httpx2.Response(
        200,
        headers={"x-request-id": request_id},
        json={
            "id": "chatcmpl-A1",
            "object": "chat.completion",
            "created": 1763900000,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 1200,
                "completion_tokens": 300,
                "total_tokens": 1500,
                "prompt_tokens_details": {"cached_tokens": 1024},
                "completion_tokens_details": {"reasoning_tokens": 128},
            },
        },
    )


def openai_chat_stream_events(*, with_usage: bool) -> list[tuple[str | None, Any]]:
    """Three content chunks, then (with usage) the usage-only chunk with no choices."""
    base = {"id": "chatcmpl-S1", "object": "chat.completion.chunk", "created": 1763900000}
    model = {"model": "gpt-4o-mini-2024-07-18"}
    events: list[tuple[str | None, Any]] = [
        (None, {**base, **model, "choices": [{"index": 0, "delta": {"content": text}}]})
        for text in ("Hel", "lo", "!")
    ]
    if with_usage:
        usage = {
            "prompt_tokens": 50,
            "completion_tokens": 7,
            "total_tokens": 57,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        events.append((None, {**base, **model, "choices": [], "usage": usage}))
    return events


def openai_chat_stream(*, with_usage: bool = True) -> httpx2.Response:
    reply = sse(openai_chat_stream_events(with_usage=with_usage), done=True)
    reply.headers["x-request-id"] = "req_stream_1"
    return reply


def openai_response(status: str = "completed") -> dict[str, Any]:
    """A Responses-API ``Response``: o3, 2,000 input (1,500 cached), 900 output (700 reasoning)."""
    return {
        "id": "resp_R1",
        "object": "response",
        "created_at": 1763900000,
        "status": status,
        "model": "o3-2025-04-16",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "error": None,
        "usage": {
            "input_tokens": 2000,
            "input_tokens_details": {"cached_tokens": 1500, "cache_write_tokens": 0},
            "output_tokens": 900,
            "output_tokens_details": {"reasoning_tokens": 700},
            "total_tokens": 2900,
        },
    }


def openai_responses_stream() -> httpx2.Response:
    created = {**openai_response(), "status": "in_progress", "usage": None}
    events: list[tuple[str | None, Any]] = [
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": created}),
        ("response.output_text.delta", {"type": "response.output_text.delta",
                                        "sequence_number": 1, "item_id": "msg_1",
                                        "output_index": 0, "content_index": 0, "delta": "Hi",
                                        "logprobs": []}),
        ("response.completed", {"type": "response.completed", "sequence_number": 2,
                                "response": openai_response()}),
    ]  # fmt: skip
    return sse(events)


def openai_embeddings() -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        },
    )


def openai_rate_limited() -> httpx2.Response:
    return httpx2.Response(
        429,
        headers={"x-request-id": "req_429"},
        json={
            "error": {
                "message": "You exceeded your current quota.",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        },
    )


# -- Anthropic ---------------------------------------------------------------------------------
ANTHROPIC_USAGE = {
    "input_tokens": 100,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 500,
    "output_tokens": 300,
    "output_tokens_details": {"thinking_tokens": 120},
}


def anthropic_message() -> httpx2.Response:
    """claude-opus-4-5: 100 fresh + 2,000 cache-read + 500 cache-write input, 300 output."""
    return httpx2.Response(
        200,
        headers={"request-id": "req_ant_1"},
        json={
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-5-20251101",
            "content": [{"type": "text", "text": "Hello"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": ANTHROPIC_USAGE,
        },
    )


def anthropic_stream_events(*, error: bool = False) -> list[tuple[str | None, Any]]:
    """message_start (output 1 so far), text deltas, message_delta with cumulative usage."""
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1, "output_tokens_details": None}
    message = {
        "id": "msg_02",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-5-20251101",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hel"}}),
    ]  # fmt: skip
    if error:
        events.append(
            ("error", {"type": "error",
                       "error": {"type": "overloaded_error", "message": "Overloaded"}})
        )  # fmt: skip
        return events
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "lo"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 300,
                                     "output_tokens_details": {"thinking_tokens": 120}}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return events


def anthropic_stream(*, error: bool = False) -> httpx2.Response:
    reply = sse(anthropic_stream_events(error=error))
    reply.headers["request-id"] = "req_ant_stream"
    return reply


def anthropic_overloaded() -> httpx2.Response:
    return httpx2.Response(
        529,
        headers={"request-id": "req_ant_529"},
        json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )


# -- Google GenAI ------------------------------------------------------------------------------
def gemini_body(usage: dict[str, Any] | None, text: str = "Hi") -> dict[str, Any]:
    body: dict[str, Any] = {
        "candidates": [
            {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP"}
        ],
        "modelVersion": "gemini-2.5-pro",
        "responseId": "resp-gem-1",
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return body


#: 1,000 prompt (400 cached) + 50 tool-use input; 200 answer + 100 thinking; total 1,350.
GEMINI_USAGE = {
    "promptTokenCount": 1000,
    "cachedContentTokenCount": 400,
    "toolUsePromptTokenCount": 50,
    "candidatesTokenCount": 200,
    "thoughtsTokenCount": 100,
    "totalTokenCount": 1350,
}


def gemini_reply() -> httpx2.Response:
    return httpx2.Response(200, json=gemini_body(GEMINI_USAGE))


def gemini_stream_bodies() -> list[dict[str, Any]]:
    """Vertex-style: a first chunk whose usage has no counts, then running totals."""
    return [
        gemini_body({"trafficType": "ON_DEMAND"}, "Hel"),
        gemini_body({"promptTokenCount": 1000, "cachedContentTokenCount": 400,
                     "toolUsePromptTokenCount": 50, "candidatesTokenCount": 120,
                     "thoughtsTokenCount": 100, "totalTokenCount": 1270}, "lo"),
        gemini_body(GEMINI_USAGE, "!"),
    ]  # fmt: skip


def gemini_stream() -> httpx2.Response:
    return sse([(None, body) for body in gemini_stream_bodies()])


def gemini_exhausted() -> httpx2.Response:
    return httpx2.Response(
        429,
        json={
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
    )
