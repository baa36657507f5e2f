"""``tracker.instrument(client)``: log every call one SDK client makes, once.

Only the given client instance changes: its resource objects (``client.chat.completions``,
``client.messages``, ``client.models`` ...) are cached per client by the SDKs, and the
wrapped method is set on that object, so other clients and the SDK module stay as they were.
The public method is what is wrapped, so the SDK's own retries happen inside one logged
call. Gemini's ``generate_content`` is the exception: with Python function tools (automatic
function calling) or automatic continuation it sends several requests and returns only the
last one's usage, so each request it sends is logged (its private per-request method is
wrapped), and the requests of one call share an ``asynctokens.operation_id`` in their
metadata. Errors are logged as failures and re-raised unchanged; nothing the tracker does
can raise into the call.
"""

from __future__ import annotations

import functools
import inspect
import os
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from types import CoroutineType, ModuleType
from typing import TYPE_CHECKING, Any, Final

from asynctokens.integrations import anthropic, gemini, openai
from asynctokens.integrations._call import CallLog, abandoned, call_site, claimed, failure
from asynctokens.integrations._endpoint import api_type_of_client
from asynctokens.integrations._stream import wrap
from asynctokens.integrations._usage import Usage, text

if TYPE_CHECKING:
    from asynctokens.writer._tracker import TokenTracker

_MARK: Final = "__asynctokens_tracker__"


def instrument(tracker: TokenTracker, client: Any) -> Any:
    """Instrument ``client`` in place and return it; instrumenting twice changes nothing.

    Copies the client makes (``with_options()``, ``copy()``: per-request timeouts and
    retries) are instrumented for the same tracker. A client another tracker instrumented
    is refused with a ValueError: its calls would go to one of them, silently.
    """
    owner = getattr(client, _MARK, None)
    if owner is tracker:
        return client
    if owner is not None:
        raise ValueError(
            "this client is instrumented by another tracker already, and each call is logged"
            " by one tracker: instrument a copy (client.with_options()) for the second one"
        )
    module = type(client).__module__.split(".")[0]
    if module == "openai":
        at = _At(tracker, getattr(client, "api_key", None), api_type_of_client(client, "openai"))
        chat = client.chat.completions
        _wrap(at, chat, "create", openai, _IF_ASKED, inject_usage=True)
        _wrap(at, chat, "parse", openai, _NEVER)
        # chat.completions.stream() and responses.stream() call the create() wrapped here:
        # their streams are logged through it, once
        _wrap(at, client.responses, "create", openai, _IF_ASKED, stored=True)
        _wrap(at, client.responses, "parse", openai, _NEVER, stored=True)
        # background mode: create() answers "queued" (not logged); the finished response
        # comes from retrieve() (or cancel()), logged once per response id
        _wrap(at, client.responses, "retrieve", openai, _IF_ASKED, stored=True, fetches=True)
        _wrap(at, client.responses, "cancel", openai, _NEVER, stored=True, fetches=True)
        _wrap(at, client.embeddings, "create", openai, _NEVER)
        _wrap(at, client.completions, "create", openai, _IF_ASKED, inject_usage=True)
        _wrap(at, client.images, "generate", openai, _IF_ASKED)
        _wrap(at, client.images, "edit", openai, _IF_ASKED)
        _observe_transport(at, client, openai, "x-request-id")
        _instrument_copies(tracker, client)
    elif module == "anthropic":
        api_type = api_type_of_client(client, "anthropic")
        at = _At(tracker, getattr(client, "api_key", None), api_type)
        # the beta namespace's messages are the same calls (its tool runner sends each
        # request through them); parse() sends its own request, apart from create()
        for messages in (client.messages, client.beta.messages):
            _wrap(at, messages, "create", anthropic, _IF_ASKED)
            _wrap(at, messages, "parse", anthropic, _NEVER)
            _wrap_stream_manager(at, messages, _ANTHROPIC_HELPER)
        _observe_transport(at, client, anthropic, "request-id")
        _instrument_copies(tracker, client)
    elif module == "google" and type(client).__module__.startswith("google.genai"):
        key = getattr(getattr(client, "_api_client", None), "api_key", None)
        at = _At(tracker, key, api_type_of_client(client, "gemini"))
        for models in (client.models, client.aio.models):
            if hasattr(models, "_generate_content"):  # one event per request it sends
                _wrap(at, models, "_generate_content", gemini, _NEVER)
                _wrap(at, models, "_generate_content_stream", gemini, _ALWAYS)
                _link_requests(at, models, "generate_content")
            else:  # an SDK without the per-request method: one event per call
                _wrap(at, models, "generate_content", gemini, _NEVER)
                _wrap(at, models, "generate_content_stream", gemini, _ALWAYS)
        _observe_interactions(at, getattr(client, "_api_client", None))
    else:
        raise TypeError(
            f"instrument() takes an OpenAI, Anthropic or google.genai client, got"
            f" {type(client).__module__}.{type(client).__qualname__}; for other APIs use"
            " tracker.track(...) or tracker.log_response(...)"
        )
    setattr(client, _MARK, tracker)
    return client


