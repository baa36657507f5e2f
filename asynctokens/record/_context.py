"""Labels in force for the code that runs inside ``with labels(...)``: who or what a call
was made for (a customer, a feature, a job), attached to every event logged there.

They live in a ContextVar, so they follow ``await``s and the asyncio tasks and trio tasks
started inside the block (each takes a copy of its parent's context) and never reach an
unrelated thread. The variable holds a ready ``Extra`` (labels checked and merged once, at
the block's start): ``log_tokens()`` reads it with one ``get`` and queues it as it is.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Final, TypeVar

from asynctokens.record._dims import check_labels, merge_labels
from asynctokens.record._event import Extra

_F = TypeVar("_F", bound=Callable[..., Any])

#: The labels in force, as the Extra a record carries; None outside every block.
_CURRENT: Final[ContextVar[Extra | None]] = ContextVar("asynctokens_labels", default=None)
#: The hot path's read of it: a bound method, looked up once.
current: Final = _CURRENT.get


def current_labels() -> dict[str, str]:
    """The labels in force here (a copy): what an event logged now would carry."""
    extra = _CURRENT.get()
    return dict(extra.labels) if extra is not None and extra.labels else {}


class labels:  # used as a context manager and decorator, like contextlib's
    """Attach labels to every event logged inside: ``with labels(customer="acme"):``,
    ``async with``, or ``@labels(feature="search")`` on a function or coroutine function.

    Nested blocks add to the labels outside them (an inner value for the same key wins).
    Keys are names (letters, digits, ``_ . -``), values text: both are checked here, so a
    bad label fails at the ``with``, never later on the writer.
    """

    __slots__ = ("_labels", "_tokens")

    def __init__(self, mapping: Mapping[str, str] | None = None, /, **values: str) -> None:
        self._labels = check_labels({**(mapping or {}), **values})
        self._tokens: list[Token[Extra | None]] = []

    def __enter__(self) -> dict[str, str]:
        outer = _CURRENT.get()
        merged = merge_labels(
            outer.labels if outer is not None else None,
            self._labels,
            "the enclosing labels() blocks",
        )
        self._tokens.append(_CURRENT.set(Extra(None, None, merged) if merged else None))
        return dict(merged)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _CURRENT.reset(self._tokens.pop())

    async def __aenter__(self) -> dict[str, str]:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: _F) -> _F:
        """As a decorator: each call runs inside a block of its own."""
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                "labels() cannot decorate a generator function (its labels would leak to"
                " the caller between items): use 'with labels(...):' inside it"
            )
        values = self._labels
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with labels(values):
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with labels(values):
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]
