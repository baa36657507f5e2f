"""The fast paths of an instrumented client: its common replies, and its long streams.

Each provider's ``fast_fields`` reads a whole reply of the common shape in one flat pass, so
that an instrumented call stays cheap; anything else is left to the provider's ``usage_of``.
Held here: on every common reply the SDKs build, the fast reader reads exactly what
``usage_of`` reads; on every odd one (counts to adjust, fields the SDK does not know, a job
still running) it declines; and an instrumented client writes the same line either way,
taking the fast path for the common reply. A long stream is read only where a chunk can
carry usage, the model or an error, and its line is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2
import pytest

from asynctokens import TokenTracker
from asynctokens.integrations import anthropic, gemini, openai
from asynctokens.integrations._usage import ABANDONED
from asynctokens.record._event import TOKENS_LIMIT
from tests import sdk_replies as r
from tests.conftest import read_lines

MESSAGES = [{"role": "user", "content": "Hi"}]


def chat(usage: dict[str, Any], **more: Any) -> Any:
    body = {
        "id": "chatcmpl-F1", "object": "chat.completion", "created": 1763900000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                     "finish_reason": "stop"}],
        "usage": usage, **more,
    }  # fmt: skip
    client = r.openai_client(r.Replies(httpx2.Response(200, json=body)))
    return client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def response(usage: dict[str, Any] | None = None, status: str = "completed", **more: Any) -> Any:
    body = {**r.openai_response(status), **more}
    if usage is not None:
        body["usage"] = usage
    client = r.openai_client(r.Replies(httpx2.Response(200, json=body)))
    return client.responses.create(model="o3", input="Hi")


def message(usage: dict[str, Any], **more: Any) -> Any:
    body = {
        "id": "msg_F1", "type": "message", "role": "assistant",
        "model": "claude-opus-4-5-20251101", "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn", "stop_sequence": None, "usage": usage, **more,
    }  # fmt: skip
    client = r.anthropic_client(r.Replies(httpx2.Response(200, json=body)))
    return client.messages.create(model="claude-opus-4-5", max_tokens=10, messages=MESSAGES)


def generated(usage: dict[str, Any] | None) -> Any:
    client = r.gemini_client(r.Replies(httpx2.Response(200, json=r.gemini_body(usage))))
    return client.models.generate_content(model="gemini-2.5-pro", contents="Hi")


CHAT_USAGE = {
    "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024},
    "completion_tokens_details": {"reasoning_tokens": 128},
}  # fmt: skip

#: (reader, the reply as its SDK builds it, what both readers must read)
COMMON: dict[str, tuple[ModuleType, Callable[[], Any], tuple[Any, ...]]] = {
    "openai chat": (
        openai, lambda: chat(CHAT_USAGE, service_tier="default"),
        (1200, 300, 1024, 0, 128, "gpt-4o-2024-08-06", "chatcmpl-F1", "default", 0),
    ),
    "openai chat, no details": (
        openai,
        lambda: chat({"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}),
        (7, 2, 0, 0, 0, "gpt-4o-2024-08-06", "chatcmpl-F1", None, 0),
    ),
    "openai chat, request id header": (
        openai, lambda: r.openai_client(r.Replies(r.openai_chat("req_F9"))).chat.completions
        .create(model="gpt-4o", messages=MESSAGES),
        (1200, 300, 1024, 0, 128, "gpt-4o-2024-08-06", "req_F9", None, 0),
    ),
    "openai chat, a float and a string count (the SDK makes them ints)": (
        openai,
        lambda: chat({"prompt_tokens": 10.0, "completion_tokens": "5", "total_tokens": 15}),
        (10, 5, 0, 0, 0, "gpt-4o-2024-08-06", "chatcmpl-F1", None, 0),
    ),
    "openai response": (
        openai, lambda: response(service_tier="flex"),
        (2000, 900, 1500, 0, 700, "o3-2025-04-16", "resp_R1", "flex", 0),
    ),
    "anthropic message": (
        anthropic, lambda: message(r.ANTHROPIC_USAGE),
        (2600, 300, 2000, 500, 120, "claude-opus-4-5-20251101", "msg_F1", None, 0),
    ),
    "anthropic message, 1-hour writes and a tier": (
        anthropic,
        lambda: message({
            "input_tokens": 10, "cache_read_input_tokens": None,
            "cache_creation_input_tokens": 900, "output_tokens": 40,
            "cache_creation": {"ephemeral_5m_input_tokens": 300,
                               "ephemeral_1h_input_tokens": 600},
            "service_tier": "priority",
        }),
        (910, 40, 0, 900, 0, "claude-opus-4-5-20251101", "msg_F1", "priority", 600),
    ),
    "gemini response": (
        gemini, lambda: generated(r.GEMINI_USAGE),
        (1050, 300, 400, 0, 100, "gemini-2.5-pro", "resp-gem-1", None, 0),
    ),
    "gemini response, answer only": (
        gemini, lambda: generated({"promptTokenCount": 12, "candidatesTokenCount": 3}),
        (12, 3, 0, 0, 0, "gemini-2.5-pro", "resp-gem-1", None, 0),
    ),
}  # fmt: skip


def read_by_usage_of(reader: ModuleType, reply: Any) -> tuple[Any, ...]:
    usage = reader.usage_of(reply)
    assert usage.success and usage.operation == "chat" and usage.adjustments == ()
    return (
        usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
        usage.cache_write_tokens, usage.reasoning_tokens, usage.model, usage.request_id,
        usage.service_tier, usage.cache_write_1h_tokens,
    )  # fmt: skip


@pytest.mark.parametrize("case", list(COMMON))
def test_a_common_reply_reads_the_same_by_either_reader(case: str) -> None:
    reader, build, expected = COMMON[case]
    reply = build()
    assert reader.fast_fields(reply) == expected
    assert read_by_usage_of(reader, reply) == expected


def big() -> int:
    return TOKENS_LIMIT


#: Replies the fast readers must leave to ``usage_of``: it adjusts, flags or skips them.
ODD: dict[str, tuple[ModuleType, Callable[[], Any]]] = {
    "openai reasoning outside completion": (openai, lambda: chat(
        {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
         "completion_tokens_details": {"reasoning_tokens": 8}})),
    "openai cached outside prompt": (openai, lambda: chat(
        {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
         "prompt_tokens_details": {"cached_tokens": 11}})),
    "openai negative count": (openai, lambda: chat(
        {"prompt_tokens": -1, "completion_tokens": 5, "total_tokens": 4})),
    "openai count past the limit": (openai, lambda: chat(
        {"prompt_tokens": big(), "completion_tokens": 5, "total_tokens": 5})),
    "openai usage field the SDK does not know": (openai, lambda: chat(
        {**CHAT_USAGE, "prompt_tokens_details": {"cached_tokens": 0, "future_tokens": 3}})),
    "openai reply field the SDK does not know": (openai, lambda: chat(CHAT_USAGE, future=1)),
    "openai response still queued": (openai, lambda: response(status="queued")),
    "openai response incomplete": (openai, lambda: response(status="incomplete")),
    "openai response float count": (openai, lambda: response(
        {"input_tokens": 10, "output_tokens": 2.0, "total_tokens": 12})),
    "anthropic thinking outside output": (anthropic, lambda: message(
        {"input_tokens": 10, "output_tokens": 5,
         "output_tokens_details": {"thinking_tokens": 9}})),
    "anthropic 1-hour writes outside writes": (anthropic, lambda: message(
        {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 100,
         "cache_creation": {"ephemeral_1h_input_tokens": 300}})),
    "anthropic string count": (anthropic, lambda: message(
        {"input_tokens": "10", "output_tokens": 5})),
    "anthropic usage field the SDK does not know": (anthropic, lambda: message(
        {"input_tokens": 10, "output_tokens": 5, "future_tokens": 1})),
    "gemini cached outside prompt": (gemini, lambda: generated(
        {"promptTokenCount": 10, "cachedContentTokenCount": 20, "candidatesTokenCount": 1})),
    "gemini counts unset": (gemini, lambda: generated({"totalTokenCount": 0})),
    "gemini no usage": (gemini, lambda: generated(None)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ODD))
def test_an_odd_reply_is_left_to_usage_of(case: str) -> None:
    reader, build = ODD[case]
    assert reader.fast_fields(build()) is None


def test_objects_of_no_sdk_are_left_to_usage_of() -> None:
    body = {"object": "chat.completion", "model": "m", "id": "x", "usage": CHAT_USAGE}
    for reader in (openai, anthropic, gemini):
        assert reader.fast_fields(body) is None
        assert reader.fast_fields(None) is None


def line_of(tmp_path: Path, name: str, client: Any, call: Any) -> dict[str, Any]:
    tracker = TokenTracker(tmp_path / name)
    tracker.instrument(client)
    call(client)
    assert tracker.close() is True
    (line,) = read_lines(tmp_path / name)
    for varies in ("event_id", "ts", "latency_ms"):
        line.pop(varies)
    return line


CALLS: dict[str, tuple[ModuleType, Callable[[], Any], Callable[[Any], Any]]] = {
    "openai": (openai, lambda: r.openai_client(r.Replies(r.openai_chat())),
               lambda c: c.chat.completions.create(model="gpt-4o", messages=MESSAGES)),
    "openai responses": (
        openai, lambda: r.openai_client(r.Replies(httpx2.Response(200, json=r.openai_response()))),
        lambda c: c.responses.create(model="o3", input="Hi")),
    "anthropic": (anthropic, lambda: r.anthropic_client(r.Replies(r.anthropic_message())),
                  lambda c: c.messages.create(model="claude-opus-4-5", max_tokens=10,
                                              messages=MESSAGES)),
    "gemini": (gemini, lambda: r.gemini_client(r.Replies(r.gemini_reply())),
               lambda c: c.models.generate_content(model="gemini-2.5-pro", contents="Hi")),
}  # fmt: skip


@pytest.mark.parametrize("provider", list(CALLS))
def test_an_instrumented_call_writes_the_same_line_by_either_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    reader, client, call = CALLS[provider]
    read = reader.usage_of
    general: list[Any] = []

    def counted(obj: Any) -> Any:
        general.append(obj)
        return read(obj)

    monkeypatch.setattr(reader, "usage_of", counted)
    fast = line_of(tmp_path, "fast", client(), call)
    assert general == []  # the common reply never reached usage_of
    monkeypatch.setattr(reader, "fast_fields", lambda obj: None)
    slow = line_of(tmp_path, "general", client(), call)
    assert len(general) == 1
    assert fast == slow
    assert fast["prompt_tokens"] > 0 and fast["success"] is True


def long_openai_stream() -> httpx2.Response:
    events = r.openai_chat_stream_events(with_usage=True)
    reply = r.sse(events[:1] * 200 + events[-1:], done=True)
    reply.headers["x-request-id"] = "req_long"
    return reply


def long_anthropic_stream() -> httpx2.Response:
    events = r.anthropic_stream_events()
    return r.sse(events[:2] + events[2:3] * 200 + events[-3:])


def long_gemini_stream() -> httpx2.Response:
    first, running, final = r.gemini_stream_bodies()
    return r.sse([(None, first)] + [(None, running)] * 200 + [(None, final)])


STREAMS: dict[str, tuple[ModuleType, Callable[[], Any], Callable[[Any], Any], int]] = {
    # the usage chunk, among 200 text chunks; then, at the end, the last chunk passed
    # unread (each chunk names the model and id: once a process has seen a chat chunk, a
    # stream reads none before its usage)
    "openai": (
        openai, lambda: r.openai_client(r.Replies(long_openai_stream())),
        lambda c: list(c.chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                                 stream=True)),
        2,
    ),
    # message_start and the usage delta: once a process has seen an event class that
    # carries neither (a text delta, a block's start or stop), its events pass unread
    "anthropic": (
        anthropic, lambda: r.anthropic_client(r.Replies(long_anthropic_stream())),
        lambda c: list(c.messages.create(model="claude-opus-4-5", max_tokens=10,
                                         messages=MESSAGES, stream=True)),
        2,
    ),
    # the first chunk (the model and response id), then only the last, with the totals
    "gemini": (
        gemini, lambda: r.gemini_client(r.Replies(long_gemini_stream())),
        lambda c: list(c.models.generate_content_stream(model="gemini-2.5-pro",
                                                        contents="Hi")),
        2,
    ),
}  # fmt: skip


@pytest.mark.parametrize("provider", list(STREAMS))
def test_a_long_stream_reads_only_the_chunks_that_can_carry_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    reader, client, call, read = STREAMS[provider]
    fed: list[Any] = []
    feed = reader.StreamUsage.feed

    def counted(self: Any, item: Any) -> bool:
        fed.append(item)
        return bool(feed(self, item))

    monkeypatch.setattr(reader.StreamUsage, "feed", counted)
    tracker = TokenTracker(tmp_path)
    call(tracker.instrument(client()))  # the process's first stream may teach it classes
    fed.clear()
    chunks = call(tracker.instrument(client()))
    assert tracker.close() is True
    assert len(fed) == read
    line = read_lines(tmp_path)[-1]
    if provider == "openai":
        assert len(chunks) == 200  # the usage chunk asked for is kept from the user
        assert (line["prompt_tokens"], line["completion_tokens"]) == (50, 7)
        assert (line["request_id"], line["response_model"]) == (
            "req_long",
            "gpt-4o-mini-2024-07-18",
        )
    elif provider == "anthropic":
        assert len(chunks) == 205
        assert (line["prompt_tokens"], line["completion_tokens"]) == (2600, 300)
        assert (line["cached_tokens"], line["cache_write_tokens"]) == (2000, 500)
        assert line["reasoning_tokens"] == 120
        assert line["success"] is True
    else:
        assert len(chunks) == 202
        # 1,000 prompt + 50 tool-use input; 200 answer + 100 thinking: the last chunk's totals
        assert (line["prompt_tokens"], line["completion_tokens"]) == (1050, 300)
        assert (line["cached_tokens"], line["reasoning_tokens"]) == (400, 100)
        assert (line["request_id"], line["success"]) == ("resp-gem-1", True)


def test_a_gemini_stream_left_early_logs_the_running_totals_of_its_last_chunk(
    tmp_path: Path,
) -> None:
    """Its chunks after the first pass unread, so the totals come from the last one the
    user received, read when the stream is closed."""
    tracker = TokenTracker(tmp_path)
    client = tracker.instrument(r.gemini_client(r.Replies(long_gemini_stream())))
    stream = client.models.generate_content_stream(model="gemini-2.5-pro", contents="Hi")
    for i, _ in enumerate(stream):
        if i == 100:
            break
    stream.close()
    assert tracker.close() is True
    (line,) = read_lines(tmp_path)
    # the running totals: 1,000 prompt + 50 tool-use input; 120 answer + 100 thinking
    assert (line["prompt_tokens"], line["completion_tokens"]) == (1050, 220)
    assert (line["cached_tokens"], line["reasoning_tokens"]) == (400, 100)
    assert line["success"] is False
    assert line["error_message"] == ABANDONED


def test_an_openai_stream_left_before_any_chunk_was_read_still_names_its_request(
    tmp_path: Path,
) -> None:
    """Once a process has seen a chat chunk, a stream reads none before its usage: left
    early, or broken by an error, it is named by the last chunk it passed (each carries the
    served model and id), read when it ends."""
    tracker = TokenTracker(tmp_path)
    streams = [long_openai_stream() for _ in range(3)]
    client = tracker.instrument(r.openai_client(r.Replies(*streams)))
    args: dict[str, Any] = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
    list(client.chat.completions.create(**args))  # teaches the process the chunk's class
    left = client.chat.completions.create(**args)
    for i, _ in enumerate(left):
        if i == 5:
            break
    left.close()
    broken = client.chat.completions.create(**args)
    with pytest.raises(KeyError):
        for _chunk in broken:
            raise KeyError("the user's own code failed")
    del broken  # dropped: logged as it is collected
    assert tracker.close() is True
    whole, *cut = read_lines(tmp_path)
    assert whole["success"] is True and whole["prompt_tokens"] > 0
    for line in cut:
        assert (line["model"], line["response_model"]) == ("gpt-4o", whole["response_model"])
        assert line["request_id"] == whole["request_id"] is not None
        assert line["success"] is False and line["prompt_tokens"] == 0
    assert [line["error_message"] for line in cut] == [
        "stream closed before usage was reported: token counts unknown"
    ] * 2


SAME_STREAMS: dict[str, tuple[ModuleType, Callable[[], Any], Callable[[Any], Any]]] = {
    **{name: (reader, client, call) for name, (reader, client, call, _) in STREAMS.items()},
    "openai responses": (
        openai, lambda: r.openai_client(r.Replies(r.openai_responses_stream())),
        lambda c: list(c.responses.create(model="o3", input="Hi", stream=True)),
    ),
}  # fmt: skip


@pytest.mark.parametrize("provider", list(SAME_STREAMS))
def test_a_stream_writes_the_same_line_by_either_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    """A stream whose usage is of the common shape is logged from its folder's ``fields``
    (no ``Usage``); the line is the one ``result`` would have written."""
    reader, client, call = SAME_STREAMS[provider]
    result = reader.StreamUsage.result
    general: list[Any] = []

    def counted(self: Any) -> Any:
        general.append(self)
        return result(self)

    monkeypatch.setattr(reader.StreamUsage, "result", counted)
    fast = line_of(tmp_path, "fast", client(), call)
    assert general == []  # the common stream never reached result()
    monkeypatch.setattr(reader.StreamUsage, "fields", lambda self: None)
    slow = line_of(tmp_path, "general", client(), call)
    assert len(general) == 1
    assert fast == slow
    assert fast["prompt_tokens"] > 0 and fast["success"] is True
    assert fast["request_id"] is not None


def test_a_stream_that_fails_midway_is_left_to_result(tmp_path: Path) -> None:
    """An error event makes the stream a failure: no fields, ``result`` says why."""
    tracker = TokenTracker(tmp_path)
    client = tracker.instrument(r.anthropic_client(r.Replies(r.anthropic_stream(error=True))))
    stream = client.messages.create(
        model="claude-opus-4-5", max_tokens=10, messages=MESSAGES, stream=True
    )
    with pytest.raises(Exception, match="overloaded_error"):
        list(stream)
    assert tracker.close() is True
    (line,) = read_lines(tmp_path)
    assert line["success"] is False and "overloaded" in line["error_message"]
