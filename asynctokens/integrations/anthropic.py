"""Anthropic: Messages, whole or as the raw events of a stream.

Anthropic's ``input_tokens`` is only the input that was neither read from nor written to the
prompt cache: the whole prompt is ``input_tokens + cache_read_input_tokens +
cache_creation_input_tokens``, and that sum is what ``prompt_tokens`` holds. ``output_tokens``
already includes thinking (``output_tokens_details.thinking_tokens`` is a part of it).

A stream starts with ``message_start`` (the input counts, a first output count) and each
``message_delta`` carries *cumulative* counts: a field it carries replaces the one before,
never adds to it. An ``error`` event mid-stream makes the call a failure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from asynctokens.integrations._usage import (
    _EMPTY as _NO_USAGE,
)
from asynctokens.integrations._usage import (
    Fields,
    Usage,
    count,
    error_text,
    failed,
    header,
    make_usage,
    only_value,
    request_id_of,
    sdk_error,
    text,
    view,
)
from asynctokens.record._event import TOKENS_LIMIT

API_TYPE: Final = "anthropic"
_EVENTS: Final = frozenset(
    {
        "message",
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "ping",
    }
)
#: The usage fields a stream accumulates (each event's replaces the last: cumulative).
_FIELDS: Final = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
    "cache_creation",  # the writes by how long they are kept: ephemeral_5m / _1h_input_tokens
)


#: The stream events a folder reads; every other carries no usage, error or model.
_READ: Final = frozenset({"message_start", "message_delta", "error"})


def is_anthropic(obj: dict[str, Any]) -> bool:
    """True for a dict in Anthropic's shape (its ``type`` names a message or stream event)."""
    kind = obj.get("type")
    return kind in _EVENTS or (kind == "error" and isinstance(obj.get("error"), dict))


def _usage(counts: Any, thinking: Any, model: str | None, request_id: str | None) -> Usage:
    notes: list[str] = []
    fresh, read, written, output = (
        count(counts.get("input_tokens"), "input_tokens", notes),
        count(counts.get("cache_read_input_tokens"), "cache_read_input_tokens", notes),
        count(counts.get("cache_creation_input_tokens"), "cache_creation_input_tokens", notes),
        count(counts.get("output_tokens"), "output_tokens", notes),
    )
    thought = count(thinking, "thinking_tokens", notes)
    # the writes by how long they are kept: 1-hour ones bill at 2x input, 5-minute at 1.25x
    one_hour = view(counts.get("cache_creation")).get("ephemeral_1h_input_tokens")
    return make_usage(
        fresh + read + written,
        output,
        read,
        written,
        thought,
        API_TYPE,
        model,
        request_id,
        notes=notes,
        service_tier=text(counts.get("service_tier")),
        cache_write_1h_tokens=count(one_hour, "ephemeral_1h_input_tokens", notes),
    )


def usage_of(obj: Any) -> Usage | None:
    """The usage of a ``Message`` (or a ``message_start`` event), or None."""
    v = view(obj)
    kind = v.get("type")
    if kind == "message_start":
        obj = v.get("message")
        v = view(obj)
    elif kind == "error":
        return _error_event(v)
    usage = view(v.get("usage"))
    if usage is _NO_USAGE:
        return None
    return _usage(
        usage,
        view(usage.get("output_tokens_details")).get("thinking_tokens"),
        text(v.get("model")),
        request_id_of(v),
    )


def fast_fields(obj: Any) -> Fields | None:
    """What ``usage_of`` reads from a whole ``Message`` as the SDK builds it, in one flat
    pass; None for any other object or shape (a field the SDK does not know, a count that is
    not a plain int, a part above its whole), which ``usage_of`` then reads. It runs on
    every reply of an instrumented client (tests/test_fast_fields.py holds it equal to
    ``usage_of``)."""
    try:
        if obj.__pydantic_extra__:
            return None
        v = obj.__dict__
        usage = v["usage"]
        if v["type"] != "message" or usage.__pydantic_extra__:
            return None
        u = usage.__dict__
        details = u.get("output_tokens_details")
        thought = 0
        if details is not None:
            if details.__pydantic_extra__:
                return None
            thought = details.__dict__["thinking_tokens"]
        model = v["model"]
    except (AttributeError, KeyError, TypeError):
        return None
    return _flat(u, thought, model if model.__class__ is str and model else None, request_id_of(v))


