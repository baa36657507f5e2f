"""The provider is the endpoint's, not the SDK's: one ``openai`` SDK, many bills.

Real SDK clients pointed at each provider's base URL (the transport is a mock: nothing
leaves the machine) log their calls under the provider that host belongs to, failures
included; reports price them at that provider's rates, and a local or private endpoint
(vLLM, Ollama) is ``self-hosted``, priced only by the user's own price file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from asynctokens.summary import Query, breakdown
from tests.conftest import read_lines
from tests.sdk_replies import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    Replies,
    anthropic_message,
    openai_chat,
    openai_rate_limited,
)

MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("base_url", "api_type"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://api.groq.com/openai/v1", "groq"),
        ("https://api.deepseek.com", "deepseek"),
        ("https://api.together.xyz/v1", "together"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://api.mistral.ai/v1", "mistral"),
        ("https://api.x.ai/v1", "xai"),
        ("https://api.fireworks.ai/inference/v1", "fireworks"),
        ("https://my-team.openai.azure.com/openai/v1", "azure"),
        ("https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/l/endpoints/openapi",
         "vertex"),
        ("http://localhost:8000/v1", "self-hosted"),
        ("http://127.0.0.1:11434/v1", "self-hosted"),
        ("http://10.1.2.3:8000/v1", "self-hosted"),
        ("http://vllm:8000/v1", "self-hosted"),
        ("http://gpu-box.internal:8000/v1", "self-hosted"),
        ("https://llm.example.com/v1", "llm.example.com"),
    ],
)  # fmt: skip
def test_openai_sdk_calls_are_logged_under_the_endpoints_provider(
    make_tracker: Any, log_dir: Path, base_url: str, api_type: str
) -> None:
    tracker = make_tracker()
    replies = Replies(openai_chat(), openai_rate_limited())
    client = tracker.instrument(
        openai.OpenAI(
            api_key=OPENAI_KEY,
            base_url=base_url,
            http_client=replies.sync_client(),
            max_retries=0,
        )
    )
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    tracker.close()
    assert [(line["api_type"], line["success"]) for line in read_lines(log_dir)] == [
        (api_type, True),
        (api_type, False),
    ]


def test_azure_client_and_copies_of_a_groq_client(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    replies = Replies(openai_chat(), openai_chat())
    azure = openai.AzureOpenAI(
        api_key=OPENAI_KEY,
        api_version="2025-04-01-preview",
        azure_endpoint="https://my-team.openai.azure.com",
        http_client=replies.sync_client(),
        max_retries=0,
    )
    tracker.instrument(azure).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    anthropic_replies = Replies(anthropic_message())
    on_vertex = anthropic.Anthropic(
        api_key=ANTHROPIC_KEY,
        base_url="https://us-east5-aiplatform.googleapis.com/v1",
        http_client=anthropic_replies.sync_client(),
        max_retries=0,
    )
    tracker.instrument(on_vertex).messages.create(
        model="claude-opus-4-5", max_tokens=10, messages=MESSAGES
    )
    tracker.close()
    assert [line["api_type"] for line in read_lines(log_dir)] == ["azure", "vertex"]


def test_reports_price_each_call_at_its_providers_rates(tmp_path: Path) -> None:
    """gpt-oss-120b on Groq is priced at Groq's rates; on one's own vLLM it is unpriced
    (no provider bills it), unless a price file of the user's says what it costs."""
    from asynctokens import TokenTracker

    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir=log_dir)
    tracker.log(1_000_000, 1_000_000, "groq", "openai/gpt-oss-120b")
    tracker.log(1_000_000, 1_000_000, "self-hosted", "openai/gpt-oss-120b")
    tracker.close()
    rows = breakdown(Query(log_dir=log_dir), "api")["rows"]
    assert rows["groq"]["cost_usd"] > 0 and rows["groq"]["unpriced_tokens"] == 0
    assert rows["self-hosted"]["cost_usd"] == 0
    assert rows["self-hosted"]["unpriced_tokens"] == 2_000_000
    prices = tmp_path / "mine.json"
    prices.write_text(json.dumps({"openai/gpt-oss-120b": {
        "input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7,
        "litellm_provider": "self-hosted"}}))  # fmt: skip
    from asynctokens.pricing import load_prices

    priced = breakdown(Query(log_dir=log_dir, prices=load_prices([prices])), "api")["rows"]
    assert priced["self-hosted"]["cost_usd"] == pytest.approx(0.3)
    assert priced["self-hosted"]["unpriced_tokens"] == 0


