"""OpenAI: Chat Completions, the Responses API and embeddings, whole or streamed.

What OpenAI reports already has the file format's meaning: ``prompt_tokens`` /
``input_tokens`` include cached input, ``completion_tokens`` / ``output_tokens`` include
reasoning. So nothing is added: the parts are only read from their ``*_details``. A chat
stream reports usage once, in a last chunk with no choices, and only when the request set
``stream_options={"include_usage": True}``; a Responses stream reports it in its
``response.completed`` (or ``.incomplete`` / ``.failed``) event.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from asynctokens.integrations._usage import Usage, count, error_text, get, header, text

API_TYPE: Final = "openai"
_FINAL_EVENTS: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})


def is_openai(obj: Any) -> bool:
    """True for a dict in OpenAI's shape: its ``object`` field names the kind of reply."""
    kind = get(obj, "object")
    if kind in ("chat.completion", "chat.completion.chunk", "list", "response"):
        return True
    event = get(obj, "type")
    return isinstance(event, str) and (event.startswith("response.") or event == "error")


def usage_of(obj: Any) -> Usage | None:
    """The usage of one reply object, or None when it carries none (a chunk mid-stream)."""
    event = get(obj, "type")
    if isinstance(event, str) and event.startswith("response."):
        return usage_of(get(obj, "response")) if event in _FINAL_EVENTS else None
    if event == "error" and get(obj, "object") is None:
        return _error_event(obj)
    usage = get(obj, "usage")
    if usage is None:
        return None
    request_id = text(get(obj, "_request_id")) or text(get(obj, "id"))
    model = text(get(obj, "model"))
    if get(usage, "prompt_tokens") is not None:
        return _chat_usage(usage, model, request_id, get(obj, "object") == "list")
    if get(usage, "input_tokens") is not None:
        return _responses_usage(obj, usage, model, request_id)
    return None


def _chat_usage(usage: Any, model: str | None, request_id: str | None, embeddings: bool) -> Usage:
    prompt_details = get(usage, "prompt_tokens_details")
    completion_details = get(usage, "completion_tokens_details")
    return Usage(
        prompt_tokens=count(get(usage, "prompt_tokens")),
        completion_tokens=count(get(usage, "completion_tokens")),
        cached_tokens=count(get(prompt_details, "cached_tokens")),
        cache_write_tokens=count(get(prompt_details, "cache_write_tokens")),
        reasoning_tokens=count(get(completion_details, "reasoning_tokens")),
        api_type=API_TYPE,
        model=model,
        request_id=request_id,
        operation="embeddings" if embeddings else "chat",
    )


def _responses_usage(obj: Any, usage: Any, model: str | None, request_id: str | None) -> Usage:
    input_details = get(usage, "input_tokens_details")
    output_details = get(usage, "output_tokens_details")
    status = get(obj, "status")
    # "incomplete" (max_output_tokens reached, content filter) is billed and succeeded;
    # "failed" and "cancelled" are failures, with whatever the response used.
    failed = status in ("failed", "cancelled")
    error = get(obj, "error")
    message = error_text(None, get(error, "code") or status, get(error, "message"))
    return Usage(
        prompt_tokens=count(get(usage, "input_tokens")),
        completion_tokens=count(get(usage, "output_tokens")),
        cached_tokens=count(get(input_details, "cached_tokens")),
        cache_write_tokens=count(get(input_details, "cache_write_tokens")),
        reasoning_tokens=count(get(output_details, "reasoning_tokens")),
        api_type=API_TYPE,
        model=model,
        request_id=request_id,
        success=not failed,
        error_message=message if failed else None,
    )


def _error_event(event: Any) -> Usage:
    """An ``error`` event inside a Responses stream: the call failed."""
    return Usage(
        0,
        0,
        api_type=API_TYPE,
        success=False,
        error_message=error_text(None, get(event, "code"), get(event, "message")),
    )


def usage_of_error(exc: BaseException) -> Usage:
    """An ``openai`` exception as a failed call (the SDK puts the error object in ``body``)."""
    body = getattr(exc, "body", None)
    kind = (get(body, "code") or get(body, "type")) if isinstance(body, dict) else None
    message = get(body, "message") if isinstance(body, dict) else None
    return Usage(
        0,
        0,
        api_type=API_TYPE,
        request_id=text(getattr(exc, "request_id", None)),
        success=False,
        error_message=error_text(
            getattr(exc, "status_code", None),
            kind if isinstance(kind, str) else type(exc).__name__,
            message if isinstance(message, str) else getattr(exc, "message", str(exc)),
        ),
    )


class StreamUsage:
    """Usage of an OpenAI stream, fed one chunk or event at a time.

    ``feed`` returns True for the usage-only last chunk of a chat stream, so a caller that
    asked for usage on the user's behalf can keep that chunk from the user.
    """

    __slots__ = ("_model", "_request_id", "_usage")

    def __init__(self, stream: Any = None) -> None:
        self._usage: Usage | None = None
        self._model: str | None = None
        self._request_id = header(stream, "x-request-id")

    def feed(self, item: Any) -> bool:
        usage = get(item, "usage")
        if usage is not None and get(item, "object") == "chat.completion.chunk":
            self._usage = usage_of(item)
            return not get(item, "choices")
        event = get(item, "type")
        if event in _FINAL_EVENTS or event == "error":
            self._usage = usage_of(item)
        elif self._model is None:
            self._model = text(get(item, "model")) or text(get(get(item, "response"), "model"))
        return False

    def result(self) -> Usage | None:
        usage = self._usage
        if usage is None:
            return None
        if self._request_id is not None:
            # the header names the HTTP request; the chunk id only the completion
            return replace(usage, request_id=self._request_id, model=usage.model or self._model)
        return replace(usage, model=usage.model or self._model)
