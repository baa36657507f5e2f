"""``asynctokens.summary``.

Reports over a token log: totals, breakdowns, recent calls, costs, as plain data.

The public face of ``asynctokens.read.summary`` (the read side's package): the names here are
the API; the module behind them may change.
"""

from __future__ import annotations

from asynctokens.read.summary import DIMENSIONS as DIMENSIONS
from asynctokens.read.summary import Query as Query
from asynctokens.read.summary import breakdown as breakdown
from asynctokens.read.summary import check_filters as check_filters
from asynctokens.read.summary import costs as costs
from asynctokens.read.summary import event_cost as event_cost
from asynctokens.read.summary import full_report as full_report
from asynctokens.read.summary import iter_filtered as iter_filtered
from asynctokens.read.summary import load as load
from asynctokens.read.summary import read_findings as read_findings
from asynctokens.read.summary import recent as recent
from asynctokens.read.summary import summary as summary

__all__ = [
    "DIMENSIONS",
    "Query",
    "breakdown",
    "check_filters",
    "costs",
    "event_cost",
    "full_report",
    "iter_filtered",
    "load",
    "read_findings",
    "recent",
    "summary",
]
