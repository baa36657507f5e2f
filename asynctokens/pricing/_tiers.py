"""Service tiers: what a call served at another tier than the standard one costs.

The reply says the tier (``service_tier`` in the line: OpenAI ``flex``, ``priority``,
``scale``; Anthropic ``priority``, ``batch``; ``batch`` set by hand for a batch API's
results). Where genai-prices has a price variant for the tier and model in force on the
call's day, it prices the call (its rates replace the standard ones part by part). Where it
has none, the provider's published rule below applies to the standard rates; a tier with no
rule here (OpenAI ``scale``: reserved capacity, not billed per token) leaves the call
unpriced, never priced at the standard rate it was not billed at.

Each rule names the provider's page that states it and the day it was read;
``asynctokens prices`` shows them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from asynctokens.pricing._rates import ONE_HOUR_WRITE, Rates, Tiers
from asynctokens.pricing._row import (
    API,
    CACHE_WRITE,
    CACHED,
    COMPLETION,
    MODEL,
    ONE_HOUR,
    PROMPT,
    SERVED,
    SUCCESS,
    TIER,
    TS,
)  # fmt: skip
from asynctokens.record._dims import STANDARD_TIERS
from asynctokens.record._format import parse_ts

if TYPE_CHECKING:
    from asynctokens.pricing import PriceBook


@dataclass(frozen=True)
class TierRule:
    """Calls of ``provider`` at ``tier`` cost ``multiplier`` times the standard rates."""

    provider: str  # the api_type the calls are logged under
    tier: str
    multiplier: float
    source: str
    read_on: _dt.date
    what: str


_READ: Final = _dt.date(2026, 12, 2)
RULES: Final = (
    TierRule("openai", "flex", 0.5, "https://platform.openai.com/docs/guides/flex-processing",
             _READ, "Flex processing: Batch API rates (half the standard price), every part"),
    TierRule("openai", "batch", 0.5, "https://platform.openai.com/docs/guides/batch",
             _READ, "Batch API: 50 % of the standard price, input and output"),
    TierRule("anthropic", "batch", 0.5,
             "https://docs.anthropic.com/en/docs/build-with-claude/batch-processing#pricing",
             _READ, "Message Batches: 50 % of the standard price; cache multipliers stack"),
    TierRule("gemini", "batch", 0.5, "https://ai.google.dev/gemini-api/docs/batch-mode",
             _READ, "Batch Mode: 50 % of the interactive price"),
)  # fmt: skip
_BY_KEY: Final = {(r.provider, r.tier): r for r in RULES}
#: Rates genai-prices has no field for, as multiples of the input rate (``_rates``).
CACHE_RULES: Final = (
    TierRule("anthropic", "1-hour cache write", ONE_HOUR_WRITE,
             "https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#pricing",
             _READ, "Cache writes kept 1 hour: 2x the input rate (5-minute writes: 1.25x, the"
             " cache-write rate); from cache_write_1h_tokens, at any tier and band"),
)  # fmt: skip


def is_tiered(tier: str | None) -> bool:
    """Whether a call's tier changes its price (a standard tier, or none said, does not)."""
    return tier is not None and tier not in STANDARD_TIERS


def rule_for(api_type: str, tier: str) -> TierRule | None:
    return _BY_KEY.get((api_type.lower(), tier))


def genai_context(tier: str) -> dict[str, str]:
    """The request context genai-prices selects the tier's price variant by."""
    return {"processing": "batch"} if tier == "batch" else {"service_tier": tier}


def scaled(tiers: Tiers, multiplier: float) -> Tiers:
    """Every rate of every band times ``multiplier``."""

    def times(r: Rates) -> Rates:
        return Rates(
            r.input * multiplier,
            r.output * multiplier,
            None if r.cache_read is None else r.cache_read * multiplier,
            None if r.cache_write is None else r.cache_write * multiplier,
            r.request * multiplier,
        )

    return Tiers(times(tiers.base), tuple((t, times(r)) for t, r in tiers.above))


def describe() -> list[dict[str, object]]:
    """The rules, for ``asynctokens prices`` (JSON and the terminal alike)."""
    return [
        {
            "provider": r.provider,
            "tier": r.tier,
            "multiplier": r.multiplier,
            "what": r.what,
            "source": r.source,
            "read_on": r.read_on.isoformat(),
        }
        for r in (*RULES, *CACHE_RULES)
    ]


def at_tier(
    book: PriceBook, api_type: str, model: str, tier: str, instant: _dt.datetime, standard: Tiers
) -> Tiers | None:
    """The rates of a call served at ``tier``: genai-prices' variant for it when the bundled
    data prices the model and has one in force, else the provider's rule applied to
    ``standard``, else None (unpriced: no known rate for that tier)."""
    found = book.find(api_type, model)
    if found is not None and found.source.startswith(book.genai.name):
        variant = book.genai.variant_tiers(api_type, model, genai_context(tier), instant)
        if variant is not None:
            return variant
    rule = rule_for(api_type, tier)
    return None if rule is None else scaled(standard, rule.multiplier)


def tiered_cost(book: PriceBook, row: Sequence[Any]) -> float | None:
    """The cost of one call (a row of ``EVENT_FIELDS`` values) served at another tier than
    the standard one, at the price in force at its instant; None when unpriced."""
    api, model = row[API], row[SERVED] or row[MODEL]
    found = book.find(api, model)
    try:
        instant = parse_ts(row[TS])
    except ValueError:
        return None
    standard = None if found is None else found.at(instant)
    if standard is None:
        return None
    tiers = at_tier(book, api, model, row[TIER], instant, standard)
    if tiers is None:
        return None
    return tiers.for_prompt(row[PROMPT]).cost(
        row[PROMPT], row[COMPLETION], row[CACHED], row[CACHE_WRITE], 1 if row[SUCCESS] else 0,
        row[ONE_HOUR] or 0,
    )  # fmt: skip
