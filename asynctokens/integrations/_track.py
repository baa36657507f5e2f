"""``tracker.track()``: log a call to any API the integrations do not know.

One object serves three uses: ``with``/``async with`` (one call, counts set with
``record()``), and a decorator (every call of the function is one call, its counts read from
what it returns: a ``Usage`` or any response ``usage_from()`` reads). On a generator
function (sync or async) the call is logged when the generator is exhausted, raises or is
closed, with the usage of the SDK chunks it yields (or, for a sync one, of what it returns).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import copy_context
from typing import TYPE_CHECKING, Any, TypeVar

from asynctokens.integrations._call import CallLog, call_site, failure
from asynctokens.integrations._dispatch import usage_of_result
from asynctokens.integrations._stream import wrap
from asynctokens.integrations._usage import Usage

if TYPE_CHECKING:
    from asynctokens.writer._tracker import TokenTracker

F = TypeVar("F", bound=Callable[..., Any])


class TrackedCall:
    """A timed call: logged once when the block exits, as a failure if it raised."""

    def __init__(
        self,
        tracker: TokenTracker,
        *,
        api_type: str,
        model: str,
        api_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if type(api_type) is not str or type(model) is not str:
            raise TypeError(
                f"track() needs api_type and model as str, got {api_type!r} and {model!r}"
            )
        self._tracker = tracker
        self._api_type = api_type
        self._model = model
        self._api_key = api_key
        self._metadata = metadata
        self._call: CallLog | None = None
        self._usage: Usage | None = None

    def record(
        self,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        *,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        request_id: str | None = None,
        model: str | None = None,
    ) -> None:
        """Set the call's counts (meanings as in ``log_tokens``); the last call wins."""
        self._usage = Usage(
            prompt_tokens,
            completion_tokens,
            cached_tokens,
            cache_write_tokens,
            reasoning_tokens,
            api_type=self._api_type,
            model=model or self._model,
            request_id=request_id,
        )

    def record_usage(self, usage: Usage) -> None:
        """Set the call's counts from a ``Usage`` (e.g. what ``usage_from()`` returned)."""
        self._usage = usage

    def _begin(self, depth: int) -> TrackedCall:
        if self._call is not None:
            raise RuntimeError(
                "This track() block was already used; call tracker.track(...) for each call."
            )
        self._tracker.budget_gate(self._api_type, self._model)
        self._call = CallLog(
            self._tracker,
            api_type=self._api_type,
            model=self._model,
            api_key=self._api_key,
            metadata=self._metadata,
            site=call_site(depth + 1),
        )
        return self

    def _end(self, exc: BaseException | None) -> None:
        call = self._call
        assert call is not None
        if exc is not None:
            call.end(failure(exc, self._api_type, self._usage))
        else:
            call.end(self._usage, self)

    def __enter__(self) -> TrackedCall:
        return self._begin(1)

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._end(exc)

    async def __aenter__(self) -> TrackedCall:
        return self._begin(1)

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._end(exc)

    def _fresh(self) -> TrackedCall:
        return TrackedCall(
            self._tracker,
            api_type=self._api_type,
            model=self._model,
            api_key=self._api_key,
            metadata=self._metadata,
        )

    def _returned(self, result: Any) -> Any:
        """A decorated call returned ``result``: log its counts (a Usage, or a reply)."""
        self._usage = usage_of_result(result)
        self._end(None)
        return result

    def __call__(self, fn: F) -> F:
        """As a decorator: every call of ``fn`` is one tracked call."""
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            def run_generator(*args: Any, **kwargs: Any) -> Any:
                call = self._fresh()._begin(1)._call
                assert call is not None
                call.context = copy_context()  # read elsewhere: the labels in force here
                return wrap(fn(*args, **kwargs), call)  # logged however it ends

            return run_generator  # type: ignore[return-value]

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                call = self._fresh()._begin(1)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    call._end(exc)
                    raise
                return call._returned(result)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            call = self._fresh()._begin(1)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                call._end(exc)
                raise
            return call._returned(result)

        return run  # type: ignore[return-value]
