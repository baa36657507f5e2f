"""asynctokens: record the tokens of every LLM API call without slowing the caller.

The package root only re-exports; the work is done in the private modules.
"""

from __future__ import annotations

from asynctokens._errors import AsyncTokensError as AsyncTokensError
from asynctokens._errors import LogDirError as LogDirError
from asynctokens._errors import PricingError as PricingError
from asynctokens._errors import TrackerClosedError as TrackerClosedError
from asynctokens._tracker import TokenTracker as TokenTracker
from asynctokens._tracker import TrackerHealth as TrackerHealth
from asynctokens._tracker import TrackerState as TrackerState
from asynctokens._tracker import configure as configure
from asynctokens._tracker import get_tracker as get_tracker
from asynctokens._tracker import log_tokens as log_tokens

__version__ = "0.1.0"

__all__ = [
    "AsyncTokensError",
    "LogDirError",
    "PricingError",
    "TokenTracker",
    "TrackerClosedError",
    "TrackerHealth",
    "TrackerState",
    "configure",
    "get_tracker",
    "log_tokens",
]
