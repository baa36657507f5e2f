"""Wrappers that pass a stream through unchanged and log it once, however it ends.

A stream ends in one of three ways and each is logged exactly once: it is read to the end
(its usage), it raises (a failure, with any counts reported before the error), or it is left
early (``break``, ``close()``, the wrapper garbage-collected: marked as abandoned). Every
other attribute reads through to the wrapped stream, so SDK helpers on it (``.response``,
``.close()``) keep working.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

from asynctokens.integrations._call import CallLog, abandoned, failure
from asynctokens.integrations._dispatch import StreamUsage, new_stream_usage, usage_of_result
from asynctokens.integrations._usage import Usage

T = TypeVar("T")


class _Tracked:
    """What the sync and async wrappers share: the folder, the call, and how it ends."""

    __slots__ = ("_call", "_folder", "_hide_usage_chunk", "_stream")

    def __init__(self, stream: Any, call: CallLog, *, hide_usage_chunk: bool = False) -> None:
        self._stream = stream
        self._call = call
        self._folder: StreamUsage | None = None
        self._hide_usage_chunk = hide_usage_chunk

    def _take(self, item: Any) -> bool:
        """Fold ``item`` into the usage; True when it must not reach the user."""
        folder = self._folder
        if folder is None:
            folder = self._folder = new_stream_usage(item, self._stream)
            if folder is None:
                return False
        return folder.feed(item) and self._hide_usage_chunk

    def _usage(self) -> Usage | None:
        return None if self._folder is None else self._folder.result()

    def _ended(self, returned: Any = None) -> None:
        """Read to the end: the usage folded from its items, else of what a generator
        returned (a ``Usage``, or a reply ``usage_from()`` reads)."""
        usage = self._usage()
        if usage is None and returned is not None:
            usage = usage_of_result(returned)
        self._call.end(usage, self._stream if returned is None else returned)

    def _seen(self) -> tuple[str | None, str | None]:
        """The served model and request id received so far: a stream cut before its usage
        still says which request it was."""
        return (None, None) if self._folder is None else self._folder.seen()

    def _raised(self, exc: BaseException) -> None:
        if not self._call.done:
            partial = self._usage()
            model, request_id = self._seen()
            if partial is None and (model or request_id):
                partial = Usage(
                    0, 0, api_type=self._call.api_type, model=model, request_id=request_id
                )
            self._call.end(failure(exc, self._call.api_type, partial))

    def _left(self) -> None:
        if not self._call.done:
            self._call.end(abandoned(self._usage(), self._call.api_type, *self._seen()))

    def __getattr__(self, name: str) -> Any:
        # only names the wrapper lacks get here; its own slots, unset while __init__ failed,
        # must not be looked up on the stream (that would recurse through this method)
        if name in _OWN:
            raise AttributeError(name)
        return getattr(self._stream, name)

    def __del__(self) -> None:
        # at interpreter exit the tracker may be gone: then there is nothing to do
        with contextlib.suppress(Exception):
            self._left()


class TrackedStream(_Tracked, Generic[T]):
    """A sync stream (an SDK ``Stream``, a generator) that logs its call once."""

    __slots__ = ("_it",)

    def __init__(self, stream: Any, call: CallLog, *, hide_usage_chunk: bool = False) -> None:
        super().__init__(stream, call, hide_usage_chunk=hide_usage_chunk)
        self._it: Iterator[T] = iter(stream)

    def __iter__(self) -> TrackedStream[T]:
        return self

    def __next__(self) -> T:
        try:
            while True:
                item = next(self._it)
                if not self._take(item):
                    return item
        except StopIteration as stop:
            self._ended(stop.value)
            raise
        except BaseException as exc:
            self._raised(exc)
            raise

    def close(self) -> None:
        """Log the call (as abandoned if it was not read to the end), then close the stream."""
        self._left()
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> TrackedStream[T]:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self._raised(exc)
        self.close()


class AsyncTrackedStream(_Tracked, Generic[T]):
    """An async stream (an SDK ``AsyncStream``, an async generator) that logs its call once."""

    __slots__ = ("_it",)

    def __init__(self, stream: Any, call: CallLog, *, hide_usage_chunk: bool = False) -> None:
        super().__init__(stream, call, hide_usage_chunk=hide_usage_chunk)
        self._it: AsyncIterator[T] = stream.__aiter__()

    def __aiter__(self) -> AsyncTrackedStream[T]:
        return self

    async def __anext__(self) -> T:
        try:
            while True:
                item = await self._it.__anext__()
                if not self._take(item):
                    return item
        except StopAsyncIteration:
            self._ended()
            raise
        except BaseException as exc:
            self._raised(exc)
            raise

    async def aclose(self) -> None:
        """Log the call (as abandoned if it was not read to the end), then close the stream."""
        self._left()
        for name in ("aclose", "close"):
            close = getattr(self._stream, name, None)
            if close is not None:
                await close()
                return

    close = aclose

    async def __aenter__(self) -> AsyncTrackedStream[T]:
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self._raised(exc)
        await self.aclose()


_OWN = frozenset({*_Tracked.__slots__, "_it"})


def wrap(stream: Any, call: CallLog, *, hide_usage_chunk: bool = False) -> Any:
    """The right wrapper for ``stream``: async when it is an async iterable."""
    if hasattr(stream, "__aiter__"):
        return AsyncTrackedStream(stream, call, hide_usage_chunk=hide_usage_chunk)
    return TrackedStream(stream, call, hide_usage_chunk=hide_usage_chunk)