def _flat(
    u: dict[str, Any], thought: Any, model: str | None, request_id: str | None
) -> Fields | None:
    """The fields of a usage's counts (``u``: a ``Usage`` model's dict, or the counts a
    stream folded) and its thinking tokens, when every one is a plain int within its whole;
    else None."""
    try:
        fresh, read, written, output, tier, kept = (
            u["input_tokens"],
            u["cache_read_input_tokens"],
            u["cache_creation_input_tokens"],
            u["output_tokens"],
            u["service_tier"],
            u["cache_creation"],
        )
        one_hour = 0
        if kept is not None:
            if kept.__pydantic_extra__:
                return None
            one_hour = kept.__dict__["ephemeral_1h_input_tokens"]
    except (AttributeError, KeyError, TypeError):
        return None
    read = 0 if read is None else read
    written = 0 if written is None else written
    one_hour = 0 if one_hour is None else one_hour
    thought = 0 if thought is None else thought
    if not (
        fresh.__class__ is int
        and read.__class__ is int
        and written.__class__ is int
        and output.__class__ is int
        and one_hour.__class__ is int
        and thought.__class__ is int
        and 0 <= fresh < TOKENS_LIMIT
        and 0 <= read < TOKENS_LIMIT
        and 0 <= written < TOKENS_LIMIT
        and 0 <= output < TOKENS_LIMIT
        and 0 <= one_hour <= written
        and 0 <= thought <= output
    ):
        return None
    return (
        fresh + read + written,
        output,
        read,
        written,
        thought,
        model,
        request_id,
        tier if tier.__class__ is str and tier else None,
        one_hour,
    )


def _error_event(event: Any) -> Usage:
    error = view(view(event).get("error"))
    return failed(API_TYPE, error_text(None, error.get("type"), error.get("message")))


def unfinished(obj: Any) -> bool:
    """Never: every reply of this provider is billed as it comes."""
    return False


def finished_id(obj: Any) -> str | None:
    """None: no reply of this provider can be fetched again."""
    return None


def usage_of_error(exc: BaseException) -> Usage:
    """An ``anthropic`` exception as a failed call: ``429 rate_limit_error: ...``."""
    return sdk_error(API_TYPE, exc, getattr(exc, "type", None), getattr(exc, "api_message", None))


class StreamUsage:
    """Usage of an Anthropic stream, fed one raw event at a time."""

    __slots__ = ("_counts", "_error", "_id", "_model", "_request_id", "_started", "_thinking")

    def __init__(self, stream: Any = None) -> None:
        self._counts: dict[str, Any] = {}
        self._thinking: Any = None
        self._model: str | None = None
        self._id: str | None = None
        self._error: Usage | None = None
        self._started = False
        self._request_id = header(stream, "request-id")

    def feed(self, item: Any) -> bool:
        event = view(item)
        kind = event.get("type")
        if kind == "message_start":
            message = view(event.get("message"))
            usage = view(message.get("usage"))
            self._counts = {name: usage.get(name) for name in _FIELDS}
            self._counts["service_tier"] = usage.get("service_tier")  # said once, at the start
            self._thinking = view(usage.get("output_tokens_details")).get("thinking_tokens")
            self._model = text(message.get("model"))
            self._id = text(message.get("id"))
            self._started = True
        elif kind == "message_delta":
            usage = view(event.get("usage"))
            for name in _FIELDS:
                value = usage.get(name)
                if value is not None:  # cumulative: replaces, never adds
                    self._counts[name] = value
            thinking = view(usage.get("output_tokens_details")).get("thinking_tokens")
            if thinking is not None:
                self._thinking = thinking
        elif kind == "error":
            self._error = _error_event(event)
        return False

    def seen(self) -> tuple[str | None, str | None]:
        """The served model and request id received so far."""
        return self._model, self._request_id or self._id

    @staticmethod
    def passes(cls: type) -> bool:
        """Whether no item of event class ``cls`` needs reading, in any stream: one whose
        ``type`` can only be a kind ``feed`` ignores (a text delta, a block start or stop)."""
        kind = only_value(cls, "type")
        return isinstance(kind, str) and kind not in _READ

    def quiet(self, item: Any) -> tuple[str, Any] | None:
        """Which items of ``item``'s class need no reading from now on (``_stream`` passes
        them unread): once the message started, every event but a usage delta or an error
        (the text deltas, most of a stream)."""
        kind = view(item).get("type")
        if self._started and isinstance(kind, str) and kind not in _READ:
            return "type", kind
        return None

    def fields(self) -> Fields | None:
        """What ``result`` says, as ``fast_fields``, for a stream that started and raised no
        error, its counts of the common shape; else None (``result`` reads it)."""
        if not self._started or self._error is not None:
            return None
        return _flat(self._counts, self._thinking, self._model, self._request_id or self._id)

    def result(self) -> Usage | None:
        if not self._started:
            return self._error
        usage = _usage(self._counts, self._thinking, self._model, self._request_id or self._id)
        if self._error is not None:
            return replace(usage, success=False, error_message=self._error.error_message)
        return usage
