"""``tracker.instrument(client)``: log every call one SDK client makes, once.

Only the given client instance changes: its resource objects (``client.chat.completions``,
``client.messages``, ``client.models`` ...) are cached per client by the SDKs, and the
wrapped method is set on that object, so other clients and the SDK module stay as they were.
The public method is what is wrapped; the SDK's own retries happen inside it, and each
failed attempt is read at the transport and logged before the call's last request, linked
to it by an ``asynctokens.operation_id`` in their metadata. Gemini's ``generate_content``
may send several requests too: with Python function tools (automatic function calling) or
automatic continuation it returns only the last one's usage, so each request it sends is
logged (its private per-request method is wrapped), and the requests of one call share an
operation id. Errors are logged as failures and re-raised unchanged; nothing the tracker does
can raise into the call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import copy_context
from dataclasses import dataclass, replace
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from asynctokens.integrations import anthropic, gemini, openai
from asynctokens.integrations._call import (
    CallLog,
    Claim,
    abandoned,
    call_site,
    claimed,
    end_failed,
    failure,
    link_retried,
)
from asynctokens.integrations._endpoint import api_type_of_client
from asynctokens.integrations._reading import Route
from asynctokens.integrations._usage import text
from asynctokens.integrations._wrap import (
    ALWAYS,
    IF_ASKED,
    MARK,
    NEVER,
    At,
    link_requests,
    link_stream_requests,
    read_usage,
    wrap_method,
)

if TYPE_CHECKING:
    from asynctokens.writer._tracker import TokenTracker


def instrument(tracker: TokenTracker, client: Any) -> Any:
    """Instrument ``client`` in place and return it; instrumenting twice changes nothing.

    Copies the client makes (``with_options()``, ``copy()``: per-request timeouts and
    retries) are instrumented for the same tracker. A client another tracker instrumented
    is refused with a ValueError: its calls would go to one of them, silently.
    """
    owner = getattr(client, MARK, None)
    if owner is tracker:
        return client
    if owner is not None:
        raise ValueError(
            "this client is instrumented by another tracker already, and each call is logged"
            " by one tracker: instrument a copy (client.with_options()) for the second one"
        )
    module = type(client).__module__.split(".")[0]
    if module == "openai":
        at = At(tracker, getattr(client, "api_key", None), api_type_of_client(client, "openai"))
        chat = client.chat.completions
        wrap_method(at, chat, "create", openai, IF_ASKED, inject_usage=True)
        wrap_method(at, chat, "parse", openai, NEVER)
        # chat.completions.stream() and responses.stream() call the create() wrapped here:
        # their streams are logged through it, once
        wrap_method(at, client.responses, "create", openai, IF_ASKED, stored=True)
        wrap_method(at, client.responses, "parse", openai, NEVER, stored=True)
        # background mode: create() answers "queued" (not logged); the finished response
        # comes from retrieve() (or cancel()), logged once per response id
        wrap_method(at, client.responses, "retrieve", openai, IF_ASKED, stored=True, fetches=True)
        wrap_method(at, client.responses, "cancel", openai, NEVER, stored=True, fetches=True)
        wrap_method(at, client.embeddings, "create", openai, NEVER)
        wrap_method(at, client.completions, "create", openai, IF_ASKED, inject_usage=True)
        wrap_method(at, client.images, "generate", openai, IF_ASKED)
        wrap_method(at, client.images, "edit", openai, IF_ASKED)
        _observe_transport(at, client, openai, "x-request-id")
        _instrument_copies(tracker, client)
    elif module == "anthropic":
        api_type = api_type_of_client(client, "anthropic")
        at = At(tracker, getattr(client, "api_key", None), api_type)
        # the beta namespace's messages are the same calls (its tool runner sends each
        # request through them); parse() sends its own request, apart from create()
        for messages in (client.messages, client.beta.messages):
            wrap_method(at, messages, "create", anthropic, IF_ASKED)
            wrap_method(at, messages, "parse", anthropic, NEVER)
            _wrap_stream_manager(at, messages, _ANTHROPIC_HELPER)
        _observe_transport(at, client, anthropic, "request-id")
        _instrument_copies(tracker, client)
    elif module == "google" and type(client).__module__.startswith("google.genai"):
        key = getattr(getattr(client, "_api_client", None), "api_key", None)
        at = At(tracker, key, api_type_of_client(client, "gemini"))
        for models in (client.models, client.aio.models):
            if hasattr(models, "_generate_content"):  # one event per request it sends
                wrap_method(at, models, "_generate_content", gemini, NEVER)
                wrap_method(at, models, "_generate_content_stream", gemini, ALWAYS, hops=True)
                link_requests(at, models, "generate_content")
                link_stream_requests(at, models, "generate_content_stream")
            else:  # an SDK without the per-request method: one event per call
                wrap_method(at, models, "generate_content", gemini, NEVER)
                wrap_method(at, models, "generate_content_stream", gemini, ALWAYS)
            wrap_method(at, models, "embed_content", gemini, NEVER)  # one request a call
        _observe_interactions(at, getattr(client, "_api_client", None))
    else:
        raise TypeError(
            f"instrument() takes an OpenAI, Anthropic or google.genai client, got"
            f" {type(client).__module__}.{type(client).__qualname__}; for other APIs use"
            " tracker.track(...) or tracker.log_response(...)"
        )
    setattr(client, MARK, tracker)
    return client


def _observe_transport(at: At, client: Any, reader: ModuleType, request_id_header: str) -> None:
    """Every request the method wrappers do not log (raw and streaming-response variants,
    methods without a wrapper) is read at the client's HTTP transport (``_transport``)."""
    from asynctokens.integrations import _transport  # imports httpx2: only with an SDK

    _transport.install(client, _starter(at), reader, request_id_header, at.first_time)


