"""The method wrapper ``instrument()`` puts on each SDK method that sends a request: each
call logged once, from the SDK's own reply, with the least work a common reply allows.

A whole reply of the common shape is read by its provider's ``fast_fields`` and queued
with one ``tracker.log`` call, with no ``Usage`` and no ``CallLog``: that path runs around
every SDK call, with the CPU's caches cold from the SDK's own work, and each Python call it
saves is measurable (``python -m benchmarks.sdk_bench``). Streams, stored replies fetched
again, failures, odd counts and replies without usage take the general path (``finish``),
which reads the reply with the provider's ``usage_of`` and logs through a ``CallLog``.
"""

from __future__ import annotations

import functools
import inspect
import sys
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from time import perf_counter
from types import CoroutineType, FrameType, ModuleType
from typing import TYPE_CHECKING, Any, Final

from asynctokens.integrations import _asking
from asynctokens.integrations._call import (
    CallLog,
    Claim,
    Held,
    call_site,
    claimed,
    end_failed,
    link_retried,
    log_fields,
    log_held,
    log_retried,
    retried,
)
from asynctokens.integrations._stream import wrap
from asynctokens.integrations._usage import Fields, Usage

if TYPE_CHECKING:
    from asynctokens.writer._tracker import TokenTracker

#: Set on each wrapper, naming its tracker: a method is wrapped once.
MARK: Final = "__asynctokens_tracker__"

#: The header the OpenAI and Anthropic SDKs send with a raw or streaming-response call.
_RAW_HEADER: Final = "x-stainless-raw-response"


def _raw(kwargs: dict[str, Any]) -> bool:
    """A ``with_raw_response`` or ``with_streaming_response`` call: the transport logs it."""
    headers = kwargs.get("extra_headers")
    return isinstance(headers, dict) and any(
        isinstance(name, str) and name.lower() == _RAW_HEADER for name in headers
    )


#: The requests of the user's call being made, held until it returns (``link_requests``).
_operation: ContextVar[Held | None] = ContextVar("asynctokens_operation", default=None)


def link_requests(at: At, owner: Any, name: str) -> None:
    """The public method whose requests (tool hops, continuations) are logged one by one:
    they are held until it returns, then logged, linked by one operation id when several."""
    original = getattr(owner, name, None)
    if original is None or getattr(original, MARK, None) is not None:
        return
    asynchronous = inspect.iscoroutinefunction(inspect.unwrap(original))
    if asynchronous:

        @functools.wraps(original)
        async def linked_async(*args: Any, **kwargs: Any) -> Any:
            held: Held = []
            token = _operation.set(held)
            try:
                return await original(*args, **kwargs)
            finally:
                _operation.reset(token)
                log_held(held)

        linked: Any = linked_async
    else:

        @functools.wraps(original)
        def linked(*args: Any, **kwargs: Any) -> Any:
            held: Held = []
            token = _operation.set(held)
            try:
                return original(*args, **kwargs)
            finally:
                _operation.reset(token)
                log_held(held)

    setattr(linked, MARK, at.tracker)
    setattr(owner, name, linked)


def link_stream_requests(at: At, owner: Any, name: str) -> None:
    """The public stream method whose requests (tool hops, continuations) are logged one by
    one: held until its stream ends (read to its end, left or failed), then logged, linked
    by one operation id when several. A request of its finds them with ``stream_held``."""
    original = getattr(owner, name, None)
    if original is None or getattr(original, MARK, None) is not None:
        return
    if inspect.iscoroutinefunction(inspect.unwrap(original)):

        @functools.wraps(original)
        async def linked_async(*args: Any, **kwargs: Any) -> Any:
            # the SDK's coroutine makes the stream, and sends nothing until it is read
            return _held_async(await original(*args, **kwargs), Hops())

        linked: Any = linked_async
    elif inspect.isgeneratorfunction(inspect.unwrap(original)):

        @functools.wraps(original)
        def linked(*args: Any, **kwargs: Any) -> Any:
            return _held(original(*args, **kwargs), Hops())

    else:  # a method that may send before it returns: its requests are logged one by one
        return
    setattr(linked, MARK, at.tracker)
    setattr(owner, name, linked)


class Hops(Held):
    """The requests of a linked stream call, held until it ends; its requests' streams: the
    layer ends those as left when it ends (an async generator the user leaves is closed
    only later, by the event loop, and its line would come after the others); and the
    context the call was made in: the SDK sends its first request only when the stream is
    first read, maybe elsewhere, and its lines carry the labels of the call."""

    __slots__ = ("context", "streams")

    def __init__(self) -> None:
        super().__init__()
        self.streams: list[Any] = []
        self.context = copy_context()


def _held(stream: Iterator[Any], held: Hops) -> Iterator[Any]:
    """``stream``, the requests of whose hops wait in ``held`` until it ends. ``yield
    from`` passes each chunk with no Python of ours, and closes ``stream`` first when the
    user leaves early."""
    try:
        yield from stream
    finally:
        try:
            for hop in held.streams:
                hop.close()  # a hop left: logged as left, into ``held``
        finally:
            log_held(held)


