"""The exceptions asynctokens raises, in one place so users can catch the family.

    AsyncTokensError
    ├── TrackerClosedError   logging to a tracker that was closed
    ├── LogDirError          the log directory is missing, unreadable or not a directory
    ├── PricingError         a pricing file cannot be read or a model has no price
    └── NothingMatchedError  a report's --model/--api/--host names nothing the logs hold

    UsageMissingWarning      a response carried no token usage, so nothing was logged

Call-site mistakes (a negative token count, a model name that is not a string) raise the
builtin ``ValueError``/``TypeError`` instead, because that is what Python code expects.
"""

from __future__ import annotations


class AsyncTokensError(Exception):
    """Base class of every error asynctokens raises on purpose."""


class TrackerClosedError(AsyncTokensError, RuntimeError):
    """Raised when an event is logged to a tracker after it was closed."""


class LogDirError(AsyncTokensError, OSError):
    """Raised when a log directory cannot be used for reading or writing."""


class PricingError(AsyncTokensError, ValueError):
    """Raised when a pricing table cannot be loaded or used."""


class NothingMatchedError(AsyncTokensError, LookupError):
    """Raised when a report's model, provider or host filter matches no call in its range."""


class BudgetExceededError(AsyncTokensError, RuntimeError):
    """An enforced budget is spent: the call was not sent (``Budget(enforce=True)``)."""


class UsageMissingWarning(UserWarning):
    """Shown once per call site when a response or stream carries no usage to log."""


class UsageAdjustedWarning(UserWarning):
    """A reply's counts broke the file format's rules and were logged adjusted: the line's
    ``metadata["asynctokens.adjustments"]`` says how (docs/integrations.md)."""
