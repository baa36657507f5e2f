"""Known gaps in the bundled price data, corrected here with their source until
genai-prices has them.

Each correction names the provider's page that states the price and the day it was read.
A test (tests/test_pricing.py) fails once genai-prices prices the case itself, so a
correction is removed rather than kept on top of data that has caught up.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from typing import Final

from asynctokens.pricing._rates import ModelPrices, Period, Rates, Tiers


@dataclass(frozen=True)
class LongContextTier:
    """A long-context tier the bundled data lacks: above ``tokens`` prompt tokens the whole
    request is billed at ``rates`` (per token)."""

    provider: str  # genai-prices' provider id
    model: str  # genai-prices' model id the tier belongs to
    tokens: int
    rates: Rates
    source: str  # the provider's page that states the price
    read_on: _dt.date
    what: str


_M: Final = 1_000_000
CORRECTIONS: Final = (
    LongContextTier(
        provider="anthropic",
        model="claude-sonnet-4-0",
        tokens=200_000,
        rates=Rates(6.00 / _M, 22.50 / _M, 0.60 / _M, 7.50 / _M),
        source="https://docs.anthropic.com/en/docs/about-claude/pricing#long-context-pricing",
        read_on=_dt.date(2026, 12, 2),
        what="Claude Sonnet 4 with the 1M context window: a request whose prompt exceeds 200k"
        " tokens is billed $6 / $22.50 per million (cache read $0.60, 5-minute cache write"
        " $7.50); genai-prices 0.2.3 has no long-context rate for it",
    ),
)


def corrected(found: ModelPrices) -> ModelPrices:
    """``found`` with the corrections that apply to it: its periods without the tier gain
    it, and its source says so."""
    for c in CORRECTIONS:
        if found.provider != c.provider or found.model != c.model:
            continue
        if any(c.tokens in p.tiers.thresholds for p in found.periods):
            continue  # the data has the tier: the correction is not needed

        def at(
            instant: _dt.datetime, c: LongContextTier = c, original: ModelPrices = found
        ) -> Tiers | None:
            tiers = original.at(instant)
            return None if tiers is None else _with_tier(tiers, c)

        found = replace(
            found,
            source=f"{found.source} + correction ({c.source}, read {c.read_on.isoformat()})",
            periods=tuple(
                Period(p.since, _with_tier(p.tiers, c), p.window, p.source) for p in found.periods
            ),
            at=at,
        )
    return found


def _with_tier(tiers: Tiers, c: LongContextTier) -> Tiers:
    if c.tokens in tiers.thresholds:
        return tiers
    above = tuple(sorted((*tiers.above, (c.tokens, c.rates)), key=lambda t: t[0]))
    return Tiers(tiers.base, above)
