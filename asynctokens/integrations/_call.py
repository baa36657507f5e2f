"""Turning a ``Usage`` (or an exception) into one logged event: shared by every wrapper.

Each wrapper ends a call in one of four ways, and each has one meaning in the log:

* the provider reported usage: logged as it is;
* the call raised: a failure (``success=False``) with the error's status and type, plus any
  counts reported before the error (a stream that failed midway was billed for them);
* a stream was left before its end (``break``, ``close()``, garbage): a failure whose
  ``error_message`` says the counts are only those reported so far, or unknown;
* the call succeeded but the object carries no usage (an OpenAI stream without
  ``include_usage``, an endpoint that reports none): the request was billed, so it is
  logged, its counts 0 and marked unknown (``counts_unknown``: reports count such calls and
  call their totals a lower bound, never a silent 0), and a :class:`UsageMissingWarning` is
  shown once per call site.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from contextvars import Context, ContextVar
from dataclasses import replace
from types import CodeType
from typing import TYPE_CHECKING, Any, Final

from asynctokens._errors import UsageAdjustedWarning, UsageMissingWarning
from asynctokens.integrations._dispatch import usage_from
from asynctokens.integrations._usage import (
    ABANDONED_UNKNOWN,
    Fields,
    Usage,
    error_text,
    request_id_of,
    text,
    view,
)

if TYPE_CHECKING:
    from asynctokens.writer._tracker import TokenTracker


def failure(exc: BaseException, api_type: str, partial: Usage | None = None) -> Usage:
    """The usage of a call that raised ``exc``, keeping any counts reported before it."""
    try:
        error = usage_from(exc)
    except Exception:  # an exception whose attributes do not read as expected
        error = None
    if error is None:
        error = Usage(
            0,
            0,
            api_type=api_type,
            success=False,
            error_message=error_text(None, type(exc).__name__, str(exc)),
        )
    if partial is None:
        return error
    return replace(
        partial,
        success=False,
        error_message=error.error_message,
        request_id=partial.request_id or error.request_id,
    )


def abandoned(
    partial: Usage | None,
    api_type: str,
    model: str | None = None,
    request_id: str | None = None,
) -> Usage:
    """The usage of a stream left before its end; before any count, its counts unknown but
    the served ``model`` and ``request_id`` it had already given kept."""
    if partial is not None:
        return partial.abandoned()
    return Usage(
        0,
        0,
        api_type=api_type,
        model=model,
        request_id=request_id,
        success=False,
        error_message=ABANDONED_UNKNOWN,
        counts_unknown=True,
    )


def no_usage(api_type: str, model: str | None = None, request_id: str | None = None) -> Usage:
    """The usage of a billed reply that reported no counts: unknown, logged as 0."""
    return Usage(0, 0, api_type=api_type, model=model, request_id=request_id,
                 counts_unknown=True)  # fmt: skip


def named_by(obj: Any) -> tuple[str | None, str | None]:
    """The served model and request id a reply without usage names (``model``, GenAI's
    ``model_version``; the SDK's request id, else ``id`` or ``response_id``), so that its
    line still says which request it was."""
    try:
        v = view(obj)
        model = text(v.get("model")) or text(v.get("model_version"))
        sdk_id = text(getattr(obj, "_request_id", None))  # a private attribute, off the dict
        return model, sdk_id or request_id_of(v) or text(v.get("response_id"))
    except Exception:  # an object that does not read as a reply: nothing named
        return None, None


def warn_no_usage(obj: Any, site: Site | None, stacklevel: int = 3, logged: bool = False) -> None:
    """Say once per call site that a call carried no usage: it was ``logged`` with its
    counts unknown, or not logged at all (an object given to ``log_response()``)."""
    message = (
        f"asynctokens: {type(obj).__name__} carries no token usage, so this call was "
        + ("logged with its counts unknown" if logged else "not logged")
        + " (for an OpenAI chat stream, pass stream_options={'include_usage': True},"
        " or use tracker.instrument(client), which asks for it)"
    )
    if site is None:
        warnings.warn(message, UsageMissingWarning, stacklevel=stacklevel)
        return
    code, offset, module_globals = site
    warnings.warn_explicit(
        message,
        UsageMissingWarning,
        code.co_filename,
        _line_at(code, offset),
        module=str(module_globals.get("__name__", "?")),
        registry=module_globals.setdefault("__warningregistry__", {}),
    )


#: Where the user called us: the code, the offset of the call in it, and its globals. The
#: line is worked out from the offset only when a warning needs it: ``frame.f_lineno``
#: decodes the code's line table (about 3,000 instructions), on every streamed call.
Site = tuple[CodeType, int, dict[str, Any]]


def call_site(depth: int) -> Site | None:
    """Where the user called us, ``depth`` frames up, for a warning shown later."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return None
    return frame.f_code, frame.f_lasti, frame.f_globals


def _line_at(code: CodeType, offset: int) -> int:
    """The line of the instruction at byte ``offset`` of ``code`` (its first line if none)."""
    for start, end, line in code.co_lines():
        if start <= offset < end and line is not None:
            return line
    return code.co_firstlineno


#: The requests one call sent, each waiting to be logged with the metadata its siblings
#: share (None when it is alone; ``log_held``).
Held = list[Callable[[dict[str, Any] | None], None]]


def _call(fn: Callable[..., None], *args: Any) -> None:
    fn(*args)


def _runner(context: Context | None) -> Callable[..., None]:
    """How a call's line is logged: in the context its request was made in, when it kept
    one (a stream's: its labels, wherever it was read; a held line's, whenever its call's
    requests are logged), else in the context it is logged from."""
    return _call if context is None else context.run


def _with(metadata: dict[str, Any] | None, shared: dict[str, Any] | None) -> dict[str, Any] | None:
    return metadata if shared is None else {**(metadata or {}), **shared}


class CallLog:
    """One call being tracked: what to log it with, and when it started."""

    __slots__ = (
        "api_key", "api_type", "context", "done", "held", "metadata", "model", "once", "site",
        "start", "tracker",
    )  # fmt: skip

    def __init__(
        self,
        tracker: TokenTracker,
        api_type: str = "unknown",
        model: str | None = None,
        api_key: str | None = None,
        metadata: dict[str, Any] | None = None,
        site: Site | None = None,
    ) -> None:
        self.tracker = tracker
        self.api_type = api_type
        self.model = model
        self.api_key = api_key
        self.metadata = metadata
        self.site = site
        self.start = time.perf_counter()
        #: True once the call was logged, or ended with nothing to log: a stream ends once.
        self.done = False
        #: Where a request of a call that may send several waits to be logged, with its
        #: siblings when the call returns (``_wrap.link_requests``).
        self.held: Held | None = None
        #: For a stream of a stored response (OpenAI Responses): False for a response id
        #: logged before, which the stream must not log again (``_wrap.At.first_time``).
        self.once: Callable[[str | None], bool] | None = None
        #: For a call that ends later, elsewhere (a stream): the context it was made in, so
        #: its line carries the labels in force there, not where the stream happens to be
        #: read to its end (a web framework reads a streamed reply after the handler, and
        #: its ``labels()`` block, returned).
        self.context: Context | None = None

    def latency_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000.0

    def skip(self) -> None:
        """End without logging: nothing billed to log here (a job still queued)."""
        self.done = True

    def end(self, usage: Usage | None, obj: Any = None, stacklevel: int = 1,
            seen: tuple[str | None, str | None] = (None, None)) -> None:  # fmt: skip
        """Log the call once; later calls do nothing (a stream ends only once).

        A missing usage is warned about at ``site``, else ``stacklevel`` frames above the
        caller of this method (1: that caller itself), and logged as unknown counts with
        the served model and request id ``seen`` (what a stream named before it ended).
        """
        if self.done:
            return
        self.done = True
        if usage is None:  # a billed reply without counts: logged, its counts unknown
            warn_no_usage(obj, self.site, stacklevel + 2, logged=True)  # + this, + warn_...
            usage = no_usage(self.api_type, *(seen if any(seen) else named_by(obj)))
        run, latency_ms = _runner(self.context), self.latency_ms()
        if self.held is not None:
            self.held.append(
                lambda shared: run(self.log, usage, latency_ms, _with(self.metadata, shared))
            )
            return
        run(self.log, usage, latency_ms, self.metadata)

    def end_fields(self, fields: Fields) -> None:
        """Log the call once from the fields of a reply of the common shape (a provider's
        ``fast_fields``): no ``Usage``, the fast path a stream's end shares with a whole
        reply's."""
        if self.done:
            return
        self.done = True
        latency_ms = self.latency_ms()
        tracker, api_type, key, model, metadata = (
            self.tracker, self.api_type, self.api_key, self.model, self.metadata
        )  # fmt: skip
        run = _runner(self.context)
        if self.held is not None:
            self.held.append(
                lambda shared: run(
                    log_fields, tracker, api_type, key, fields, model, latency_ms,
                    _with(metadata, shared)
                )
            )  # fmt: skip
            return
        run(log_fields, tracker, api_type, key, fields, model, latency_ms, metadata)

    def log(self, usage: Usage, latency_ms: float, metadata: dict[str, Any] | None) -> None:
        try:
            log_usage(
                self.tracker,
                usage,
                latency_ms=latency_ms,
                api_key=self.api_key,
                metadata=metadata,
                model=self.model,
                api_type=self.api_type,
            )
        except Exception as exc:  # a closed tracker must not break the user's call
            warnings.warn(
                f"asynctokens could not log a {usage.api_type} call: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )


#: What a method wrapper sets ``claimed`` to while it sends the request it logs itself: the
#: failed attempts the SDK's retries may follow, as the transport saw them (each the response
#: or exception, its call, and its line waiting to be logged). Empty for a call answered at
#: the first try, as most are.
Claim = list[tuple[Any, "CallLog", Callable[[dict[str, Any] | None], None]]]
#: Set while a method wrapper sends its request: the transport observer (``_transport``)
#: leaves a claimed request to the wrapper, so no request is counted twice, and keeps only
#: its failed attempts (an SDK retries 429s, 5xx and timeouts inside the one method call).
claimed: ContextVar[Claim | None] = ContextVar("asynctokens_claimed", default=None)

#: The metadata key the requests of one call share when it sent several.
OPERATION_KEY: Final = "asynctokens.operation_id"


def retried(claim: Claim, exc: BaseException | None, model: str | None) -> Held:
    """The lines of the failed attempts the SDK retried before a call's last request. The
    one ``exc`` reports is that last request, logged from ``exc`` as any failed call. An
    attempt whose request did not name its model (Gemini's is in the URL) takes the call's."""
    if claim and exc is not None:
        last = claim[-1][0]
        if last is exc or last is getattr(exc, "response", None) or last is exc.__cause__:
            del claim[-1]
    for _seen, call, _log in claim:
        if call.model is None:
            call.model = model
    return [log for _seen, _call, log in claim]


#: Set on an exception that is not an error (a task cancelled, Ctrl-C) when it reached the
#: transport with a request in flight: that request is the call's last one.
IN_FLIGHT: Final = "_asynctokens_in_flight"


def between_attempts(claim: Claim, exc: BaseException) -> bool:
    """Whether ``exc`` ended a call while no request was in flight (a task cancelled during
    the SDK's back-off before a retry): the provider saw only the failed attempts, which are
    logged (``log_retried``); the call itself adds no line."""
    return bool(claim) and not isinstance(exc, Exception) and not getattr(exc, IN_FLIGHT, False)


def end_failed(call: CallLog, claim: Claim, exc: BaseException, api_type: str) -> None:
    """End a call that raised ``exc``: the failed attempts the SDK retried first, then the
    call's own line, from ``exc``; none when it was cancelled between attempts (the
    provider saw only those, linked when there were several)."""
    if between_attempts(claim, exc):
        attempts = retried(claim, None, call.model)
        call.skip()
        if call.held is not None:
            call.held.extend(attempts)
            return
        log_held(attempts)
        return
    call.metadata = log_retried(retried(claim, exc, call.model), call.held)
    call.end(failure(exc, api_type))


def log_held(held: Held) -> None:
    """Log the requests one call sent: alone, as any call; several, sharing an operation id
    (so a call that sent one request pays for no id, and its line is the plain one)."""
    shared = {OPERATION_KEY: os.urandom(8).hex()} if len(held) > 1 else None
    for log in held:
        log(shared)


def link_retried(call: CallLog, claim: Claim) -> None:
    """A call that succeeded after failed attempts (``claim`` not empty): log those, and
    link the call's own line to them."""
    call.metadata = log_retried(retried(claim, None, call.model), call.held)


def log_retried(attempts: Held, held: Held | None) -> dict[str, Any] | None:
    """Log the failed attempts before a call's last request; the metadata that links that
    request to them (None when there were none). Within a call that holds its requests
    (``held``), they join its other requests instead."""
    if not attempts:
        return None
    if held is not None:
        held.extend(attempts)
        return None
    shared = {OPERATION_KEY: os.urandom(8).hex()}
    for log in attempts:
        log(shared)
    return shared


#: The metadata key of a line whose counts were adjusted: a list of what was changed.
ADJUSTMENTS_KEY: Final = "asynctokens.adjustments"


def log_fields(tracker: TokenTracker, api_type: str, api_key: str | None, fields: Fields,
               model: str | None, latency_ms: float,
               metadata: dict[str, Any] | None) -> None:  # fmt: skip
    """Log a reply of the common shape from its fields, under the model asked for
    (``model``, else the one the reply names), with the served one when it differs: what
    ``log_usage`` writes for such a reply, in one positional call of ``tracker._log_read``
    (the fields are checked: ``fast_fields``)."""
    prompt, completion, cached, written, reasoning, served, request_id, tier, hour = fields
    requested = model or served or "unknown"
    try:
        tracker._log_read(prompt, completion, api_type, requested, cached, written, reasoning,
                         latency_ms, api_key, request_id, metadata,
                         None if served == requested else served, tier, hour)  # fmt: skip
    except Exception as exc:  # a closed tracker must not break the user's call
        warnings.warn(f"asynctokens could not log a {api_type} call: {exc}",
                      RuntimeWarning, stacklevel=4)  # fmt: skip


def log_usage(
    tracker: TokenTracker,
    usage: Usage,
    *,
    latency_ms: float | None,
    api_key: str | None,
    metadata: dict[str, Any] | None,
    model: str | None,
    api_type: str = "unknown",
) -> None:
    """Log one call's usage under the model asked for (``model``; the one the reply names
    when the call did not say), with the one the reply names as ``response_model`` when it
    differs (a snapshot: reports group a call site's successes and failures by the first and
    price by the second), the service tier the reply reports, and under ``api_type`` (the
    client's endpoint) when known, else the provider the reply is read as.

    A call that is no chat (embeddings) says so in its metadata under the OpenTelemetry
    name ``gen_ai.operation.name``, which the OpenTelemetry sink reads; chat, the common
    case, adds nothing to the line.
    """
    if usage.operation != "chat":
        metadata = {**(metadata or {}), "gen_ai.operation.name": usage.operation}
    if usage.adjustments:
        metadata = {**(metadata or {}), ADJUSTMENTS_KEY: list(usage.adjustments)}
        warnings.warn(
            f"asynctokens logged a {usage.api_type} reply ({usage.model or model or 'unknown'})"
            f" with its counts adjusted: {'; '.join(usage.adjustments)}",
            UsageAdjustedWarning,
            stacklevel=2,
        )
    requested = model or usage.model or "unknown"
    served = usage.model if usage.model != requested else None
    tracker.log(
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.api_type if api_type == "unknown" else api_type,
        requested,
        usage.success,
        usage.error_message,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        latency_ms=latency_ms,
        api_key=api_key,
        request_id=usage.request_id,
        metadata=metadata,
        response_model=served,
        service_tier=usage.service_tier,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        counts_unknown=usage.counts_unknown,
    )
