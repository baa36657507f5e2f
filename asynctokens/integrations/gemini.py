"""Google GenAI (the Gemini API and Vertex AI): ``GenerateContentResponse``, whole or streamed.

Gemini reports thinking apart from the answer: ``candidates_token_count`` leaves out
``thoughts_token_count``, so ``completion_tokens`` is their sum. ``cached_content_token_count``
is already inside ``prompt_token_count``. ``tool_use_prompt_token_count`` (the results of
built-in tools such as search, fed back to the model) is input the model read and is billed
as input, so it is added to ``prompt_tokens``; then ``prompt_tokens + completion_tokens``
equals the response's ``total_token_count``.

Stream chunks carry running totals, so the last chunk whose counts are set is the usage of
the call (Vertex sends early chunks whose usage has every count unset); the SDK already adds
up the hops of an automatic continuation in the usage it hands out. The REST API's camelCase
JSON (``usageMetadata``, ``promptTokenCount``) reads the same as the SDK's snake_case.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from asynctokens.integrations._usage import Usage, count, error_text, get, text

API_TYPE: Final = "gemini"
_SNAKE: Final = (
    "prompt_token_count",
    "tool_use_prompt_token_count",
    "cached_content_token_count",
    "candidates_token_count",
    "thoughts_token_count",
    "total_token_count",
)
_CAMEL: Final = (
    "promptTokenCount",
    "toolUsePromptTokenCount",
    "cachedContentTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "totalTokenCount",
)


def is_gemini(obj: Any) -> bool:
    """True for a dict in the GenAI shape (it has ``usage_metadata`` or ``usageMetadata``)."""
    return type(obj) is dict and ("usage_metadata" in obj or "usageMetadata" in obj)


def _counts(obj: Any) -> tuple[Any, ...] | None:
    """The six counts of a response's usage, or None when none of them is set."""
    usage = get(obj, "usage_metadata")
    names = _SNAKE
    if usage is None:
        usage = get(obj, "usageMetadata")
        names = _CAMEL
        if usage is None:
            return None
    elif type(usage) is dict and not any(name in usage for name in _SNAKE):
        names = _CAMEL  # SDK-shaped keys outside, REST-shaped inside: read what is there
    values = tuple(get(usage, name) for name in names)
    if all(value is None for value in values):
        return None
    return values


def usage_of(obj: Any) -> Usage | None:
    """The usage of one response or chunk, or None when its counts are unset."""
    counts = _counts(obj)
    if counts is None:
        return None
    prompt, tool_use, cached, candidates, thoughts, _total = (count(v) for v in counts)
    return Usage(
        prompt_tokens=prompt + tool_use,
        completion_tokens=candidates + thoughts,
        cached_tokens=cached,
        reasoning_tokens=thoughts,
        api_type=API_TYPE,
        model=text(get(obj, "model_version")) or text(get(obj, "modelVersion")),
        request_id=text(get(obj, "response_id")) or text(get(obj, "responseId")),
    )


def usage_of_error(exc: BaseException) -> Usage:
    """A ``google.genai.errors.APIError`` as a failed call: ``429 RESOURCE_EXHAUSTED: ...``."""
    status = getattr(exc, "status", None)
    message = getattr(exc, "message", None)
    return Usage(
        0,
        0,
        api_type=API_TYPE,
        success=False,
        error_message=error_text(
            getattr(exc, "code", None),
            status if isinstance(status, str) else type(exc).__name__,
            message if isinstance(message, str) else str(exc),
        ),
    )


class StreamUsage:
    """Usage of a GenAI stream: the last chunk whose counts are set, never a sum."""

    __slots__ = ("_last", "_model", "_response_id")

    def __init__(self, stream: Any = None) -> None:
        self._last: Usage | None = None
        self._model: str | None = None
        self._response_id: str | None = None

    def feed(self, item: Any) -> bool:
        usage = usage_of(item)
        if usage is not None:
            self._last = usage
        if self._model is None:
            self._model = text(get(item, "model_version")) or text(get(item, "modelVersion"))
        if self._response_id is None:
            self._response_id = text(get(item, "response_id")) or text(get(item, "responseId"))
        return False

    def result(self) -> Usage | None:
        last = self._last
        if last is None or (last.model and last.request_id):
            return last
        return replace(
            last, model=last.model or self._model, request_id=last.request_id or self._response_id
        )