async def _held_async(stream: AsyncIterator[Any], held: Hops) -> AsyncIterator[Any]:
    """The async form of ``_held`` (an async generator cannot ``yield from``)."""
    try:
        async for item in stream:
            yield item
    finally:
        try:
            for hop in held.streams:
                await hop.aclose()
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            log_held(held)


#: The frames ``stream_held`` looks for.
_LAYERS: Final = frozenset({_held.__code__, _held_async.__code__})


#: How many frames up ``stream_held`` looks: a hop's request starts 4 or 5 frames below the
#: layer (this wrapper's two, the SDK's continuation and stream generators).
_HOP_DEPTH: Final = 12


def stream_held() -> Held | None:
    """The list the requests of the stream being read wait in, when a request starts while
    a ``link_stream_requests`` stream is being read (None otherwise): found as a local of
    that layer's frame, up the stack. A hop starts inside the SDK's generator, called from
    the layer's ``next()``; while the user's code runs, the layer is suspended, off the
    stack, so a call the user makes between two chunks is not taken for a hop. Looked up
    once per request, where a context variable set around each ``next()`` would cost every
    chunk of every stream."""
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_HOP_DEPTH):
        if frame is None:
            return None
        if frame.f_code in _LAYERS:
            held: Hops = frame.f_locals["held"]
            return held
        frame = frame.f_back
    return None


