"""asynctokens: record the tokens of every LLM API call without slowing the caller.

The package root only re-exports. The writing side (tracker, worker, anyio) is imported on
first use of one of its names, so the read-only ``asynctokens`` command and ``reader``/
``summary`` never load the writer, and a report starts without importing anyio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asynctokens._errors import AsyncTokensError as AsyncTokensError
from asynctokens._errors import LogDirError as LogDirError
from asynctokens._errors import NothingMatchedError as NothingMatchedError
from asynctokens._errors import PricingError as PricingError
from asynctokens._errors import TrackerClosedError as TrackerClosedError
from asynctokens._errors import UsageMissingWarning as UsageMissingWarning
from asynctokens.integrations import Usage as Usage
from asynctokens.integrations import usage_from as usage_from
from asynctokens.sinks import Sink as Sink
from asynctokens.sinks import TokenEvent as TokenEvent

if TYPE_CHECKING:
    from asynctokens._tracker import TokenTracker as TokenTracker
    from asynctokens._tracker import TrackerHealth as TrackerHealth
    from asynctokens._tracker import TrackerState as TrackerState
    from asynctokens._tracker import configure as configure
    from asynctokens._tracker import get_tracker as get_tracker
    from asynctokens._tracker import log_response as log_response
    from asynctokens._tracker import log_tokens as log_tokens

__version__ = "0.1.0"

__all__ = [
    "AsyncTokensError",
    "LogDirError",
    "NothingMatchedError",
    "PricingError",
    "Sink",
    "TokenEvent",
    "TokenTracker",
    "TrackerClosedError",
    "TrackerHealth",
    "TrackerState",
    "Usage",
    "UsageMissingWarning",
    "configure",
    "get_tracker",
    "log_response",
    "log_tokens",
    "usage_from",
]

_WRITER_NAMES = frozenset(
    {
        "TokenTracker",
        "TrackerHealth",
        "TrackerState",
        "configure",
        "get_tracker",
        "log_response",
        "log_tokens",
    }
)


def __getattr__(name: str) -> Any:
    if name in _WRITER_NAMES:
        value = getattr(importlib.import_module("asynctokens._tracker"), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    raise AttributeError(f"module 'asynctokens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
