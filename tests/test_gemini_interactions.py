"""Gemini's Interactions API through the real google-genai client on a mock transport: each
request logged once, at the transport, whole, streamed, in the background or failed.

The interaction below read 2,000 input tokens (500 cached) plus 100 of tool use and wrote
300 (120 of them thoughts): ``total_tokens`` 2,520 = 2,000 + 100 + 300 + 120, so the thoughts
were outside the output, and the line's completion is 420.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.conftest import event, logged
from tests.sdk_replies import Replies, arriving, gemini_client, sse

USAGE = {
    "total_input_tokens": 2000,
    "total_cached_tokens": 500,
    "total_tool_use_tokens": 100,
    "total_output_tokens": 300,
    "total_thought_tokens": 120,
    "total_tokens": 2520,
}
LINE = event(
    api_type="gemini",
    model="gemini-3-flash-preview",
    prompt_tokens=2100,
    completion_tokens=420,
    cached_tokens=500,
    reasoning_tokens=120,
    api_key_suffix="gk42",
    request_id="int-1",
)


def interaction(status: str = "completed", usage: dict[str, Any] | None = USAGE,
                **more: Any) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "id": "int-1",
        "object": "interaction",
        "status": status,
        "model": "gemini-3-flash-preview",
        "outputs": [{"type": "text", "text": "Hi"}],
        **more,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def reply(body: dict[str, Any]) -> httpx2.Response:
    return httpx2.Response(200, json=body)


def stream_reply() -> httpx2.Response:
    started = interaction("in_progress", None)
    delta = {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": "Hi"}}
    return arriving(
        sse(
            [
                (None, {"event_type": "interaction.created", "interaction": started}),
                (None, delta),
                (None, {"event_type": "interaction.completed", "interaction": interaction()}),
            ]
        )
    )


def test_a_created_interaction_is_one_line(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(reply(interaction()))))
    result = client.interactions.create(model="gemini-3-flash-preview", input="Hi")
    assert result.id == "int-1"
    assert logged(tracker, log_dir) == [LINE]


def test_a_thought_count_inside_the_output_is_not_added_twice(
    make_tracker: Any, log_dir: Path
) -> None:
    usage = dict(USAGE, total_output_tokens=420, total_tokens=2520)  # thoughts inside output
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(reply(interaction(usage=usage)))))
    client.interactions.create(model="gemini-3-flash-preview", input="Hi")
    assert logged(tracker, log_dir) == [LINE]


def test_a_raw_response_is_read_at_the_transport_too(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(reply(interaction()))))
    raw = client.interactions.with_raw_response.create(model="gemini-3-flash-preview", input="Hi")
    assert raw.parse().id == "int-1"
    assert logged(tracker, log_dir) == [LINE]


def test_a_streamed_interaction_is_one_line_read_as_it_passes(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(stream_reply())))
    events = [e.event_type for e in client.interactions.create(
        model="gemini-3-flash-preview", input="Hi", stream=True)]  # fmt: skip
    assert events == ["interaction.created", "step.delta", "interaction.completed"]
    assert logged(tracker, log_dir) == [LINE]


def test_the_async_client_logs_the_same(make_tracker: Any, log_dir: Path) -> None:
    """(asyncio only: the SDK's async client runs on asyncio's own thread helpers.)"""
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(reply(interaction()), stream_reply())))

    async def main() -> None:
        await client.aio.interactions.create(model="gemini-3-flash-preview", input="Hi")
        stream = await client.aio.interactions.create(
            model="gemini-3-flash-preview", input="Hi", stream=True
        )
        assert len([e async for e in stream]) == 3

    anyio.run(main)
    assert logged(tracker, log_dir) == [LINE, LINE]


def test_a_background_interaction_is_logged_once_when_it_finishes(
    make_tracker: Any, log_dir: Path
) -> None:
    replies = Replies(
        reply(interaction("in_progress", None)),  # create(background=True)
        reply(interaction("in_progress", None)),  # a poll: still running, nothing billed
        reply(interaction()),  # the finished job: billed
        reply(interaction()),  # fetched again: the same job, not counted twice
    )
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(replies))
    client.interactions.create(model="gemini-3-flash-preview", input="Hi", background=True)
    for _ in range(3):
        client.interactions.get("int-1")
    assert logged(tracker, log_dir) == [LINE]


def test_a_refused_interaction_is_a_failure_with_the_providers_reason(
    make_tracker: Any, log_dir: Path
) -> None:
    refused = httpx2.Response(429, json={"error": {
        "code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}})  # fmt: skip
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(refused)))
    with pytest.raises(Exception, match="Quota exceeded"):
        client.interactions.create(model="gemini-3-flash-preview", input="Hi")
    assert logged(tracker, log_dir) == [
        event(
            api_type="gemini",
            model="gemini-3-flash-preview",
            success=False,
            error_message="429 RESOURCE_EXHAUSTED: Quota exceeded",
            api_key_suffix="gk42",
        )
    ]


def test_an_agent_run_is_logged_under_the_agents_name(make_tracker: Any, log_dir: Path) -> None:
    body = interaction(agent="deep-research-pro-preview-12-2025")
    del body["model"]
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(reply(body))))
    client.interactions.create(agent="deep-research-pro-preview-12-2025", input="Hi")
    assert logged(tracker, log_dir) == [dict(LINE, model="deep-research-pro-preview-12-2025")]


def test_other_requests_of_the_client_are_not_read_at_the_transport(
    make_tracker: Any, log_dir: Path
) -> None:
    """The models namespace is logged by its wrappers; count_tokens bills nothing."""
    counted = httpx2.Response(200, json={"totalTokens": 31})
    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(counted)))
    assert client.models.count_tokens(model="gemini-2.5-pro", contents="Hi").total_tokens == 31
    assert logged(tracker, log_dir) == []
