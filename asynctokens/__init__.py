"""asynctokens: record the tokens of every LLM API call without slowing the caller.

The package root only re-exports. The writing side (tracker, worker, anyio) and the SDK
readers are imported on first use of one of their names, so the read-only ``asynctokens``
command and ``reader``/``summary`` never load the writer, a report starts without importing
anyio, and a program that only logs loads no SDK reader. docs/ARCHITECTURE.md draws the
packages and which may import which.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asynctokens._errors import AsyncTokensError as AsyncTokensError
from asynctokens._errors import BudgetExceededError as BudgetExceededError
from asynctokens._errors import LogDirError as LogDirError
from asynctokens._errors import NothingMatchedError as NothingMatchedError
from asynctokens._errors import PricingError as PricingError
from asynctokens._errors import TrackerClosedError as TrackerClosedError
from asynctokens._errors import UsageAdjustedWarning as UsageAdjustedWarning
from asynctokens._errors import UsageMissingWarning as UsageMissingWarning
from asynctokens.budgets import Alert as Alert
from asynctokens.budgets import Budget as Budget
from asynctokens.budgets import BudgetEvent as BudgetEvent
from asynctokens.record._context import current_labels as current_labels
from asynctokens.record._context import labels as labels
from asynctokens.sinks import Sink as Sink
from asynctokens.sinks import TokenEvent as TokenEvent

if TYPE_CHECKING:
    from asynctokens.integrations import Usage as Usage
    from asynctokens.integrations import usage_from as usage_from
    from asynctokens.writer._tracker import TokenTracker as TokenTracker
    from asynctokens.writer._tracker import TrackerHealth as TrackerHealth
    from asynctokens.writer._tracker import TrackerState as TrackerState
    from asynctokens.writer._tracker import configure as configure
    from asynctokens.writer._tracker import get_tracker as get_tracker
    from asynctokens.writer._tracker import log_response as log_response
    from asynctokens.writer._tracker import log_tokens as log_tokens

__version__ = "0.1.0"

__all__ = [
    "Alert",
    "AsyncTokensError",
    "Budget",
    "BudgetEvent",
    "BudgetExceededError",
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
    "UsageAdjustedWarning",
    "UsageMissingWarning",
    "configure",
    "current_labels",
    "get_tracker",
    "labels",
    "log_response",
    "log_tokens",
    "usage_from",
]

#: Names imported on first use, and from where: the writer (anyio, the worker) and the SDK
#: readers are loaded only by a program that uses them, never by the read-only command.
_LAZY = {
    **dict.fromkeys(
        ("TokenTracker", "TrackerHealth", "TrackerState", "configure", "get_tracker",
         "log_response", "log_tokens"),
        "asynctokens.writer._tracker",
    ),
    "Usage": "asynctokens.integrations",
    "usage_from": "asynctokens.integrations",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    raise AttributeError(f"module 'asynctokens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
