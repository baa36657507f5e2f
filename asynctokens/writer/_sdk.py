"""The SDK entry points of ``TokenTracker`` (``log_response()``, ``wrap_stream()``,
``instrument()``, ``track()``): thin methods over ``integrations._entry``, imported the first
time one of them is called, so a tracker that only logs never loads an SDK reader.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asynctokens.integrations._track import TrackedCall
    from asynctokens.integrations._usage import Usage

_entry: ModuleType | None = None


def _sdk() -> ModuleType:
    """``integrations._entry``, imported the first time an SDK entry point is called."""
    global _entry
    if _entry is None:
        from asynctokens.integrations import _entry as module

        _entry = module
    return _entry


class SdkEntryPoints:
    """Logging straight from the SDKs: what a ``TokenTracker`` adds to ``log()``."""

    def log_response(
        self,
        obj: Any,
        *,
        latency_ms: float | None = None,
        api_key: str | None = None,
        metadata: dict[str, Any] | None = None,
        model: str | None = None,
    ) -> Usage | None:
        """Log the usage an SDK response (or SDK exception, or stream's items) carries:
        one event, counts in the file format's meaning (``usage_from``), under ``model`` (the
        one asked for; the object's otherwise), the object's own as ``response_model``. An
        object with no usage is not logged: a ``UsageMissingWarning`` says so, once per call
        site, and None is returned; otherwise the ``Usage`` that was logged."""
        return _sdk().log_response(  # type: ignore[no-any-return]
            self, obj, latency_ms=latency_ms, api_key=api_key, metadata=metadata, model=model
        )

    def wrap_stream(
        self,
        stream: Any,
        *,
        model: str | None = None,
        api_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Any:
        """Pass a sync or async stream through unchanged and log its call once at its end:
        read to the end, raised (a failure), or left early (``break``, ``close()``, garbage:
        marked as such); latency runs to that moment."""
        return _sdk().wrap_stream(self, stream, model=model, api_key=api_key, metadata=metadata)

    def instrument(self, client: Any) -> Any:
        """Log every call of one OpenAI, Anthropic or google.genai client (returned as is)."""
        return _sdk().instrument(self, client)

    def track(
        self,
        *,
        api_type: str,
        model: str,
        api_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> TrackedCall:
        """Time a call to any other API: a (sync or async) context manager or a decorator."""
        return _sdk().TrackedCall(  # type: ignore[no-any-return]
            self, api_type=api_type, model=model, api_key=api_key, metadata=metadata
        )
