"""Wrappers that pass a stream through unchanged and log it once, however it ends.

A stream ends in one of three ways and each is logged exactly once: it is read to the end
(its usage), it raises (a failure, with any counts reported before the error), or it is left
early (``break``, ``close()``, the wrapper garbage-collected: marked as abandoned). Every
other attribute reads through to the wrapped stream, so SDK helpers on it (``.response``,
``.close()``) keep working.

A stream of a few hundred chunks must cost the caller a few microseconds in all, so most
items pass unread: iterating gives a generator (no method call per item), and the folder
says, for each kind of item it read, which items of that class cannot matter from now on
(``quiet``: an OpenAI chunk without usage once the model is known, an Anthropic text delta);
those pass after one class test and one attribute test.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final, Generic, TypeVar

from asynctokens.integrations._call import CallLog, abandoned, failure
from asynctokens.integrations._dispatch import StreamUsage, new_stream_usage, usage_of_result
from asynctokens.integrations._usage import Usage

T = TypeVar("T")

#: Per item class, the attribute and its values that let an item pass unread (``quiet``):
#: a few values, compared with ``==`` (a list, as a value to test may be unhashable).
Rules = dict[type, tuple[str, list[Any]]]
#: What an item lacking the attribute reads as: no value of a rule, so it is fed.
_ABSENT: Final = object()


class _Tracked:
    """What the sync and async wrappers share: the folder, the call, and how it ends."""

    __slots__ = ("_call", "_folder", "_hide_usage_chunk", "_rules", "_stream")

    def __init__(self, stream: Any, call: CallLog, *, hide_usage_chunk: bool = False) -> None:
        self._stream = stream
        self._call = call
        self._folder: StreamUsage | None = None
        self._hide_usage_chunk = hide_usage_chunk
        self._rules: Rules = {}

    def _take(self, item: Any) -> bool:
        """Fold ``item`` into the usage; True when it must not reach the user. Learns from
        the folder which items of its class may pass unread from now on."""
        folder = self._folder
        if folder is None:
            folder = self._folder = new_stream_usage(item, self._stream)
            if folder is None:
                return False
        hide = folder.feed(item) and self._hide_usage_chunk
        cls = item.__class__
        if cls is not dict:  # a rule reads attributes: plain dicts are fed one by one
            learned = folder.quiet(item)
            if learned is not None:
                name, value = learned
                rule = self._rules.setdefault(cls, (name, []))
                if rule[0] == name and value not in rule[1]:
                    rule[1].append(value)
        return hide

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

    def __iter__(self) -> Iterator[T]:
        return self._items()

    def _items(self) -> Iterator[T]:
        """The items, each read or passed by its class's rule (the loop most of a stream's
        time is spent in: no call per item but the stream's own)."""
        it, rules, take = self._it, self._rules, self._take
        last, rule = None, None  # the class of the last item, and its rule
        while True:
            try:
                item = next(it)
                if item.__class__ is not last:
                    last = item.__class__
                    rule = rules.get(last)
                if rule is None or getattr(item, rule[0], _ABSENT) not in rule[1]:
                    last = None  # reading it may teach a rule for its class
                    if take(item):
                        continue  # the usage chunk we asked for: not the user's
            except StopIteration as stop:
                self._ended(stop.value)
                return
            except BaseException as exc:
                self._raised(exc)
                raise
            yield item

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

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        """The async form of ``TrackedStream._items``."""
        it, rules, take = self._it, self._rules, self._take
        last, rule = None, None
        while True:
            try:
                item = await anext(it)
                if item.__class__ is not last:
                    last = item.__class__
                    rule = rules.get(last)
                if rule is None or getattr(item, rule[0], _ABSENT) not in rule[1]:
                    last = None
                    if take(item):
                        continue
            except StopAsyncIteration:
                self._ended()
                return
            except BaseException as exc:
                self._raised(exc)
                raise
            yield item

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
