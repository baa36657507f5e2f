"""What a user declares (``Budget``, ``Alert``) and what they are told (``BudgetEvent``).

Checked when made, like every tracker option: a budget that could never fire, or a where
with a key no report knows, fails at ``configure()``, not later on the watcher.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from asynctokens.record._dims import is_label_key

#: The ``where`` keys besides labels, as ``--where`` and ``--by`` spell them.
ROW_KEYS = ("model", "provider", "host", "response-model", "service-tier")


def _check_where(where: Mapping[str, str] | None, owner: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (where or {}).items():
        if not isinstance(key, str) or not (key in ROW_KEYS or is_label_key(key)):
            raise ValueError(
                f"{owner} where key {key!r} is neither a label key nor one of {', '.join(ROW_KEYS)}"
            )
        if not isinstance(value, str) or not value:
            raise ValueError(f"{owner} where {key!r} must be a non-empty str, got {value!r}")
        out[key] = value
    return out


def _name(kind: str, parts: tuple[Any, ...]) -> str:
    return f"{kind}-{hashlib.sha1(repr(parts).encode()).hexdigest()[:10]}"  # an id, not security


@dataclass(frozen=True)
class Budget:
    """At most ``usd`` per ``per`` ("day", "month": calendar periods in ``timezone``; a
    ``timedelta``: the window ending now) on the calls ``where`` selects (label keys, or
    model, provider, host, response-model, service-tier). ``warn_at`` fractions fire before
    1.0 does; ``enforce`` makes instrumented clients and ``track`` refuse calls once spent."""

    usd: float
    per: Literal["day", "month"] | _dt.timedelta = "day"
    where: Mapping[str, str] | None = None
    warn_at: tuple[float, ...] = (0.8,)
    enforce: bool = False
    timezone: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.usd, bool)
            or not isinstance(self.usd, (int, float))
            or not (math.isfinite(self.usd) and self.usd > 0)
        ):
            raise ValueError(f"Budget usd must be a number > 0, got {self.usd!r}")
        per = self.per
        if not (
            per in ("day", "month") or (isinstance(per, _dt.timedelta) and per > _dt.timedelta(0))
        ):
            raise ValueError(
                f"Budget per must be 'day', 'month' or a positive timedelta, got {per!r}"
            )
        warn = tuple(self.warn_at)
        if not all(isinstance(w, (int, float)) and 0 < w < 1 for w in warn):
            raise ValueError(
                f"Budget warn_at must be fractions between 0 and 1, got {self.warn_at!r}"
            )
        object.__setattr__(self, "warn_at", tuple(sorted(set(warn))))
        object.__setattr__(self, "where", _check_where(self.where, "Budget"))
        unseen = sorted(set(self.where or {}) & {"host", "response-model", "service-tier"})
        if self.enforce and unseen:
            raise ValueError(
                f"Budget(enforce=True) cannot hold a where on {', '.join(unseen)}: a call is"
                " refused before it is sent, knowing only its provider, model and labels"
                " (drop enforce to be told instead)"
            )
        if self.name is None:
            parts = (self.usd, str(self.per), sorted(self.where.items()), self.timezone)  # type: ignore[union-attr]
            object.__setattr__(self, "name", _name("budget", parts))

    @property
    def thresholds(self) -> tuple[float, ...]:
        return (*self.warn_at, 1.0)


@dataclass(frozen=True)
class Alert:
    """Fires when, over the last ``window``, at least ``min_requests`` calls were made
    (among those ``where`` selects) and the share of them that failed with ``errors``
    ("any", "429": rate limits and quota, "5xx": the provider's own errors) reaches
    ``error_rate``. Fires again only after the rate fell back below it."""

    error_rate: float
    window: _dt.timedelta = _dt.timedelta(minutes=5)
    min_requests: int = 20
    where: Mapping[str, str] | None = None
    errors: Literal["any", "429", "5xx"] = "any"
    name: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.error_rate, bool) or not (
            isinstance(self.error_rate, (int, float)) and 0 < self.error_rate <= 1
        ):
            raise ValueError(f"Alert error_rate must be in (0, 1], got {self.error_rate!r}")
        if not isinstance(self.window, _dt.timedelta) or self.window <= _dt.timedelta(0):
            raise ValueError(f"Alert window must be a positive timedelta, got {self.window!r}")
        if isinstance(self.min_requests, bool) or not (
            isinstance(self.min_requests, int) and self.min_requests >= 1
        ):
            raise ValueError(f"Alert min_requests must be an int >= 1, got {self.min_requests!r}")
        if self.errors not in ("any", "429", "5xx"):
            raise ValueError(f"Alert errors must be 'any', '429' or '5xx', got {self.errors!r}")
        object.__setattr__(self, "where", _check_where(self.where, "Alert"))
        if self.name is None:
            parts = (self.error_rate, self.window, self.min_requests, self.errors,
                     sorted(self.where.items()))  # type: ignore[union-attr]  # fmt: skip
            object.__setattr__(self, "name", _name("alert", parts))


@dataclass(frozen=True)
class BudgetEvent:
    """What ``on_budget`` receives, the webhook posts (as JSON) and token_debug.log says."""

    kind: Literal["budget", "alert"]
    name: str
    message: str
    #: budget: the fraction crossed (0.8, 1.0); alert: the error rate reached
    threshold: float
    #: budget: USD spent in the period, its limit, the period's first instant (ISO 8601)
    spent_usd: float | None = None
    limit_usd: float | None = None
    period_start: str | None = None
    #: alert: the failing share, the calls counted, the most frequent error text
    error_rate: float | None = None
    requests: int | None = None
    top_error: str | None = None
    where: dict[str, str] = field(default_factory=dict)
    at: str = ""

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}
