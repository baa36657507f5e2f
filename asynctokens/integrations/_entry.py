"""The SDK entry points of ``TokenTracker``: what its ``log_response()``, ``wrap_stream()``,
``instrument()`` and ``track()`` do, built on the tracker's public ``log()``.

The tracker imports this module the first time one of them is called, so a tracker that only
logs never loads an SDK reader, and nothing here is imported by the writer at start-up
(``tests/test_architecture.py``).
"""

from __future__ import annotations

from contextvars import copy_context
from typing import TYPE_CHECKING, Any

from asynctokens.integrations import _call, _stream
from asynctokens.integrations._dispatch import usage_from
from asynctokens.integrations._instrument import instrument as instrument
from asynctokens.integrations._track import TrackedCall as TrackedCall
from asynctokens.integrations._usage import Usage

if TYPE_CHECKING:
    from asynctokens.writer._tracker import TokenTracker


def log_response(
    tracker: TokenTracker,
    obj: Any,
    *,
    latency_ms: float | None,
    api_key: str | None,
    metadata: dict[str, Any] | None,
    model: str | None,
) -> Usage | None:
    """One event for the usage ``obj`` carries; a warning (at the user's call, two frames
    up: the tracker's method, then its caller) and None when it carries none."""
    usage = usage_from(obj)
    if usage is None:
        _call.warn_no_usage(obj, None, stacklevel=4)
        return None
    _call.log_usage(
        tracker, usage, latency_ms=latency_ms, api_key=api_key, metadata=metadata, model=model
    )
    return usage


def wrap_stream(
    tracker: TokenTracker,
    stream: Any,
    *,
    model: str | None,
    api_key: str | None,
    metadata: dict[str, Any] | None,
) -> Any:
    """The stream, passed through, logged once at its end; a warning about a missing usage
    points at the user's call (the tracker's method's caller)."""
    call = _call.CallLog(
        tracker, model=model, api_key=api_key, metadata=metadata, site=_call.call_site(2)
    )
    call.context = copy_context()  # read elsewhere: the labels in force here
    return _stream.wrap(stream, call)