@pytest.mark.parametrize(
    ("base_url", "usage", "api_type"),
    [
        ("https://api.deepseek.com", {"prompt_cache_hit_tokens": 800,
                                      "prompt_cache_miss_tokens": 200}, "deepseek"),
        ("https://api.moonshot.ai/v1", {"cached_tokens": 800}, "api.moonshot.ai"),
    ],
)  # fmt: skip
def test_cache_hits_a_compatible_server_reports_in_its_own_field_are_cached_tokens(
    make_tracker: Any, log_dir: Path, base_url: str, usage: dict[str, int], api_type: str
) -> None:
    """Cached input costs a tenth of fresh input: read as 0 it would overstate the bill.
    Whole and streamed replies alike (the stream's last chunk carries the usage)."""
    import httpx2

    counts = {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050, **usage}
    reply = openai_chat().json()
    reply["usage"] = {**counts, "completion_tokens_details": {"reasoning_tokens": 20}}
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m-1",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}],
    }
    stream = "".join(f"data: {json.dumps(c)}\n\n" for c in (
        chunk, {**chunk, "choices": [], "usage": counts})) + "data: [DONE]\n\n"  # fmt: skip
    replies = Replies(
        httpx2.Response(200, json=reply),
        httpx2.Response(
            200, content=stream.encode(), headers={"content-type": "text/event-stream"}
        ),
    )
    tracker = make_tracker()
    http = replies.sync_client()
    client = tracker.instrument(
        openai.OpenAI(api_key=OPENAI_KEY, base_url=base_url, http_client=http, max_retries=0)
    )
    client.chat.completions.create(model="m", messages=MESSAGES)
    for _chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
        pass
    tracker.close()
    assert [
        (line["api_type"], line["prompt_tokens"], line["cached_tokens"], line["reasoning_tokens"])
        for line in read_lines(log_dir)
    ] == [(api_type, 1000, 800, 20), (api_type, 1000, 800, 0)]


def _groq_stream() -> Any:
    """A Groq chat stream as Groq sends it: the usage in ``x_groq`` on the last chunk, beside
    the finish reason, and no usage-only chunk."""
    import httpx2

    chunk = {
        "id": "chatcmpl-g1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "llama-3.3-70b-versatile",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
        "x_groq": {"id": "req_01groq"},
    }
    last = {
        **chunk,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "x_groq": {"id": "req_01groq", "usage": {
            "queue_time": 0.02, "prompt_tokens": 40, "prompt_time": 0.003,
            "completion_tokens": 12, "completion_time": 0.01, "total_tokens": 52,
            "total_time": 0.013}},
    }  # fmt: skip
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in (chunk, chunk, last))
    return httpx2.Response(
        200,
        content=(body + "data: [DONE]\n\n").encode(),
        headers={"content-type": "text/event-stream", "x-request-id": "req_01groq"},
    )


async def test_a_groq_stream_is_counted_from_the_usage_groq_puts_on_its_last_chunk(
    make_tracker: Any, log_dir: Path
) -> None:
    """Read through the SDK's stream (sync and async) and at the transport alike."""
    tracker = make_tracker()
    replies = Replies(_groq_stream, _groq_stream, _groq_stream)
    base_url = "https://api.groq.com/openai/v1"
    client = tracker.instrument(
        openai.OpenAI(
            api_key=OPENAI_KEY, base_url=base_url, http_client=replies.sync_client(), max_retries=0
        )
    )
    aclient = tracker.instrument(openai.AsyncOpenAI(
        api_key=OPENAI_KEY, base_url=base_url, http_client=replies.async_client(),
        max_retries=0))  # fmt: skip
    args: dict[str, Any] = {"model": "llama-3.3-70b-versatile", "messages": MESSAGES}
    stream = client.chat.completions.create(**args, stream=True)
    texts = [chunk.choices[0].delta.content for chunk in stream]
    assert texts == ["Hi", "Hi", None]  # every chunk reaches the user, the last one too
    async for _chunk in await aclient.chat.completions.create(**args, stream=True):
        pass
    with client.chat.completions.with_streaming_response.create(**args, stream=True) as raw:
        for _line in raw.iter_lines():
            pass
    await tracker.aclose()
    assert [
        (line["api_type"], line["model"], line["prompt_tokens"], line["completion_tokens"],
         line["request_id"], line["success"])
        for line in read_lines(log_dir)
    ] == [("groq", "llama-3.3-70b-versatile", 40, 12, "req_01groq", True)] * 3  # fmt: skip
