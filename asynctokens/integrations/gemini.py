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

from typing import Any, Final

from asynctokens.integrations._usage import (
    EVERY,
    UNKNOWN_NOTE,
    Fields,
    Usage,
    count,
    filled,
    make_usage,
    named,
    sdk_error,
    text,
    view,
)
from asynctokens.record._event import TOKENS_LIMIT

API_TYPE: Final = "gemini"
#: The counts read, in the order usage_of takes them, as the SDK and the REST API name them.
_SNAKE: Final = (
    "prompt_token_count",
    "tool_use_prompt_token_count",
    "cached_content_token_count",
    "candidates_token_count",
    "thoughts_token_count",
)
_CAMEL: Final = (
    "promptTokenCount",
    "toolUsePromptTokenCount",
    "cachedContentTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
)


def is_gemini(obj: dict[str, Any]) -> bool:
    """True for a dict in the GenAI shape (it has ``usage_metadata`` or ``usageMetadata``)."""
    return "usage_metadata" in obj or "usageMetadata" in obj


def _counted(u: Any, names: tuple[str, ...]) -> bool:
    """Whether a usage (a :func:`view`, its fields named ``names``) has counts set: the
    prompt, the answer or the thinking."""
    prompt, _, _, candidates, thoughts = names
    return (
        u.get(prompt) is not None or u.get(candidates) is not None or (u.get(thoughts) is not None)
    )


def usage_of(obj: Any) -> Usage | None:
    """The usage of one response or chunk, or None when its counts are unset."""
    v = view(obj)
    usage = v.get("usage_metadata")
    if usage is not None:
        names = _SNAKE
        model, request_id = v.get("model_version"), v.get("response_id")
    else:
        usage = v.get("usageMetadata")
        if usage is None:
            return _embedded(v)
        names = _CAMEL
        model, request_id = v.get("modelVersion"), v.get("responseId")
    u = view(usage)
    if not _counted(u, names):
        return None  # Vertex's early chunks: usage with every count unset
    prompt_name, tool_name, cached_name, candidates_name, thoughts_name = names
    prompt, candidates, thoughts = u.get(prompt_name), u.get(candidates_name), u.get(thoughts_name)
    notes: list[str] = []
    thoughts = count(thoughts, thoughts_name, notes)
    # an embedding reply (``embed_content``) names no model: the call's is logged
    embeddings = v.get("embeddings") is not None
    return make_usage(
        count(prompt, prompt_name, notes) + count(u.get(tool_name), tool_name, notes),
        count(candidates, candidates_name, notes) + thoughts,
        count(u.get(cached_name), cached_name, notes),
        0,
        thoughts,
        API_TYPE,
        text(model),
        text(request_id),
        operation="embeddings" if embeddings else "chat",
        notes=notes,
    )


def _embedded(v: Any) -> Usage | None:
    """The input tokens of a Vertex embedding reply without usage metadata (its ``predict``
    endpoint): each embedding's ``statistics.token_count``, summed, those missing said in a
    note (the counts are then not all known); None when none has one (the Gemini API's
    embeddings carry no count)."""
    embeddings = v.get("embeddings")
    if not isinstance(embeddings, list) or not embeddings:
        return None
    counts = [view(view(e).get("statistics")).get("token_count") for e in embeddings]
    missing = counts.count(None)
    if missing == len(counts):
        return None
    notes: list[str] = []
    if missing:
        notes.append(
            f"token_count missing for {missing} of {len(counts)} embeddings: {UNKNOWN_NOTE}"
        )
    # the SDK types the count a float: 5.0 is its plain shape, read without a note
    total = sum(
        count(int(c) if type(c) is float and c.is_integer() else c, "token_count", notes)
        for c in counts
    )
    return make_usage(total, 0, 0, 0, 0, API_TYPE, None, None, operation="embeddings",
                      notes=notes)  # fmt: skip


