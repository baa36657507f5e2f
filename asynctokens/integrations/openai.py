"""OpenAI: Chat Completions, the Responses API and embeddings, whole or streamed.

What OpenAI reports already has the file format's meaning: ``prompt_tokens`` /
``input_tokens`` include cached input, ``completion_tokens`` / ``output_tokens`` include
reasoning. So nothing is added: the parts are only read from their ``*_details``. A chat
stream reports usage once, in a last chunk with no choices, and only when the request set
``stream_options={"include_usage": True}``; a Responses stream reports it in its
``response.completed`` (or ``.incomplete`` / ``.failed``) event.
"""

from __future__ import annotations

from typing import Any, Final

from asynctokens.integrations._usage import (
    UNKNOWN_NOTE,
    Fields,
    Usage,
    changed,
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

API_TYPE: Final = "openai"
#: Stream chunks of Chat Completions and of the legacy Completions API.
_CHUNKS: Final = frozenset({"chat.completion.chunk", "text_completion"})
_FINAL_EVENTS: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})
#: The last event of a streamed image generation or edit, transcription or speech: its usage
#: is its own field, as a whole ``ImagesResponse``'s or ``Transcription``'s is.
_DONE_WITH_USAGE: Final = frozenset({
    "image_generation.completed", "image_edit.completed", "transcript.text.done",
    "speech.audio.done",
})  # fmt: skip


def is_openai(obj: dict[str, Any]) -> bool:
    """True for a dict in OpenAI's shape: its ``object`` field names the kind of reply."""
    if obj.get("object") in ("chat.completion", "chat.completion.chunk", "list", "response"):
        return True
    event = obj.get("type")
    return isinstance(event, str) and (event.startswith("response.") or event == "error")


def usage_of(obj: Any) -> Usage | None:
    """The usage of one reply object, or None when it carries none (a chunk mid-stream)."""
    v = view(obj)
    event = v.get("type")
    if event is not None:
        if event in _FINAL_EVENTS:
            return usage_of(v.get("response"))
        if event == "error":
            return failed(API_TYPE, error_text(None, v.get("code"), v.get("message")))
        if event not in _DONE_WITH_USAGE:
            return None
    usage = view(v.get("usage"))
    request_id = request_id_of(v)
    model = text(v.get("model"))
    prompt = usage.get("prompt_tokens")
    if prompt is not None:  # Chat Completions and embeddings
        prompt_details = view(usage.get("prompt_tokens_details"))
        completion_details = view(usage.get("completion_tokens_details"))
        notes: list[str] = []
        cached, cached_as = _cached(usage, prompt_details)
        return make_usage(
            count(prompt, "prompt_tokens", notes),
            count(usage.get("completion_tokens"), "completion_tokens", notes),
            count(cached, cached_as, notes),
            count(prompt_details.get("cache_write_tokens"), "cache_write_tokens", notes),
            count(completion_details.get("reasoning_tokens"), "reasoning_tokens", notes),
            API_TYPE,
            model,
            request_id,
            operation="embeddings" if v.get("object") == "list" else "chat",
            notes=notes,
            service_tier=text(v.get("service_tier")),
        )
    prompt = usage.get("input_tokens")
    if prompt is None:
        if usage.get("type") == "duration":  # whisper-1: billed by the second of audio
            seconds = usage.get("seconds")
            note = f"billed by the second ({seconds!r:.20} s of audio), not the token"
            return make_usage(0, 0, 0, 0, 0, API_TYPE, model, request_id,
                              notes=[f"{note}: {UNKNOWN_NOTE}"])  # fmt: skip
        return None
    # the Responses API: "incomplete" (max_output_tokens reached, content filter) is billed
    # and succeeded; "failed" and "cancelled" are failures, with whatever they used
    input_details = view(usage.get("input_tokens_details"))
    output_details = view(usage.get("output_tokens_details"))
    status = v.get("status")
    error = None
    if status in ("failed", "cancelled"):
        reason = view(v.get("error"))
        error = error_text(None, reason.get("code") or status, reason.get("message"))
    notes = []
    return make_usage(
        count(prompt, "input_tokens", notes),
        count(usage.get("output_tokens"), "output_tokens", notes),
        count(input_details.get("cached_tokens"), "cached_tokens", notes),
        count(input_details.get("cache_write_tokens"), "cache_write_tokens", notes),
        count(output_details.get("reasoning_tokens"), "reasoning_tokens", notes),
        API_TYPE,
        model,
        request_id,
        error is None,
        error,
        "chat",
        notes,
        text(v.get("service_tier")),
    )


