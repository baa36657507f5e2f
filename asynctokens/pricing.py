"""Prices per token and the cost of token counts, computed when a report is read.

Costs are never stored with the events: prices change, and old logs re-price with the table
in use. Input is split into its parts so that cached input is charged at the cached rate
and not a second time at the full rate:

    cost = (prompt - cached - cache_write) * input + cached * cache_read
           + cache_write * cache_write_rate + completion * output

(reasoning tokens are part of ``completion`` and billed as output). A model with no price is
reported as unpriced, never as $0.

``load_pricing(path)`` reads LiteLLM's ``model_prices_and_context_window.json`` format, so users
can drop in that file; its entries take precedence over the built-in table.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from asynctokens._errors import PricingError

#: The day the built-in list prices below were taken from the providers' price pages.
PRICES_AS_OF: Final = "2025-11-20"


@dataclass(frozen=True)
class ModelPrice:
    """USD per single token (LiteLLM's unit); None where the provider has no such rate."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def cost(self, prompt: int, completion: int, cached: int = 0, cache_write: int = 0) -> float:
        read_rate = self.input if self.cache_read is None else self.cache_read
        write_rate = self.input if self.cache_write is None else self.cache_write
        fresh = max(0, prompt - cached - cache_write)
        return (
            fresh * self.input
            + cached * read_rate
            + cache_write * write_rate
            + completion * self.output
        )


def _per_million(
    input: float, output: float, cache_read: float | None = None, cache_write: float | None = None
) -> ModelPrice:
    m = 1_000_000
    return ModelPrice(
        input / m,
        output / m,
        None if cache_read is None else cache_read / m,
        None if cache_write is None else cache_write / m,
    )


#: List prices, USD per 1M tokens: input, output, cached input, cache write (5-minute TTL for
#: Anthropic). Standard tier, the lowest context band where prices depend on prompt length.
BUILTIN_PRICES: Final[Mapping[str, ModelPrice]] = {
    # OpenAI
    "gpt-5": _per_million(1.25, 10.00, 0.125),
    "gpt-5-mini": _per_million(0.25, 2.00, 0.025),
    "gpt-5-nano": _per_million(0.05, 0.40, 0.005),
    "gpt-4.1": _per_million(2.00, 8.00, 0.50),
    "gpt-4.1-mini": _per_million(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _per_million(0.10, 0.40, 0.025),
    "gpt-4o": _per_million(2.50, 10.00, 1.25),
    "gpt-4o-mini": _per_million(0.15, 0.60, 0.075),
    "o3": _per_million(2.00, 8.00, 0.50),
    "o3-mini": _per_million(1.10, 4.40, 0.55),
    "o4-mini": _per_million(1.10, 4.40, 0.275),
    "o1": _per_million(15.00, 60.00, 7.50),
    # Anthropic
    "claude-opus-4-5": _per_million(5.00, 25.00, 0.50, 6.25),
    "claude-opus-4-1": _per_million(15.00, 75.00, 1.50, 18.75),
    "claude-opus-4": _per_million(15.00, 75.00, 1.50, 18.75),
    "claude-sonnet-4-5": _per_million(3.00, 15.00, 0.30, 3.75),
    "claude-sonnet-4": _per_million(3.00, 15.00, 0.30, 3.75),
    "claude-3-7-sonnet": _per_million(3.00, 15.00, 0.30, 3.75),
    "claude-3-5-sonnet": _per_million(3.00, 15.00, 0.30, 3.75),
    "claude-haiku-4-5": _per_million(1.00, 5.00, 0.10, 1.25),
    "claude-3-5-haiku": _per_million(0.80, 4.00, 0.08, 1.00),
    "claude-3-haiku": _per_million(0.25, 1.25, 0.03, 0.30),
    # Google (Gemini API, paid tier, prompts up to 200k tokens)
    "gemini-3-pro-preview": _per_million(2.00, 12.00, 0.20),
    "gemini-2.5-pro": _per_million(1.25, 10.00, 0.125),
    "gemini-2.5-flash": _per_million(0.30, 2.50, 0.03),
    "gemini-2.5-flash-lite": _per_million(0.10, 0.40, 0.01),
    "gemini-2.0-flash": _per_million(0.10, 0.40, 0.025),
    "gemini-2.0-flash-lite": _per_million(0.075, 0.30),
}

#: Suffixes providers append to a model name for a dated snapshot or a deployment route.
_SNAPSHOT_SUFFIX: Final = re.compile(
    r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-latest|-\d{3}|-v\d+(:\d+)?)+$"
)
_ROUTE_PREFIX: Final = re.compile(r"^([a-z0-9_.-]+/)+|^(anthropic|openai|google)\.")


class PriceTable:
    """Looks up a model's price by exact name, then without route prefix and snapshot suffix."""

    def __init__(self, prices: Mapping[str, ModelPrice], *, source: str) -> None:
        self.prices = dict(prices)
        self.source = source
        self._cache: dict[str, ModelPrice | None] = {}

    def get(self, model: str) -> ModelPrice | None:
        if model in self._cache:
            return self._cache[model]
        price = self.prices.get(model)
        if price is None:
            bare = _ROUTE_PREFIX.sub("", model)
            price = self.prices.get(bare) or self.prices.get(_SNAPSHOT_SUFFIX.sub("", bare))
        self._cache[model] = price
        return price


def default_table() -> PriceTable:
    return PriceTable(BUILTIN_PRICES, source=f"built-in list prices as of {PRICES_AS_OF}")


def load_pricing(path: str | os.PathLike[str]) -> PriceTable:
    """Built-in prices overlaid with a LiteLLM-format JSON file's entries."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PricingError(f"cannot read pricing file {str(p)!r}: {exc.strerror or exc}") from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PricingError(f"pricing file {str(p)!r} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PricingError(
            f"pricing file {str(p)!r} must hold an object of model names, as LiteLLM's"
            " model_prices_and_context_window.json does"
        )
    prices = dict(BUILTIN_PRICES)
    loaded = 0
    for model, entry in doc.items():
        price = _from_litellm(entry)
        if price is not None and model != "sample_spec":
            prices[model] = price
            loaded += 1
    if loaded == 0:
        raise PricingError(
            f"pricing file {str(p)!r} has no entry with input_cost_per_token and"
            " output_cost_per_token"
        )
    return PriceTable(prices, source=f"{p.name} ({loaded} models) over built-in prices")


def _from_litellm(entry: Any) -> ModelPrice | None:
    if not isinstance(entry, dict):
        return None
    values = [
        entry.get(k)
        for k in (
            "input_cost_per_token",
            "output_cost_per_token",
            "cache_read_input_token_cost",
            "cache_creation_input_token_cost",
        )
    ]
    if not all(v is None or (isinstance(v, (int, float)) and v >= 0) for v in values):
        return None
    if values[0] is None or values[1] is None:
        return None
    return ModelPrice(float(values[0]), float(values[1]), values[2], values[3])
