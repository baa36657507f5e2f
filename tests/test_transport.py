"""Requests an instrumented client sends that no method wrapper logs, read at its transport.

The raw and streaming-response variants (``with_raw_response``, ``with_streaming_response``)
and calls of methods without a wrapper (here the SDK's generic ``client.post``) are logged
from the bytes that pass through the client's httpx2 transport: one line per request, with
its own usage, status and request id, and never a second line for a request a method wrapper
logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from asynctokens import UsageMissingWarning
from tests.conftest import event, logged
from tests.sdk_replies import (
    Replies,
    anthropic_client,
    anthropic_message,
    anthropic_stream,
    arriving,
    compressed,
    openai_chat,
    openai_chat_stream,
    openai_client,
    openai_rate_limited,
)

MESSAGES = [{"role": "user", "content": "Hi"}]
# the model asked for is read from the request, the served one from the reply
CHAT = event(api_type="openai", model="gpt-4o", response_model="gpt-4o-2024-08-06",
             prompt_tokens=1200, completion_tokens=300, cached_tokens=1024,
             reasoning_tokens=128, api_key_suffix="abcd", request_id="req_chat_1")  # fmt: skip
STREAM = event(api_type="openai", model="gpt-4o-mini", response_model="gpt-4o-mini-2024-07-18",
               prompt_tokens=50, completion_tokens=7, api_key_suffix="abcd",
               request_id="req_stream_1")  # fmt: skip
CLAUDE = event(api_type="anthropic", model="claude-opus-4-5",
               response_model="claude-opus-4-5-20251101", prompt_tokens=2600,
               completion_tokens=300, cached_tokens=2000, cache_write_tokens=500,
               reasoning_tokens=120, api_key_suffix="wxyz")  # fmt: skip
INCLUDE_USAGE = {"include_usage": True}


def test_raw_and_streaming_response_variants_are_logged_once_each(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(
        openai_chat(), arriving(openai_chat_stream()), arriving(openai_chat())
    )))  # fmt: skip
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.headers["x-request-id"] == "req_chat_1"
    assert raw.parse().usage.prompt_tokens == 1200
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=INCLUDE_USAGE
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and len(lines) == 5
    # a plain call after them: logged by its method wrapper, not again at the transport
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert logged(tracker, log_dir) == [CHAT, STREAM, CHAT]


async def test_async_raw_variants_are_logged_too(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    replies = Replies(arriving(openai_chat()), arriving(openai_chat_stream()))
    client = tracker.instrument(openai_client(replies, asynchronous=True))
    raw = await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    raw.parse()
    async with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=INCLUDE_USAGE
    ) as response:
        assert len([line async for line in response.iter_lines() if line]) == 5
    assert logged(tracker, log_dir) == [CHAT, STREAM]


def test_a_method_without_a_wrapper_is_logged_from_its_reply(
    make_tracker: Any, log_dir: Path
) -> None:
    """The SDK's generic ``post`` (as any method a new SDK release adds): the reply's usage
    is read from its JSON, the model asked for from the request."""
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(arriving(openai_chat()))))
    reply = client.post("/chat/completions", body={"model": "gpt-4o", "messages": MESSAGES},
                        cast_to=object)  # fmt: skip
    assert reply["usage"]["total_tokens"] == 1500
    assert logged(tracker, log_dir) == [CHAT]


def test_a_failed_raw_request_is_a_failure_with_its_status_and_message(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(arriving(openai_rate_limited()))))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert logged(tracker, log_dir) == [
        event(api_type="openai", model="gpt-4o", success=False, api_key_suffix="abcd",
              request_id="req_429",
              error_message="429 insufficient_quota: You exceeded your current quota.")
    ]  # fmt: skip


def test_a_streaming_response_closed_early_is_abandoned_and_not_read_on(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(arriving(openai_chat_stream()))))
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=INCLUDE_USAGE
    ) as response:
        first = next(response.iter_lines())
    assert first.startswith("data: ")
    assert logged(tracker, log_dir) == [
        event(api_type="openai", model="gpt-4o-mini", response_model="gpt-4o-mini-2024-07-18",
              success=False, api_key_suffix="abcd", request_id="req_stream_1",
              error_message="stream closed before usage was reported: token counts unknown",
              counts_unknown=True)
    ]  # fmt: skip


def test_anthropic_raw_variants_are_logged_once_each(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    client = tracker.instrument(
        anthropic_client(Replies(arriving(anthropic_message()), arriving(anthropic_stream())))
    )
    args: dict[str, Any] = {"model": "claude-opus-4-5", "max_tokens": 10, "messages": MESSAGES}
    client.messages.with_raw_response.create(**args).parse()
    with client.messages.with_streaming_response.create(**args, stream=True) as response:
        for _line in response.iter_lines():
            pass
    assert logged(tracker, log_dir) == [
        {**CLAUDE, "request_id": "req_ant_1"},
        {**CLAUDE, "request_id": "req_ant_stream"},
    ]


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_a_stream_is_read_whatever_pieces_and_line_ends_it_arrives_in(
    make_tracker: Any, log_dir: Path, size: int
) -> None:
    """CRLF line ends, and pieces down to one byte (a CR and its LF apart): the same line."""
    import httpx2

    body = anthropic_stream().content.replace(b"\n", b"\r\n")
    reply = httpx2.Response(200, headers={"content-type": "text/event-stream",
                                          "request-id": "req_crlf"}, content=body)  # fmt: skip
    tracker = make_tracker()
    client = tracker.instrument(anthropic_client(Replies(arriving(reply, size))))
    args: dict[str, Any] = {"model": "claude-opus-4-5", "max_tokens": 10, "messages": MESSAGES}
    with client.messages.with_streaming_response.create(**args, stream=True) as response:
        for _line in response.iter_lines():
            pass
    assert logged(tracker, log_dir) == [{**CLAUDE, "request_id": "req_crlf"}]


def test_a_raw_chat_stream_without_usage_is_said_and_logged_with_its_counts_unknown(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(arriving(openai_chat_stream(
        with_usage=False)))))  # fmt: skip
    with (
        pytest.warns(UsageMissingWarning, match="logged with its counts unknown"),
        client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as response,
    ):
        assert len([line for line in response.iter_lines() if line]) == 4
    assert logged(tracker, log_dir) == [
        event(api_type="openai", model="gpt-4o-mini", response_model="gpt-4o-mini-2024-07-18",
              api_key_suffix="abcd", request_id="req_stream_1", counts_unknown=True)
    ]  # fmt: skip


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compressed_replies_are_read_as_the_client_reads_them(
    make_tracker: Any, log_dir: Path, coding: str
) -> None:
    """Providers compress what they send a client that accepts it (httpx2 asks for gzip and
    deflate): the usage is read from the decoded bytes, and the client's own copy of the
    body still decodes (the two decoders share no state)."""
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(
        compressed(openai_chat(), coding), compressed(openai_rate_limited(), coding, size=3)
    )))  # fmt: skip
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.parse().usage.prompt_tokens == 1200
    with pytest.raises(openai.RateLimitError, match="exceeded your current quota"):
        client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    claude = tracker.instrument(anthropic_client(Replies(compressed(anthropic_stream(), coding))))
    args: dict[str, Any] = {"model": "claude-opus-4-5", "max_tokens": 10, "messages": MESSAGES}
    with claude.messages.with_streaming_response.create(**args, stream=True) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[0] == "event: message_start"
    assert logged(tracker, log_dir) == [
        CHAT,
        event(api_type="openai", model="gpt-4o", success=False, api_key_suffix="abcd",
              request_id="req_429",
              error_message="429 insufficient_quota: You exceeded your current quota."),
        {**CLAUDE, "request_id": "req_ant_stream"},
    ]  # fmt: skip


def test_one_http_client_shared_by_two_providers_reads_each_request_its_own_way(
    make_tracker: Any, log_dir: Path
) -> None:
    """An application may hand one httpx2 client (its connection pool) to an OpenAI and an
    Anthropic client: each request is read as the SDK client that sent it, by its base URL."""
    import anthropic

    from tests.sdk_replies import ANTHROPIC_KEY, OPENAI_KEY

    replies = Replies(arriving(anthropic_message()), arriving(openai_chat()))
    http = replies.sync_client()
    tracker = make_tracker()
    gpt = tracker.instrument(openai.OpenAI(api_key=OPENAI_KEY, http_client=http, max_retries=0))
    claude = tracker.instrument(
        anthropic.Anthropic(api_key=ANTHROPIC_KEY, http_client=http, max_retries=0)
    )
    args: dict[str, Any] = {"model": "claude-opus-4-5", "max_tokens": 10, "messages": MESSAGES}
    claude.messages.with_raw_response.create(**args).parse()
    gpt.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES).parse()
    assert logged(tracker, log_dir) == [{**CLAUDE, "request_id": "req_ant_1"}, CHAT]


def test_a_copy_with_its_own_key_is_billed_to_that_key(make_tracker: Any, log_dir: Path) -> None:
    """``with_options(api_key=...)`` shares the client's HTTP client: a request read at the
    transport takes the key it was sent with, not the first client's."""
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(arriving(openai_chat()),
                                                      arriving(openai_chat()))))  # fmt: skip
    other = client.with_options(api_key="sk-test-other-key-9999")
    other.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES).parse()
    other.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert logged(tracker, log_dir) == [{**CHAT, "api_key_suffix": "9999"}] * 2