#: Where an OpenAI-compatible server that leaves ``prompt_tokens_details`` out reports the
#: prompt tokens read from its cache (part of ``prompt_tokens``, as OpenAI's): DeepSeek's
#: ``prompt_cache_hit_tokens`` (with ``prompt_cache_miss_tokens`` the rest), Moonshot's
#: ``cached_tokens`` beside the counts.
_CACHED_ELSEWHERE: Final = ("prompt_cache_hit_tokens", "cached_tokens")


def _cached(usage: Any, prompt_details: Any) -> tuple[Any, str]:
    """The cached prompt tokens of a chat usage, and the field they came from."""
    cached = prompt_details.get("cached_tokens")
    if cached is not None:
        return cached, "cached_tokens"
    for name in _CACHED_ELSEWHERE:
        cached = usage.get(name)
        if cached is not None:
            return cached, name
    return None, "cached_tokens"


def fast_fields(obj: Any) -> Fields | None:
    """What ``usage_of`` reads from a whole Chat Completions reply or a finished Responses
    reply as the SDK builds it, in one flat pass; None for any other object or shape (a
    field the SDK does not know, a count that is not a plain int, a part above its whole),
    which ``usage_of`` then reads. An instrumented call runs this on every reply, with the
    CPU's caches cold from the SDK's own work: each function call saved counts
    (tests/test_fast_fields.py holds it equal to ``usage_of``)."""
    try:
        if obj.__pydantic_extra__:
            return None
        v = obj.__dict__
        usage = v["usage"]
        if usage.__pydantic_extra__:
            return None
        u = usage.__dict__
        kind = v["object"]
        if kind == "chat.completion" or kind == "chat.completion.chunk":
            prompt, completion = u["prompt_tokens"], u["completion_tokens"]
            details, output_details = u["prompt_tokens_details"], u["completion_tokens_details"]
        elif kind == "response" and v["status"] == "completed":
            prompt, completion = u["input_tokens"], u["output_tokens"]
            details, output_details = u["input_tokens_details"], u["output_tokens_details"]
        else:
            return None
        cached = written = reasoning = 0
        if details is not None:
            if details.__pydantic_extra__:
                return None
            d = details.__dict__
            cached, written = d.get("cached_tokens"), d.get("cache_write_tokens")
            cached, written = 0 if cached is None else cached, 0 if written is None else written
        if output_details is not None:
            if output_details.__pydantic_extra__:
                return None
            reasoning = output_details.__dict__.get("reasoning_tokens")
            reasoning = 0 if reasoning is None else reasoning
    except (AttributeError, KeyError, TypeError):
        return None
    if not (
        prompt.__class__ is int
        and completion.__class__ is int
        and cached.__class__ is int
        and written.__class__ is int
        and reasoning.__class__ is int
        and 0 <= prompt < TOKENS_LIMIT
        and 0 <= completion < TOKENS_LIMIT
        and cached >= 0
        and written >= 0
        and 0 <= reasoning <= completion
        and cached + written <= prompt
    ):
        return None
    model, tier = v["model"], v.get("service_tier")
    return (
        prompt,
        completion,
        cached,
        written,
        reasoning,
        model if model.__class__ is str and model else None,
        request_id_of(v),
        tier if tier.__class__ is str and tier else None,
        0,
    )


def unfinished(obj: Any) -> bool:
    """A Responses-API response still queued or running (background mode): its usage comes
    with the finished response, from ``retrieve()``."""
    v = view(obj)
    return v.get("object") == "response" and v.get("status") in ("queued", "in_progress")


def finished_id(obj: Any) -> str | None:
    """A stored Responses-API response's id: ``retrieve()`` can fetch it again, and it must
    be counted once."""
    v = view(obj)
    return text(v.get("id")) if v.get("object") == "response" else None


def usage_of_error(exc: BaseException) -> Usage:
    """An ``openai`` exception as a failed call (the SDK puts the error object in ``body``)."""
    body = getattr(exc, "body", None)
    kind = (body.get("code") or body.get("type")) if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    return sdk_error(API_TYPE, exc, kind, message)


