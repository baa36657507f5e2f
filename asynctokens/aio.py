"""``asynctokens.aio``.

The read side from async code: reports on a worker thread, and ``follow()`` for new calls.

The public face of ``asynctokens.read.aio`` (the read side's package): the names here are
the API; the module behind them may change.
"""

from __future__ import annotations

from asynctokens.read.aio import abreakdown as abreakdown
from asynctokens.read.aio import arecent as arecent
from asynctokens.read.aio import asummary as asummary
from asynctokens.read.aio import follow as follow

__all__ = [
    "abreakdown",
    "arecent",
    "asummary",
    "follow",
]