def _observe_transport(at: _At, client: Any, reader: ModuleType, request_id_header: str) -> None:
    """Every request the method wrappers do not log (raw and streaming-response variants,
    methods without a wrapper) is read at the client's HTTP transport (``_transport``)."""
    from asynctokens.integrations import _transport  # imports httpx2: only with an SDK

    _transport.install(client, _starter(at), reader, request_id_header, at.first_time)


def _starter(at: _At) -> Callable[[str | None], CallLog]:
    """What the transport calls as each request it reads starts (with the model asked for)."""
    key = at.api_key if isinstance(at.api_key, str) else None

    def start_call(model: str | None) -> CallLog:
        return CallLog(at.tracker, at.api_type, model, key)

    return start_call


def _observe_interactions(at: _At, api_client: Any) -> None:
    """The Interactions API (``client.interactions``, and the agents it runs) sends through
    the GenAI client's own httpx2 clients: read there, for its paths only (the models
    namespace is logged by its method wrappers)."""
    from asynctokens.integrations import _transport, gemini_interactions

    reader, start_call = gemini_interactions, _starter(at)
    for http in (getattr(api_client, "_httpx_client", None),
                 getattr(api_client, "_async_httpx_client", None)):  # fmt: skip
        _transport.observe(http, start_call, reader, reader.LineDecoder, "x-request-id",
                           at.first_time, only=reader.PATH_PART)  # fmt: skip


#: The header the OpenAI and Anthropic SDKs send with a raw or streaming-response call.
_RAW_HEADER: Final = "x-stainless-raw-response"


def _raw(kwargs: dict[str, Any]) -> bool:
    """A ``with_raw_response`` or ``with_streaming_response`` call: the transport logs it."""
    headers = kwargs.get("extra_headers")
    return isinstance(headers, dict) and any(
        isinstance(name, str) and name.lower() == _RAW_HEADER for name in headers
    )


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


#: The requests of the user's call being made, held until it returns (``_link_requests``).
_operation: ContextVar[list[tuple[CallLog, Usage, float]] | None] = ContextVar(
    "asynctokens_operation", default=None
)
OPERATION_KEY: Final = "asynctokens.operation_id"


def _log_held(held: list[tuple[CallLog, Usage, float]]) -> None:
    """Log the requests one call sent: alone, as any call; several, sharing an operation id
    (so a call that sent one request pays for no id, and its line is the plain one)."""
    shared = {OPERATION_KEY: os.urandom(8).hex()} if len(held) > 1 else None
    for call, usage, latency_ms in held:
        metadata = call.metadata if shared is None else {**(call.metadata or {}), **shared}
        call.log(usage, latency_ms, metadata)


