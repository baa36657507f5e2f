"""Which provider an object comes from, and ``usage_from()`` on top of that.

SDK objects are told apart by the module their class lives in (``openai.*``,
``anthropic.*``, ``google.genai.*``), which costs one attribute read and imports nothing;
plain dicts (REST JSON, a cached response) by the fields each provider's JSON has.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any, Protocol

from asynctokens.integrations import anthropic, gemini, openai
from asynctokens.integrations._usage import Fields, Usage

_BY_MODULE = (("openai", openai), ("anthropic", anthropic), ("google.genai", gemini))


class StreamUsage(Protocol):
    """What each provider module's ``StreamUsage`` does: fold a stream's items into one usage."""

    def feed(self, item: Any) -> bool: ...

    def result(self) -> Usage | None: ...

    def fields(self) -> Fields | None: ...

    def seen(self) -> tuple[str | None, str | None]: ...

    def quiet(self, item: Any) -> tuple[str, Any] | None: ...

    @staticmethod
    def passes(cls: type) -> bool: ...


#: SDK class -> its reader (None: no SDK's class), filled as classes are first seen.
_BY_CLASS: dict[type, ModuleType | None] = {}


def _reader_of_class(cls: type) -> ModuleType | None:
    module = cls.__module__
    for prefix, reader in _BY_MODULE:
        if module.startswith(prefix) and module[len(prefix) : len(prefix) + 1] in (".", ""):
            return reader
    return None


def provider_of(obj: Any) -> ModuleType | None:
    """The reader module for ``obj``, or None when no provider's shape fits it."""
    cls = type(obj)
    if cls is not dict:
        try:
            return _BY_CLASS[cls]
        except KeyError:
            reader = _BY_CLASS[cls] = _reader_of_class(cls)
            return reader
    if gemini.is_gemini(obj):
        return gemini
    if anthropic.is_anthropic(obj):
        return anthropic
    if openai.is_openai(obj):
        return openai
    usage = obj.get("usage")
    if type(usage) is not dict:
        return None
    if "prompt_tokens" in usage or "input_tokens_details" in usage:
        return openai
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        return anthropic
    raise ValueError(
        "cannot tell which provider this usage is from (Anthropic's input_tokens excludes"
        " cached input, OpenAI's includes it): pass the whole response, with its 'type' or"
        " 'object' field"
    )


def usage_from(obj: Any) -> Usage | None:
    """The tokens of one API call, read from what an SDK or REST API returned; no I/O.

    Takes an OpenAI ``ChatCompletion``, Responses-API ``Response`` or embeddings response,
    an Anthropic ``Message``, a Google GenAI ``GenerateContentResponse``, the same as plain
    dicts, the list of a stream's chunks or events, or an SDK exception (a failed call).
    Returns None when the object carries no usage (e.g. an OpenAI stream that was not asked
    for ``include_usage``), never a 0/0 success.
    """
    if isinstance(obj, BaseException):
        reader = provider_of(obj)
        return None if reader is None else reader.usage_of_error(obj)
    if isinstance(obj, (list, tuple)):
        return stream_usage(obj)
    reader = provider_of(obj)
    return None if reader is None else reader.usage_of(obj)


def usage_of_result(obj: Any) -> Usage | None:
    """What a function the user wrapped returned, as usage: a ``Usage`` as it is, else what
    :func:`usage_from` reads (None for a bare usage dict whose provider cannot be told)."""
    if isinstance(obj, Usage):
        return obj
    try:
        return usage_from(obj)
    except ValueError:
        return None


def stream_usage(items: Iterable[Any]) -> Usage | None:
    """The usage of a whole stream given as its items (chunks, events)."""
    folder: StreamUsage | None = None
    for item in items:
        if folder is None:
            folder = new_stream_usage(item)
            if folder is None:
                continue
        folder.feed(item)
    return None if folder is None else folder.result()


def new_stream_usage(item: Any) -> StreamUsage | None:
    """The folder for a stream whose first recognisable item is ``item``."""
    reader = provider_of(item)
    return None if reader is None else reader.StreamUsage()
