"""Budgets and alerts that act: declared with ``configure(budgets=..., alerts=...)``, held by
a thread of the tracker against the directory's totals, said through a callback, a webhook,
token_debug.log and ``health()``, and (``Budget(enforce=True)``) enforced before a call is
sent. ``asynctokens budget`` is the same question from cron."""

from __future__ import annotations

from asynctokens.budgets._types import Alert, Budget, BudgetEvent

__all__ = ["Alert", "Budget", "BudgetEvent"]