def fast_fields(obj: Any) -> Fields | None:
    """What ``usage_of`` reads from a whole ``GenerateContentResponse`` as the SDK builds
    it, in one flat pass; None for any other object or shape (a count that is not a plain
    int, cached input above the prompt, no counts at all), which ``usage_of`` then reads.
    It runs on every request of an instrumented client (tests/test_fast_fields.py holds it
    equal to ``usage_of``)."""
    try:
        if obj.__pydantic_extra__:
            return None
        v = obj.__dict__
        usage = v["usage_metadata"]
        if usage.__pydantic_extra__:
            return None
        u = usage.__dict__
        prompt, tool, cached, candidates, thoughts = (
            u["prompt_token_count"],
            u["tool_use_prompt_token_count"],
            u["cached_content_token_count"],
            u["candidates_token_count"],
            u["thoughts_token_count"],
        )
        model, response_id = v["model_version"], v["response_id"]
    except (AttributeError, KeyError, TypeError):
        return None
    if prompt is None and candidates is None and thoughts is None:
        return None
    prompt = 0 if prompt is None else prompt
    tool = 0 if tool is None else tool
    cached = 0 if cached is None else cached
    candidates = 0 if candidates is None else candidates
    thoughts = 0 if thoughts is None else thoughts
    if not (
        prompt.__class__ is int
        and tool.__class__ is int
        and cached.__class__ is int
        and candidates.__class__ is int
        and thoughts.__class__ is int
        and 0 <= prompt < TOKENS_LIMIT
        and 0 <= tool < TOKENS_LIMIT
        and 0 <= candidates < TOKENS_LIMIT
        and 0 <= thoughts < TOKENS_LIMIT
        and 0 <= cached < TOKENS_LIMIT
        and cached <= prompt + tool
    ):
        return None
    return (
        prompt + tool,
        candidates + thoughts,
        cached,
        0,
        thoughts,
        model if model.__class__ is str and model else None,
        response_id if response_id.__class__ is str and response_id else None,
        None,
        0,
    )


def unfinished(obj: Any) -> bool:
    """Never: every reply of this provider is billed as it comes."""
    return False


def finished_id(obj: Any) -> str | None:
    """None: no reply of this provider can be fetched again."""
    return None


def usage_of_error(exc: BaseException) -> Usage:
    """A ``google.genai.errors.APIError`` as a failed call: ``429 RESOURCE_EXHAUSTED: ...``."""
    return sdk_error(
        API_TYPE,
        exc,
        getattr(exc, "status", None),
        getattr(exc, "message", None),
        status=getattr(exc, "code", None),
    )


class StreamUsage:
    """Usage of a GenAI stream: the last chunk whose counts are set, never a sum.

    Every chunk carries the running totals, so reading each would cost a stream of hundreds
    of chunks hundreds of reads: the first chunks are read until the model and response id
    are known, the rest pass unread (``quiet``) but the last, which the stream feeds when it
    ends; the last chunk fed with counts is read once, when the result is asked for. (A
    Vertex stream's early chunks have a usage with no counts; its last has them.)
    """

    __slots__ = ("_last", "_model", "_response_id")

    def __init__(self, stream: Any = None) -> None:
        self._last: Any = None  # the last chunk whose counts are set, unread
        self._model: str | None = None
        self._response_id: str | None = None

    def feed(self, item: Any) -> bool:
        v = view(item)
        usage = v.get("usage_metadata")
        names = _SNAKE
        if usage is None:
            usage, names = v.get("usageMetadata"), _CAMEL
        if usage is not None and _counted(view(usage), names):
            self._last = item  # not Vertex's early chunks, which have no counts
        if self._model is None or self._response_id is None:  # the first chunks only
            self._model = self._model or text(v.get("model_version")) or text(v.get("modelVersion"))
            self._response_id = (
                self._response_id or text(v.get("response_id")) or text(v.get("responseId"))
            )
        return False

    def seen(self) -> tuple[str | None, str | None]:
        """The served model and response id received so far."""
        return self._model, self._response_id

    def quiet(self, item: Any) -> tuple[str, Any] | None:
        """Once the model and response id are known, no chunk of this class needs reading:
        each carries the running totals, and the stream keeps the last one it passed, read
        at the end (``EVERY``)."""
        return EVERY if self._model is not None and self._response_id is not None else None

    def fields(self) -> Fields | None:
        """What ``result`` says, as ``fast_fields``, for a last chunk of the common shape;
        else None (``result`` reads it)."""
        if self._last is None:
            return None
        return named(fast_fields(self._last), self._model, self._response_id)

    @staticmethod
    def passes(cls: type) -> bool:
        """Never: every chunk is of one class, and the last one counts."""
        return False

    def result(self) -> Usage | None:
        usage = None if self._last is None else usage_of(self._last)
        return filled(usage, self._model, self._response_id)