def _starter(at: At) -> Callable[[str | None], CallLog]:
    """What the transport calls as each request it reads starts (with the model asked for)."""
    key = at.api_key if isinstance(at.api_key, str) else None

    def start_call(model: str | None) -> CallLog:
        return CallLog(at.tracker, at.api_type, model, key)

    return start_call


def _observe_interactions(at: At, api_client: Any) -> None:
    """The Interactions API (``client.interactions``, and the agents it runs) sends through
    the GenAI client's own httpx2 clients: read there, for its paths only (the models
    namespace is logged by its method wrappers)."""
    from asynctokens.integrations import _transport, gemini_interactions

    reader, start_call = gemini_interactions, _starter(at)
    for http in (getattr(api_client, "_httpx_client", None),
                 getattr(api_client, "_async_httpx_client", None)):  # fmt: skip
        route = Route(None, start_call, reader, reader.LineDecoder, "x-request-id",
                      at.first_time, reader.PATH_PART)  # fmt: skip
        _transport.observe(http, route)


def _instrument_copies(tracker: TokenTracker, client: Any) -> None:
    """``with_options()`` and ``copy()`` of an OpenAI or Anthropic client: a new client,
    with new resource objects, so the copy is instrumented as it is made."""
    original = getattr(client, "copy", None)
    if original is None:
        return

    @functools.wraps(original)
    def copy(*args: Any, **kwargs: Any) -> Any:
        made = original(*args, **kwargs)
        try:
            return instrument(tracker, made)
        except Exception:  # an SDK whose copy we cannot read: the copy works, unlogged
            return made

    client.copy = copy
    client.with_options = copy


@dataclass(frozen=True)
class _HelperKind:
    """How to read one SDK's stream helper at the end of its ``with`` block."""

    reader: ModuleType
    snapshot: str  # the stream's property holding the accumulated reply
    ended: Callable[[Any], bool]  # did the snapshot reach the end of the reply?
    request_id: Callable[[Any], str | None]


#: Anthropic's ``messages.stream()``: the message snapshot ends with a stop reason.
_ANTHROPIC_HELPER: Final = _HelperKind(
    anthropic,
    "current_message_snapshot",
    lambda snapshot: getattr(snapshot, "stop_reason", None) is not None,
    lambda stream: text(getattr(stream, "request_id", None)),
)


def _wrap_stream_manager(at: At, owner: Any, kind: _HelperKind) -> None:
    """An SDK's ``.stream()`` helper: log from the SDK's own accumulated reply.

    The helper's stream keeps a snapshot of the reply with the cumulative usage of every
    event read; at the block's exit that snapshot is the call's usage, whichever way the user
    read the stream (events, ``text_stream``, ``get_final_message()``).
    """
    original = getattr(owner, "stream", None)
    if original is None or getattr(original, MARK, None) is not None:
        return
    tracker, api_type = at.tracker, at.api_type
    key = at.api_key if isinstance(at.api_key, str) else None

    @functools.wraps(original)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        model = kwargs.get("model")
        tracker.budget_gate(api_type, model if type(model) is str else None)
        call = CallLog(
            tracker, api_type, model if type(model) is str else None, key, None, call_site(1)
        )
        call.context = copy_context()  # its line carries the labels in force here
        return _TrackedManager(original(*args, **kwargs), call, kind)

    setattr(tracked, MARK, tracker)
    owner.stream = tracked


class _TrackedManager:
    """Wraps a stream helper's manager, sync or async (``MessageStreamManager``, ...)."""

    def __init__(self, manager: Any, call: CallLog, kind: _HelperKind) -> None:
        self._manager = manager
        self._call = call
        self._kind = kind
        self._stream: Any = None

    def _end(self, exc: BaseException | None) -> None:
        kind, api_type = self._kind, self._call.api_type
        try:
            snapshot = getattr(self._stream, kind.snapshot)
        except (AssertionError, AttributeError):  # nothing read yet
            snapshot = None
        usage = read_usage(kind.reader, snapshot) if snapshot is not None else None
        if usage is not None:
            request_id = kind.request_id(self._stream)
            if request_id is not None:
                usage = replace(usage, request_id=request_id)
        if exc is not None:
            self._call.end(failure(exc, api_type, usage))
        elif usage is None or not kind.ended(snapshot):
            self._call.end(abandoned(usage, api_type))
        else:
            self._call.end(usage)

    def _failed_to_open(self, exc: BaseException, claim: Claim) -> None:
        end_failed(self._call, claim, exc, self._call.api_type)

    def _opened(self, claim: Claim) -> None:
        if claim:  # failed attempts the SDK retried before the stream opened
            link_retried(self._call, claim)

    def __enter__(self) -> Any:
        claim: Claim = []
        token = claimed.set(claim)  # the helper sends its request here
        try:
            self._stream = self._manager.__enter__()
        except BaseException as exc:
            self._failed_to_open(exc, claim)
            raise
        finally:
            claimed.reset(token)
        self._opened(claim)
        return self._stream

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        self._end(exc)
        return self._manager.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> Any:
        claim: Claim = []
        token = claimed.set(claim)
        try:
            self._stream = await self._manager.__aenter__()
        except BaseException as exc:
            self._failed_to_open(exc, claim)
            raise
        finally:
            claimed.reset(token)
        self._opened(claim)
        return self._stream

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        self._end(exc)
        return await self._manager.__aexit__(exc_type, exc, tb)
