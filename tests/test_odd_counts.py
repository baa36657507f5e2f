"""Replies whose counts break the file format's rules are logged, adjusted and flagged.

A billed request is never dropped: OpenAI-compatible servers that report reasoning outside
completion, cached input outside prompt, or counts as floats or strings are read with the
SDKs' own clients on a mock transport and logged with the rule that brought them into the
contract in ``metadata["asynctokens.adjustments"]`` and a ``UsageAdjustedWarning``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from asynctokens import UsageAdjustedWarning, usage_from
from tests import sdk_replies as r
from tests.conftest import event, logged, read_lines
from tests.sdk_replies import (
    Replies,
    anthropic_client,
    openai_client,
)

MESSAGES = [{"role": "user", "content": "Hi"}]
KEY = "asynctokens.adjustments"


def chat_reply(usage: dict[str, Any], model: str = "qwen3-32b") -> httpx2.Response:
    return httpx2.Response(
        200,
        headers={"x-request-id": "req_odd"},
        json={
            "id": "chatcmpl-odd",
            "object": "chat.completion",
            "created": 1763900000,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hi"},
                 "finish_reason": "stop"}
            ],
            "usage": usage,
        },
    )  # fmt: skip


def odd_line(prompt: int, completion: int, adjustments: list[str], **more: Any) -> dict[str, Any]:
    return event(
        api_type="openai",
        model="qwen3-32b",
        prompt_tokens=prompt,
        completion_tokens=completion,
        api_key_suffix="abcd",
        request_id="req_odd",
        metadata={KEY: adjustments},
        **more,
    )


def test_reasoning_reported_outside_completion_is_added_to_it(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    usage = {"prompt_tokens": 50, "completion_tokens": 100, "total_tokens": 150,
             "completion_tokens_details": {"reasoning_tokens": 400}}  # fmt: skip
    client = tracker.instrument(openai_client(Replies(chat_reply(usage))))
    with pytest.warns(UsageAdjustedWarning, match=r"openai reply \(qwen3-32b\).*reasoning_tokens"):
        client.chat.completions.create(model="qwen3-32b", messages=MESSAGES)
    note = "reasoning_tokens (400) reported outside completion_tokens (100): added to it"
    assert logged(tracker, log_dir) == [odd_line(50, 500, [note], reasoning_tokens=400)]


def test_cached_input_reported_outside_prompt_is_added_to_it(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
             "prompt_tokens_details": {"cached_tokens": 1024}}  # fmt: skip
    client = tracker.instrument(openai_client(Replies(chat_reply(usage))))
    with pytest.warns(UsageAdjustedWarning):
        client.chat.completions.create(model="qwen3-32b", messages=MESSAGES)
    note = (
        "cached_tokens (1024) and cache_write_tokens (0) reported outside prompt_tokens (100):"
        " added to it"
    )
    assert logged(tracker, log_dir) == [odd_line(1124, 10, [note], cached_tokens=1024)]


def test_unreadable_counts_are_marked_and_the_reply_still_logged(
    make_tracker: Any, log_dir: Path
) -> None:
    """The SDK reads ``1200.0`` and ``"300"`` as ints itself; what nobody can read is logged
    as unknown (0, flagged), with the rest of the reply."""
    tracker = make_tracker()
    first = {"prompt_tokens": 1200.0, "completion_tokens": "300", "total_tokens": 1500}
    second = {"prompt_tokens": 80, "completion_tokens": "n/a",
              "completion_tokens_details": {"reasoning_tokens": -3}}  # fmt: skip
    client = tracker.instrument(openai_client(Replies(chat_reply(first), chat_reply(second))))
    client.chat.completions.create(model="qwen3-32b", messages=MESSAGES)
    with pytest.warns(UsageAdjustedWarning):
        client.chat.completions.create(model="qwen3-32b", messages=MESSAGES)
    plain = odd_line(1200, 300, [])
    plain["metadata"] = {}
    unreadable = odd_line(
        80,
        0,
        [
            "completion_tokens 'n/a' unreadable: unknown, counted as 0",
            "reasoning_tokens -3 unreadable: unknown, counted as 0",
        ],
    )
    # read as 12.0 or "300", a count is known; unreadable, the line's counts are not
    assert logged(tracker, log_dir) == [plain, {**unreadable, "counts_unknown": True}]
    assert "counts_unknown" not in plain


@pytest.mark.parametrize(
    ("reply", "expected", "notes"),
    [
        (
            {"object": "chat.completion", "model": "m",
             "usage": {"prompt_tokens": 1200.0, "completion_tokens": " 300 "}},
            (1200, 300, 0),
            ["prompt_tokens 1200.0 read as 1200", "completion_tokens ' 300 ' read as 300"],
        ),
        (
            {"type": "message", "model": "claude-sonnet-4-5",
             "usage": {"input_tokens": "100", "output_tokens": 20,
                       "cache_read_input_tokens": 2000.0}},
            (2100, 20, 2000),
            ["input_tokens '100' read as 100", "cache_read_input_tokens 2000.0 read as 2000"],
        ),
        (
            {"modelVersion": "gemini-2.5-pro",
             "usageMetadata": {"promptTokenCount": 1000.0, "candidatesTokenCount": True}},
            (1000, 0, 0),
            ["promptTokenCount 1000.0 read as 1000",
             "candidatesTokenCount True unreadable: unknown, counted as 0"],
        ),
    ],
)  # fmt: skip
def test_rest_json_counts_as_floats_or_strings_are_read_and_flagged(
    reply: dict[str, Any], expected: tuple[int, int, int], notes: list[str]
) -> None:
    usage = usage_from(reply)
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == expected
    assert list(usage.adjustments) == notes
    assert usage.counts_unknown is any("unreadable" in note for note in notes)


def test_log_response_and_usage_from_never_raise_on_odd_counts(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    reply = openai_client(Replies(chat_reply({"prompt_tokens": "12", "completion_tokens": 2.5})))
    answer = reply.chat.completions.create(model="qwen3-32b", messages=MESSAGES)
    usage = usage_from(answer)
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 0)
    assert usage.adjustments == (
        "prompt_tokens '12' read as 12",
        "completion_tokens 2.5 unreadable: unknown, counted as 0",
    )
    assert usage.counts_unknown is True
    with pytest.warns(UsageAdjustedWarning):
        assert tracker.log_response(answer, api_key="sk-test-0000000000000000abcd") == usage
    tracker.close()
    (line,) = read_lines(log_dir)
    assert (line["prompt_tokens"], line["completion_tokens"]) == (12, 0)
    assert line["metadata"] == {KEY: list(usage.adjustments)}
    assert line["counts_unknown"] is True


def test_anthropic_unreadable_count_through_the_sdk(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    reply = httpx2.Response(
        200,
        json={
            "id": "msg_odd", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": "twenty",
                      "cache_read_input_tokens": 2000},
        },
    )  # fmt: skip
    client = tracker.instrument(anthropic_client(Replies(reply)))
    with pytest.warns(UsageAdjustedWarning, match="anthropic"):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MESSAGES)
    (line,) = logged(tracker, log_dir)
    assert (line["prompt_tokens"], line["cached_tokens"], line["completion_tokens"]) == (
        2100,
        2000,
        0,
    )
    assert line["metadata"] == {KEY: ["output_tokens 'twenty' unreadable: unknown, counted as 0"]}


def test_the_service_tier_a_reply_reports_is_kept_in_the_line(
    make_tracker: Any, log_dir: Path
) -> None:
    """OpenAI's ``service_tier`` (flex, priority, scale: other prices) and Anthropic's
    ``usage.service_tier`` (priority, batch), from real SDK objects, plain and streamed, go in
    the line's ``service_tier`` as the reply says them (pricing and reports read them)."""
    flex = r.openai_chat()
    body = json.loads(flex.content)
    flex = httpx2.Response(200, headers=flex.headers, json={**body, "service_tier": "flex"})
    default = httpx2.Response(200, headers=flex.headers, json={**body, "service_tier": "default"})
    chunks = r.openai_chat_stream_events(with_usage=True)
    chunks = [(name, {**chunk, "service_tier": "priority"}) for name, chunk in chunks]
    priority_stream = r.sse(chunks, done=True)
    message = json.loads(r.anthropic_message().content)
    message["usage"] = {**message["usage"], "service_tier": "priority"}
    events = r.anthropic_stream_events()
    start = events[0][1]["message"]
    start["usage"] = {**start["usage"], "service_tier": "batch"}
    tracker = make_tracker()
    openai = tracker.instrument(r.openai_client(r.Replies(flex, default, priority_stream)))
    claude = tracker.instrument(
        r.anthropic_client(r.Replies(httpx2.Response(200, json=message), r.sse(events)))
    )
    for _ in range(2):
        openai.chat.completions.create(model="gpt-4o", messages=[])
    list(openai.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True))
    claude.messages.create(model="claude-opus-4-5", max_tokens=10, messages=[])
    list(claude.messages.create(model="claude-opus-4-5", max_tokens=10, messages=[],
                                stream=True))  # fmt: skip
    tiers = [line.get("service_tier") for line in logged(tracker, log_dir)]
    assert tiers == ["flex", "default", "priority", "priority", "batch"]
