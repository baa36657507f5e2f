"""Wrappers that pass a stream through unchanged and log it once, however it ends.

A stream ends in one of three ways and each is logged exactly once: it is read to the end
(its usage), it raises (a failure, with any counts reported before the error), or it is left
early (``break``, ``close()``, the wrapper garbage-collected: marked as abandoned). Every
other attribute reads through to the wrapped stream, so SDK helpers on it (``.response``,
``.close()``) keep working.

A stream of a few hundred chunks must cost the caller a few microseconds in all, so most
items pass unread: iterating gives a generator (no method call per item), and the folder
says, for each kind of item it read, which items of that class cannot matter from now on
(``quiet``). Those pass after a class test alone when the class can only hold them (a
pydantic event class whose ``type`` is a one-value ``Literal``: an Anthropic text delta, a
Responses text delta; a GenAI chunk once its model is known), else after one attribute test
too (an OpenAI chat chunk without usage). The last item passed unread is kept, and read when
the stream ends however it ends: for a GenAI stream, whose chunks carry running totals, it is
the one that counts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from types import GeneratorType, ModuleType
from typing import Any, Final, Generic, TypeVar

from asynctokens.integrations._call import CallLog, abandoned, failure, no_usage
from asynctokens.integrations._dispatch import StreamUsage, provider_of, usage_of_result
from asynctokens.integrations._usage import EVERY, Usage, only_value

T = TypeVar("T")

#: Per item class, the attribute and its values that let an item pass unread (``quiet``):
#: a few values, compared with ``==`` (a list, as a value to test may be unhashable); or
#: ``_WHOLE``: every item of the class passes unread.
Rules = dict[type, tuple[str, list[Any]]]
#: What an item lacking the attribute reads as: no value of a rule, so it is fed.
_ABSENT: Final = object()
#: The rule of a class none of whose items needs reading any more.
_WHOLE: Final[tuple[str, list[Any]]] = ("", [])
#: The rule of a class with no rule yet: each item is read.
_READ: Final[tuple[str, list[Any]]] = ("", [])


#: Item classes no folder reads an item of, in any stream (``passes``): each stream starts
#: with these rules, so their items pass unread from its first one. Learned once a process.
_PASSED: Rules = {}
#: Item classes already asked about.
_ASKED: set[type] = set()


class _Tracked:
    """What the sync and async wrappers share: the folder, the call, and how it ends."""

    __slots__ = ("_call", "_folder", "_held", "_hide_usage_chunk", "_reader", "_rules", "_stream")

    def __init__(self, stream: Any, call: CallLog, *, hide_usage_chunk: bool = False,
                 reader: ModuleType | None = None) -> None:  # fmt: skip
        self._stream = stream
        self._call = call
        self._folder: StreamUsage | None = None
        #: The provider's reader, when the SDK method that made the stream says it; else
        #: the stream's first item it recognises names it.
        self._reader = reader
        self._hide_usage_chunk = hide_usage_chunk
        self._rules: Rules = _PASSED.copy()
        self._held: Any = None  # the last item passed unread: read when the stream ends

    def _take(self, item: Any) -> bool:
        """Fold ``item`` into the usage; True when it must not reach the user. Learns from
        the folder which items of its class may pass unread from now on."""
        folder = self._folder
        if folder is None:
            folder = self._folder = self._new_folder(item)
            if folder is None:
                return False
        hide = folder.feed(item) and self._hide_usage_chunk
        cls = type(item)
        # a rule reads attributes: plain dicts are fed one by one; a class with a rule has
        # taught it already
        if cls is not dict and cls not in self._rules:
            if cls not in _ASKED:
                _ASKED.add(cls)
                if folder.passes(cls):
                    _PASSED[cls] = self._rules[cls] = _WHOLE
                    return hide
                # a rule that holds from any stream's first item (an OpenAI chat chunk
                # without usage: each names its model and id); only OpenAI's folder has one
                always = getattr(folder, "always", None)
                rule = None if always is None else always(cls)
                if rule is not None:
                    _PASSED[cls] = self._rules[cls] = (rule[0], [rule[1]])
                    return hide
            learned = folder.quiet(item)
            if learned is EVERY or (
                learned is not None and only_value(cls, learned[0]) == learned[1]
            ):
                self._rules[cls] = _WHOLE
            elif learned is not None:
                name, value = learned
                rule = self._rules.setdefault(cls, (name, []))
                if rule[0] == name and value not in rule[1]:
                    rule[1].append(value)
        return hide

    def _new_folder(self, item: Any) -> StreamUsage | None:
        """The folder of the stream's provider: the reader the method named, else the one
        its first recognised item names (kept: a stream without usage is logged under it)."""
        reader = self._reader
        if reader is None:
            reader = self._reader = provider_of(item)
            if reader is None:
                return None
        return reader.StreamUsage(self._stream)  # type: ignore[no-any-return]

    def _folded(self) -> StreamUsage | None:
        """The folder, once it has read the item held back (quiet, so reading it now
        changes nothing but a running total)."""
        folder, held = self._folder, self._held
        if held is not None and _PASSED.get(type(held)) is not _WHOLE:
            if folder is None:  # every item passed unread: the held one names the stream
                folder = self._folder = self._new_folder(held)
            if folder is not None:
                self._held = None
                folder.feed(held)
        return folder

    def _usage(self) -> Usage | None:
        folder = self._folded()
        return None if folder is None else folder.result()

    def _ended(self, returned: Any = None) -> None:
        """Read to the end: the usage folded from its items (as fields, the fast path, when
        they are of the common shape), else of what a generator returned (a ``Usage``, or
        a reply ``usage_from()`` reads)."""
        folder = self._folded()
        once = self._call.once
        if once is not None and folder is not None:
            # only an OpenAI folder has stored responses (Responses streams) to name
            stored_id = getattr(folder, "stored_id", None)
            if stored_id is not None and not once(stored_id()):
                self._call.skip()  # a stored response logged when it was first seen
                return
        if folder is not None and self._call.api_type != "unknown":
            fields = folder.fields()  # (unknown: the folder's provider names the call)
            if fields is not None:
                self._call.end_fields(fields)
                return
        usage = None if folder is None else folder.result()
        if usage is None and returned is not None:
            usage = usage_of_result(returned)
        if usage is None and self._reader is not None and self._call.api_type == "unknown":
            # no counts: logged as unknown counts, under the provider its items are from
            self._call.api_type = self._reader.API_TYPE
        # without counts, it is logged with the served model and request id it named
        seen = self._seen() if usage is None else (None, None)
        self._call.end(usage, self._stream if returned is None else returned, seen=seen)

    def _seen(self) -> tuple[str | None, str | None]:
        """The served model and request id received so far: a stream cut before its usage
        still says which request it was."""
        return (None, None) if self._folder is None else self._folder.seen()

    def _raised(self, exc: BaseException) -> None:
        if not self._call.done:
            partial = self._usage()
            model, request_id = self._seen()
            if partial is None and (model or request_id):
                partial = no_usage(self._call.api_type, model, request_id)
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
        # a plain try (contextlib.suppress is 3 Python calls more, on every stream); the
        # common case, a stream logged already, costs no call
        try:
            if not self._call.done:
                self._left()
        except Exception:  # at interpreter exit the tracker may be gone: nothing to do
            return


#: Per stream class, whether its ``__iter__`` / ``__aiter__`` only passes on the items of
#: its ``_iterator`` (an OpenAI ``Stream``'s ``for item in self._iterator: yield item``).
_PASSES_ON: dict[tuple[type, str], bool] = {}


def _source(stream: Any, method: str) -> Any:
    """The SDK stream's own iterator (its ``_iterator``) when its ``method`` (``__iter__``
    or ``__aiter__``) does nothing but pass that one's items on: the wrapper then takes the
    place of that layer instead of adding one, and a chunk costs the user no more generator
    switches than the bare SDK's does; None for any other stream. A method that reads any
    other name (Anthropic's calls an observer per item) is kept."""
    cls = type(stream)
    passes = _PASSES_ON.get((cls, method))
    if passes is None:
        code = getattr(getattr(cls, method, None), "__code__", None)
        passes = _PASSES_ON[cls, method] = (
            code is not None and code.co_names == ("_iterator",) and code.co_argcount == 1
        )
    return getattr(stream, "_iterator", None) if passes else None


def _returning(generator: Generator[T, None, Any], box: list[Any]) -> Generator[T, None, Any]:
    """``generator``, whose return value is kept in ``box``: ``_items`` loops with ``for``,
    which drops it."""
    value = box[0] = yield from generator
    return value


class TrackedStream(_Tracked, Generic[T]):
    """A sync stream (an SDK ``Stream``, a generator) that logs its call once."""

    __slots__ = ("_it", "_value")

    def __init__(self, stream: Any, call: CallLog, *, hide_usage_chunk: bool = False,
                 returns: bool = True, reader: ModuleType | None = None) -> None:  # fmt: skip
        super().__init__(stream, call, hide_usage_chunk=hide_usage_chunk, reader=reader)
        # what a generator returned (its usage, maybe), kept in a box the generator holds:
        # a generator holding the wrapper would keep it alive until the next collection;
        # an SDK's generator returns nothing (``returns`` False): no layer per item for it
        self._value: list[Any] = [None]
        if returns and type(stream) is GeneratorType:
            self._it: Iterator[T] = _returning(stream, self._value)
        else:
            self._it = _source(stream, "__iter__") or iter(stream)

    def __iter__(self) -> Iterator[T]:
        return self._items()

    def _items(self) -> Iterator[T]:
        """The items, each read or passed by its class's rule (the loop most of a stream's
        time is spent in: no call per item but the stream's own and ``type``)."""
        rules, take = self._rules, self._take
        # the class whose items the first test passes, and its rule (unpacked once a class;
        # the values' list may grow: it is the rule's own); None: the last item was read
        cls: type | None = None
        whole, name, values = False, "", _READ[1]
        try:
            for item in self._it:
                if type(item) is cls and (whole or getattr(item, name, _ABSENT) in values):
                    self._held = item
                    yield item
                    continue
                rule = rules.get(type(item), _READ)
                if rule is not _READ:  # another class, with a rule
                    cls, whole = type(item), rule is _WHOLE
                    name, values = rule
                    if whole or getattr(item, name, _ABSENT) in values:
                        self._held = item
                        yield item
                        continue
                cls = None  # reading it may teach a rule for its class
                if take(item):
                    continue  # the usage chunk we asked for: not the user's
                yield item
        except GeneratorExit:
            raise  # closed by the user before its end: left, logged by close() or __del__
        except BaseException as exc:
            self._raised(exc)
            raise
        self._ended(self._value[0])

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

    def __init__(self, stream: Any, call: CallLog, *, hide_usage_chunk: bool = False,
                 reader: ModuleType | None = None) -> None:  # fmt: skip
        super().__init__(stream, call, hide_usage_chunk=hide_usage_chunk, reader=reader)
        self._it: AsyncIterator[T] = _source(stream, "__aiter__") or stream.__aiter__()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        """The async form of ``TrackedStream._items``."""
        rules, take = self._rules, self._take
        cls: type | None = None
        whole, name, values = False, "", _READ[1]
        try:
            async for item in self._it:
                if type(item) is cls and (whole or getattr(item, name, _ABSENT) in values):
                    self._held = item
                    yield item
                    continue
                rule = rules.get(type(item), _READ)
                if rule is not _READ:
                    cls, whole = type(item), rule is _WHOLE
                    name, values = rule
                    if whole or getattr(item, name, _ABSENT) in values:
                        self._held = item
                        yield item
                        continue
                cls = None
                if take(item):
                    continue
                yield item
        except GeneratorExit:
            raise
        except BaseException as exc:
            self._raised(exc)
            raise
        self._ended()

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


_OWN = frozenset({*_Tracked.__slots__, "_it", "_value"})


def wrap(stream: Any, call: CallLog, *, hide_usage_chunk: bool = False, returns: bool = True,
         reader: ModuleType | None = None) -> Any:  # fmt: skip
    """The right wrapper for ``stream``: async when it is an async iterable. ``returns``:
    a generator's return value may be its usage (a user's; an SDK's returns nothing).
    ``reader``: the provider's, when the SDK method that made the stream says it."""
    if hasattr(stream, "__aiter__"):
        return AsyncTrackedStream(stream, call, hide_usage_chunk=hide_usage_chunk, reader=reader)
    return TrackedStream(stream, call, hide_usage_chunk=hide_usage_chunk, returns=returns,
                         reader=reader)  # fmt: skip