def _link_requests(at: _At, owner: Any, name: str) -> None:
    """The public method whose requests (tool hops, continuations) are logged one by one:
    they are held until it returns, then logged, linked by one operation id when several."""
    original = getattr(owner, name, None)
    if original is None or getattr(original, _MARK, None) is not None:
        return
    asynchronous = inspect.iscoroutinefunction(inspect.unwrap(original))
    if asynchronous:

        @functools.wraps(original)
        async def linked_async(*args: Any, **kwargs: Any) -> Any:
            held: list[tuple[CallLog, Usage, float]] = []
            token = _operation.set(held)
            try:
                return await original(*args, **kwargs)
            finally:
                _operation.reset(token)
                _log_held(held)

        linked: Any = linked_async
    else:

        @functools.wraps(original)
        def linked(*args: Any, **kwargs: Any) -> Any:
            held: list[tuple[CallLog, Usage, float]] = []
            token = _operation.set(held)
            try:
                return original(*args, **kwargs)
            finally:
                _operation.reset(token)
                _log_held(held)

    setattr(linked, _MARK, at.tracker)
    setattr(owner, name, linked)


#: Per tracker, the ids of the stored responses it logged (the last 10,000), whichever of
#: its clients or their copies logged them: one retrieved again is billed once.
_LOGGED: weakref.WeakKeyDictionary[Any, OrderedDict[str, None]] = weakref.WeakKeyDictionary()
#: Per tracker, the model each background job it saw started asked for (the last 10,000):
#: the finished job names only the served snapshot, and is logged under the name asked for.
_ASKED: weakref.WeakKeyDictionary[Any, OrderedDict[str, str | None]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _At:
    """Where a client's calls are logged: the tracker, the client's key, its provider."""

    tracker: TokenTracker
    api_key: Any
    api_type: str

    def first_time(self, response_id: str | None) -> bool:
        """False for a stored response (OpenAI Responses) this tracker logged before."""
        if response_id is None:
            return True
        logged = _LOGGED.setdefault(self.tracker, OrderedDict())
        if response_id in logged:
            return False
        logged[response_id] = None
        if len(logged) > 10_000:
            logged.popitem(last=False)
        return True

    def asked(self, job_id: str | None, model: str | None = None) -> str | None:
        """With ``model``: remember what background job ``job_id`` asked for; without: the
        model remembered for it (None when its start was not seen)."""
        if job_id is None:
            return None
        jobs = _ASKED.setdefault(self.tracker, OrderedDict())
        if model is None:
            return jobs.get(job_id)
        jobs[job_id] = model
        if len(jobs) > 10_000:
            jobs.popitem(last=False)
        return model


#: Whether a wrapped method returns a stream: never, always, or when called with stream=True.
_NEVER, _ALWAYS, _IF_ASKED = 0, 1, 2


def _usage_of(reader: ModuleType, result: Any) -> Usage | None:
    try:
        return reader.usage_of(result)  # type: ignore[no-any-return]
    except Exception:  # a reply of an unexpected shape is not the user's error
        return None


def _wrap(
    at: _At,
    owner: Any,
    name: str,
    reader: ModuleType,
    streams: int,
    *,
    inject_usage: bool = False,
    stored: bool = False,
    fetches: bool = False,
) -> None:
    """Replace ``owner.name`` (sync or async) by a version that logs each call once.

    ``stored``: the method's reply is stored by the provider under an id and can be fetched
    again (OpenAI Responses), or is a background job not done yet (not logged); its id is
    remembered. ``fetches``: the method fetches such a reply (``responses.retrieve``), which
    may have been logged already, when it was made or fetched before: then not again.

    The added work is kept small and flat (it runs around every SDK call, with cold caches
    after the SDK's own work): no stack inspection unless the call streams, one reader
    called directly, one log call.
    """
    original = getattr(owner, name, None)
    if original is None or getattr(original, _MARK, None) is not None:
        return  # a method this SDK version lacks, or one wrapped already
    tracker, api_type = at.tracker, at.api_type
    key = at.api_key if isinstance(at.api_key, str) else None
    # decided once: the async SDK methods are coroutine functions under their decorators
    asynchronous = inspect.iscoroutinefunction(inspect.unwrap(original))

    def finish(result: Any, call: CallLog, stream: bool, hide: bool) -> Any:
        if stream:
            return wrap(result, call, hide_usage_chunk=hide)
        if stored and reader.unfinished(result):  # a background job not done yet: later
            at.asked(reader.finished_id(result), call.model)
            call.skip()
            return result
        if fetches and call.model is None:  # the model its create() asked for, if seen
            call.model = at.asked(reader.finished_id(result))
        usage = _usage_of(reader, result)
        # every stored reply's id is remembered; one fetched again was logged when first seen
        seen = stored and usage is not None and not at.first_time(reader.finished_id(result))
        if seen and fetches:
            call.skip()
            return result
        # the user's call is 3 frames up from here (finish, then tracked or finish_async)
        call.end(usage, result, stacklevel=3)
        return result

    async def finish_async(pending: Awaitable[Any], call: CallLog, stream: bool, hide: bool) -> Any:
        token = claimed.set(True)  # the request is sent while this awaits
        try:
            result = await pending
        except BaseException as exc:
            call.end(failure(exc, api_type))
            raise
        finally:
            claimed.reset(token)
        return finish(result, call, stream, hide)

    @functools.wraps(original)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("extra_headers") is not None and _raw(kwargs):
            return original(*args, **kwargs)  # read and logged at the transport
        stream = streams == _ALWAYS or (streams == _IF_ASKED and kwargs.get("stream") is True)
        hide = False
        if stream and inject_usage:
            # the usage arrives in one extra chunk with no choices: ask for it, and keep that
            # chunk from the user, who then sees the stream they asked for
            hide = _ask_for_usage(kwargs)
        model = kwargs.get("model")
        tracker.budget_gate(api_type, model if type(model) is str else None)
        # a stream ends later, elsewhere: remember where it was asked for, for a warning
        call = CallLog(
            tracker,
            api_type,
            model if type(model) is str else None,
            key,
            None,
            call_site(1) if stream else None,
        )
        call.held = _operation.get()
        token = claimed.set(True)  # logged here: the transport leaves the request alone
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            call.end(failure(exc, api_type))
            raise
        finally:
            claimed.reset(token)
        if asynchronous or type(result) is CoroutineType:
            return finish_async(result, call, stream, hide)
        return finish(result, call, stream, hide)

    setattr(tracked, _MARK, tracker)
    setattr(owner, name, tracked)


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


def _wrap_stream_manager(at: _At, owner: Any, kind: _HelperKind) -> None:
    """An SDK's ``.stream()`` helper: log from the SDK's own accumulated reply.

    The helper's stream keeps a snapshot of the reply with the cumulative usage of every
    event read; at the block's exit that snapshot is the call's usage, whichever way the user
    read the stream (events, ``text_stream``, ``get_final_message()``).
    """
    original = getattr(owner, "stream", None)
    if original is None or getattr(original, _MARK, None) is not None:
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
        return _TrackedManager(original(*args, **kwargs), call, kind)

    setattr(tracked, _MARK, tracker)
    owner.stream = tracked


def _ask_for_usage(kwargs: dict[str, Any]) -> bool:
    """Ask an OpenAI chat stream for its usage chunk; True if the caller had not."""
    options = kwargs.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return False
    kwargs["stream_options"] = {
        **(options if isinstance(options, dict) else {}),
        "include_usage": True,
    }
    return True


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
        usage = _usage_of(kind.reader, snapshot) if snapshot is not None else None
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

    def _failed_to_open(self, exc: BaseException) -> None:
        self._call.end(failure(exc, self._call.api_type))

    def __enter__(self) -> Any:
        token = claimed.set(True)  # the helper sends its request here
        try:
            self._stream = self._manager.__enter__()
        except BaseException as exc:
            self._failed_to_open(exc)
            raise
        finally:
            claimed.reset(token)
        return self._stream

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        self._end(exc)
        return self._manager.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> Any:
        token = claimed.set(True)
        try:
            self._stream = await self._manager.__aenter__()
        except BaseException as exc:
            self._failed_to_open(exc)
            raise
        finally:
            claimed.reset(token)
        return self._stream

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        self._end(exc)
        return await self._manager.__aexit__(exc_type, exc, tb)