def transcribed(tracker: Any, model: str, usage: dict[str, Any], request_id: str) -> str:
    """The text of one audio transcription (a multipart upload) on an instrumented client,
    answered with ``usage``."""
    import io

    import httpx2

    reply = httpx2.Response(200, json={"text": "hi there", "usage": usage},
                            headers={"x-request-id": request_id})  # fmt: skip
    client = tracker.instrument(openai_client(Replies(arriving(reply))))
    audio = io.BytesIO(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    audio.name = "hello.wav"
    return str(client.audio.transcriptions.create(model=model, file=audio).text)


def test_an_upload_is_logged_under_the_model_its_form_names(
    make_tracker: Any, log_dir: Path
) -> None:
    """An audio transcription (gpt-4o-transcribe bills tokens) is a multipart upload whose
    reply names no model: the model is the form's field (the file is not read again)."""
    usage = {"type": "tokens", "input_tokens": 14, "output_tokens": 45, "total_tokens": 59,
             "input_token_details": {"text_tokens": 0, "audio_tokens": 14}}  # fmt: skip
    tracker = make_tracker()
    assert transcribed(tracker, "gpt-4o-transcribe", usage, "req_tr")
    assert logged(tracker, log_dir) == [
        event(api_type="openai", model="gpt-4o-transcribe", prompt_tokens=14,
              completion_tokens=45, api_key_suffix="abcd", request_id="req_tr")
    ]  # fmt: skip


def test_a_transcription_billed_by_the_second_is_a_line_with_its_counts_unknown(
    make_tracker: Any, log_dir: Path
) -> None:
    """whisper-1 bills the seconds of audio, and its reply says so (``usage.type`` is
    ``duration``): a billed request, logged with no token counts to give and the reason in
    its adjustments, not dropped for want of tokens."""
    from asynctokens import UsageAdjustedWarning

    tracker = make_tracker()
    with pytest.warns(UsageAdjustedWarning, match="billed by the second"):
        assert transcribed(tracker, "whisper-1", {"type": "duration", "seconds": 12.5},
                           "req_whisper")  # fmt: skip
    note = "billed by the second (12.5 s of audio), not the token: unknown, counted as 0"
    assert logged(tracker, log_dir) == [
        event(api_type="openai", model="whisper-1", api_key_suffix="abcd",
              request_id="req_whisper", counts_unknown=True,
              metadata={"asynctokens.adjustments": [note]})
    ]  # fmt: skip


def test_a_reply_we_fail_to_read_is_said_and_the_call_goes_on(
    make_tracker: Any, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect in reading (here forced) never reaches the user's request: a raw call and a
    call the SDK retries both return their replies, and the loss is a RuntimeWarning."""
    from asynctokens.integrations import _reading
    from tests.test_retries import openai_error, openai_with_retries

    def broken(self: Any) -> bool:
        raise RuntimeError("a defect")

    monkeypatch.setattr(_reading.Reading, "read_already", broken)
    tracker = make_tracker()
    client = tracker.instrument(openai_with_retries(Replies(
        openai_chat(), openai_error(429, "req_a"), arriving(openai_chat())
    )))  # fmt: skip
    with pytest.warns(RuntimeWarning, match="could not read a request at the HTTP transport"):
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        assert raw.parse().usage.prompt_tokens == 1200
        retried = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert retried.usage.prompt_tokens == 1200
    assert logged(tracker, log_dir) == [CHAT]  # the retried call's own line


def test_a_streamed_transcription_bills_the_tokens_its_last_event_reports(
    make_tracker: Any, log_dir: Path
) -> None:
    """``audio.transcriptions.create(stream=True)``: text deltas, then ``transcript.text.done``
    with the usage; read at the transport, under the model the upload's form names."""
    import io

    from tests.sdk_replies import sse

    usage = {"type": "tokens", "input_tokens": 14, "output_tokens": 45, "total_tokens": 59,
             "input_token_details": {"text_tokens": 0, "audio_tokens": 14}}  # fmt: skip
    reply = sse([
        ("transcript.text.delta", {"type": "transcript.text.delta", "delta": "hi"}),
        ("transcript.text.done", {"type": "transcript.text.done", "text": "hi", "usage": usage}),
    ])  # fmt: skip
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(arriving(reply))))
    audio = io.BytesIO(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    audio.name = "hello.wav"
    events = client.audio.transcriptions.create(model="gpt-4o-transcribe", file=audio,
                                                stream=True)  # fmt: skip
    assert [e.type for e in events] == ["transcript.text.delta", "transcript.text.done"]
    assert logged(tracker, log_dir) == [
        event(api_type="openai", model="gpt-4o-transcribe", prompt_tokens=14,
              completion_tokens=45, api_key_suffix="abcd")
    ]  # fmt: skip


def test_speech_is_logged_from_its_sse_usage_and_as_audio_bytes_with_its_counts_unknown(
    make_tracker: Any, log_dir: Path
) -> None:
    """Text to speech bills its input: streamed as SSE (``stream_format="sse"``), its last
    event carries the usage; returned as audio bytes, the reply has no counts at all, so the
    request is a line marked ``counts_unknown`` under the model it asked for, and said."""
    import httpx2

    from tests.sdk_replies import sse

    usage = {"input_tokens": 12, "output_tokens": 240, "total_tokens": 252}
    streamed = sse([
        ("speech.audio.delta", {"type": "speech.audio.delta", "audio": "AAAA"}),
        ("speech.audio.done", {"type": "speech.audio.done", "usage": usage}),
    ])  # fmt: skip
    mp3 = b"ID3\x04\x00fake mp3 frames"
    audio = httpx2.Response(
        200, content=mp3, headers={"content-type": "audio/mpeg", "x-request-id": "req_tts"}
    )
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(arriving(streamed), arriving(audio))))
    args: dict[str, Any] = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": "Hi"}
    with client.audio.speech.with_streaming_response.create(**args, stream_format="sse") as r:
        assert len([line for line in r.iter_lines() if line]) == 4
    with pytest.warns(UsageMissingWarning, match="logged with its counts unknown"):
        assert client.audio.speech.create(**args).content == mp3
    tts = event(api_type="openai", model="gpt-4o-mini-tts", api_key_suffix="abcd")
    assert logged(tracker, log_dir) == [
        {**tts, "prompt_tokens": 12, "completion_tokens": 240, "total_tokens": 252},
        {**tts, "request_id": "req_tts", "counts_unknown": True},
    ]