#: Per tracker, the ids of the stored responses it logged (the last 10,000), whichever of
#: its clients or their copies logged them: one retrieved again is billed once.
_LOGGED: weakref.WeakKeyDictionary[Any, OrderedDict[str, None]] = weakref.WeakKeyDictionary()
#: Per tracker, the model each background job it saw started asked for (the last 10,000):
#: the finished job names only the served snapshot, and is logged under the name asked for.
_ASKED: weakref.WeakKeyDictionary[Any, OrderedDict[str, str | None]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class At:
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
NEVER, ALWAYS, IF_ASKED = 0, 1, 2


def read_usage(reader: ModuleType, result: Any) -> Usage | None:
    try:
        return reader.usage_of(result)  # type: ignore[no-any-return]
    except Exception:  # a reply of an unexpected shape is not the user's error
        return None


def wrap_method(
    at: At,
    owner: Any,
    name: str,
    reader: ModuleType,
    streams: int,
    *,
    inject_usage: bool = False,
    stored: bool = False,
    fetches: bool = False,
    hops: bool = False,
) -> None:
    """Replace ``owner.name`` (sync or async) by a version that logs each call once.

    ``stored``: the method's reply is stored by the provider under an id and can be fetched
    again (OpenAI Responses), or is a background job not done yet (not logged); its id is
    remembered. ``fetches``: the method fetches such a reply (``responses.retrieve``), which
    may have been logged already, when it was made or fetched before: then not again.
    ``hops``: the method sends one of the requests of a stream method whose requests are
    linked (``link_stream_requests``).

    The added work is kept small and flat (it runs around every SDK call, with cold caches
    after the SDK's own work): no stack inspection unless the call streams, one reader
    called directly, one log call.
    """
    original = getattr(owner, name, None)
    if original is None or getattr(original, MARK, None) is not None:
        return  # a method this SDK version lacks, or one wrapped already
    tracker, api_type = at.tracker, at.api_type
    key = at.api_key if isinstance(at.api_key, str) else None
    logged_as = reader.API_TYPE if api_type == "unknown" else api_type
    # decided once: the async SDK methods are coroutine functions under their decorators
    asynchronous = inspect.iscoroutinefunction(inspect.unwrap(original))
    fast = reader.fast_fields
    endpoint = _asking.endpoint_of(owner) if inject_usage else ""
    # a frozen config: without a budget that refuses calls, no call needs the gate
    gated = any(budget.enforce for budget in tracker.config.budgets)

    def log_reply(fields: Fields, result: Any, model: str | None, start: float,
                  held: Held | None, linked: dict[str, Any] | None) -> None:  # fmt: skip
        """Log a whole reply of the common shape from its fields (``fast_fields``), with
        no ``Usage`` and no ``CallLog``: one of the requests of a call that may send several
        waits in ``held`` until that call returns; ``linked``: the metadata linking it to
        the failed attempts the SDK retried before it."""
        latency_ms = (perf_counter() - start) * 1000.0
        if stored:  # remembered, so that a retrieve() of it is not counted again
            at.first_time(reader.finished_id(result))
        if held is not None:
            held.append(
                lambda shared: log_fields(
                    tracker, logged_as, key, fields, model, latency_ms, shared
                )
            )
        else:
            log_fields(tracker, logged_as, key, fields, model, latency_ms, linked)

    def finish(result: Any, call: CallLog, stream: bool, hide: bool) -> Any:
        if stream:
            tracked = wrap(result, call, hide_usage_chunk=hide, returns=False, reader=reader)
            if type(call.held) is Hops:  # a hop of a linked stream: ended with it
                call.held.streams.append(tracked)
            return tracked
        if stored and reader.unfinished(result):  # a background job not done yet: later
            at.asked(reader.finished_id(result), call.model)
            call.skip()
            return result
        if fetches and call.model is None:  # the model its create() asked for, if seen
            call.model = at.asked(reader.finished_id(result))
        usage = read_usage(reader, result)
        # every stored reply's id is remembered; one fetched again was logged when first seen
        seen = stored and usage is not None and not at.first_time(reader.finished_id(result))
        if seen and fetches:
            call.skip()
            return result
        # the user's call is 3 frames up from here (finish, then tracked or finish_async)
        call.end(usage, result, stacklevel=3)
        return result

    async def finish_async(pending: Awaitable[Any], call: CallLog, stream: bool, hide: bool,
                           again: Callable[[], Awaitable[Any]] | None = None) -> Any:  # fmt: skip
        """``again``: the call as the user made it, for an endpoint that refuses to be
        asked for a stream's usage (``_asking``)."""
        claim: Claim = []
        token = claimed.set(claim)  # the request is sent while this awaits
        try:
            try:
                result = await pending
            except Exception as exc:
                if again is None or not _asking.refused(exc):
                    raise
                claim.clear()  # our question's refusal: not the user's request
                hide = False
                result = await again()
        except BaseException as exc:
            end_failed(call, claim, exc, api_type)
            raise
        finally:
            claimed.reset(token)
        if claim:
            link_retried(call, claim)
        if not stream and not fetches:
            fields = fast(result)
            if fields is not None:
                log_reply(fields, result, call.model, call.start, call.held, call.metadata)
                return result
        return finish(result, call, stream, hide)

    @functools.wraps(original)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("extra_headers") is not None and _raw(kwargs):
            return original(*args, **kwargs)  # read and logged at the transport
        stream = streams == ALWAYS or (streams == IF_ASKED and kwargs.get("stream") is True)
        if stream:
            return streamed(args, kwargs)
        model = kwargs.get("model")
        if type(model) is not str:
            model = None
        if gated:
            tracker.budget_gate(api_type, model)
        held = _operation.get()
        start = perf_counter()
        claim: Claim = []
        token = claimed.set(claim)  # logged here: the transport keeps only failed attempts
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            _failed(tracker, api_type, model, key, start, held, exc, claim)
            raise
        finally:
            claimed.reset(token)
        if asynchronous or type(result) is CoroutineType:
            call = CallLog(tracker, api_type, model, key)
            call.start, call.held = start, held
            return finish_async(result, call, False, False)
        linked = log_retried(retried(claim, None, model), held) if claim else None
        if not fetches:
            fields = fast(result)
            if fields is not None:  # the common reply: read flat, logged at once
                log_reply(fields, result, model, start, held, linked)
                return result
        call = CallLog(tracker, api_type, model, key, linked)
        call.start, call.held = start, held
        return finish(result, call, False, False)

    def streamed(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A call that returns a stream: logged when the stream ends, wherever that is."""
        asked = _asking.NOT_ASKED
        if inject_usage:
            # the usage arrives in one extra chunk with no choices: ask for it, and keep that
            # chunk from the user, who then sees the stream they asked for
            asked = _asking.ask(kwargs, endpoint)
        hide = asked is not _asking.NOT_ASKED

        def again() -> Any:
            """The call as the user made it: the endpoint refused our question."""
            _asking.withdraw(kwargs, asked, endpoint)
            return original(*args, **kwargs)

        model = kwargs.get("model")
        if gated:
            tracker.budget_gate(api_type, model if type(model) is str else None)
        # a stream ends later, elsewhere: remember where it was asked for (the user's call,
        # 2 frames up: streamed, tracked), for a warning
        call = CallLog(
            tracker, logged_as, model if type(model) is str else None, key, None, call_site(2)
        )
        call.held = held = _operation.get()
        if held is None and hops:  # a hop of a stream that may send several
            call.held = held = stream_held()
        # its line carries the labels in force here, or where its stream call was made
        call.context = held.context if type(held) is Hops else copy_context()
        if stored:  # its response, once finished, may be fetched again: counted once
            call.once = at.first_time
        claim: Claim = []
        token = claimed.set(claim)
        try:
            try:
                result = original(*args, **kwargs)
            except Exception as exc:
                if not hide or not _asking.refused(exc):
                    raise
                claim.clear()  # our question's refusal: not the user's request
                hide = False
                result = again()
        except BaseException as exc:
            end_failed(call, claim, exc, api_type)
            raise
        finally:
            claimed.reset(token)
        if claim:
            link_retried(call, claim)
        if asynchronous or type(result) is CoroutineType:
            return finish_async(result, call, True, hide, again if hide else None)
        return finish(result, call, True, hide)

    setattr(tracked, MARK, tracker)
    setattr(owner, name, tracked)


def _failed(tracker: TokenTracker, api_type: str, model: str | None, key: str | None,
            start: float, held: Any, exc: BaseException, claim: Claim) -> None:  # fmt: skip
    """Log a call that raised, after the failed attempts the SDK retried before it (the
    failure path: a CallLog is made only here)."""
    call = CallLog(tracker, api_type, model, key)
    call.start, call.held = start, held
    end_failed(call, claim, exc, api_type)