class StreamUsage:
    """Usage of an OpenAI stream, fed one chunk or event at a time.

    ``feed`` returns True for the usage-only last chunk of a chat stream, so a caller that
    asked for usage on the user's behalf can keep that chunk from the user.
    """

    __slots__ = ("_final", "_model", "_request_id")

    def __init__(self, stream: Any = None) -> None:
        # the chunk or event that carries the usage (or the error), read when the stream
        # ends: by fast_fields for the common shape, else by usage_of
        self._final: Any = None
        self._model: str | None = None
        self._request_id = header(stream, "x-request-id")

    def feed(self, item: Any) -> bool:
        v = view(item)
        if v.get("object") in _CHUNKS:
            if v.get("usage") is not None:
                self._final = item
                return not v.get("choices")
            if self._final is None:
                groq = view(v.get("x_groq")).get("usage")
                if groq is not None:  # Groq's own place for it: the usage chunk comes first
                    self._final = {**v, "usage": groq}
            if self._model is None:
                self._model = text(v.get("model"))
            return False
        event = v.get("type")
        if event in _FINAL_EVENTS or event == "error" or event in _DONE_WITH_USAGE:
            self._final = item
        elif self._model is None:
            self._model = text(v.get("model")) or text(view(v.get("response")).get("model"))
        return False

    def seen(self) -> tuple[str | None, str | None]:
        """The served model and request id received so far."""
        return self._model, self._request_id

    def stored_id(self) -> str | None:
        """The id of the stored response a Responses stream ended with (None for a chat
        stream): a ``retrieve()`` of it must not count it again, nor it a retrieved one."""
        final = view(self._final)
        return finished_id(final.get("response")) if final.get("type") in _FINAL_EVENTS else None

    @staticmethod
    def passes(cls: type) -> bool:
        """Whether no item of event class ``cls`` needs reading, in any stream: a Responses
        event whose ``type`` can only be one that neither ends the stream nor fails it, and
        with no field that could name the model or carry usage (a text delta)."""
        kind = only_value(cls, "type")
        fields = getattr(cls, "__pydantic_fields__", None)
        return (
            isinstance(kind, str)
            and kind not in _FINAL_EVENTS
            and kind != "error"
            and isinstance(fields, dict)
            and not {"model", "response", "usage"} & fields.keys()
        )

    @staticmethod
    def always(cls: type) -> tuple[str, Any] | None:
        """The rule that lets items of ``cls`` pass unread in every stream from its first
        item: a chat chunk without usage (each chunk names the model and id, and the last
        one passed is read when the stream ends, however it ends)."""
        if only_value(cls, "object") == "chat.completion.chunk":
            return "usage", None
        return None

    def quiet(self, item: Any) -> tuple[str, Any] | None:
        """Which items of ``item``'s class need no reading from now on (an attribute and
        its value; ``_stream`` passes them unread): once the model is known, a chat chunk
        without usage, and a Responses event that neither ends the stream nor fails it."""
        if self._model is None:
            return None
        v = view(item)
        if v.get("object") in _CHUNKS and v.get("usage") is None:
            return "usage", None
        event = v.get("type")
        if (
            isinstance(event, str)
            and event not in _FINAL_EVENTS
            and event != "error"
            and event not in _DONE_WITH_USAGE
        ):
            return "type", event
        return None

    def result(self) -> Usage | None:
        usage = None if self._final is None else usage_of(self._final)
        if usage is None:
            return None
        if self._request_id is not None:
            # the header names the HTTP request; the chunk id only the completion
            return changed(usage, request_id=self._request_id, model=usage.model or self._model)
        return changed(usage, model=usage.model or self._model)

    def fields(self) -> Fields | None:
        """What ``result`` says, as ``fast_fields``, for a usage chunk or finished response
        of the common shape; else None (``result`` reads it)."""
        final = self._final
        if final is None:
            return None
        fields = fast_fields(final)  # a chat chunk with usage
        if fields is None and view(final).get("type") == "response.completed":
            fields = fast_fields(view(final).get("response"))
        if fields is None:
            return None
        prompt, completion, cached, written, reasoning, served, request_id, tier, hour = fields
        # the header names the HTTP request; the chunk id only the completion
        return (prompt, completion, cached, written, reasoning, served or self._model,
                self._request_id or request_id, tier, hour)  # fmt: skip
