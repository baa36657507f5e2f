"""What a request costs, given the rates in force: pure arithmetic on token counts.

Input is split into the parts providers bill apart, so cached input is charged once, at the
cache-read rate, and never again at the full rate:

    cost = (prompt - cached - cache_write) * input + cached * cache_read
           + (cache_write - cache_write_1h) * cache_write_rate
           + cache_write_1h * ONE_HOUR_WRITE * input + completion * output + requests * request

``cache_write_1h`` are the cache writes kept for an hour (Anthropic's ``ttl: "1h"``): billed
at twice the input rate where 5-minute writes cost 1.25 times (the cache-write rate).
genai-prices has no rate for them; ``_tiers.CACHE_RULES`` names the source.

Reasoning tokens are part of ``completion`` (the file format's contract) and billed as
output, never a second time. A part without a rate of its own (``None``) is billed as
input, as genai-prices does for a model that has no cache price.

Long-context tiers follow the providers' bills and genai-prices: once a request's prompt
exceeds a tier's threshold the *whole* request is billed at that tier's rates, not only the
tokens above it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

#: A 1-hour cache write costs this many times the input rate (``_tiers.CACHE_RULES``).
ONE_HOUR_WRITE: Final = 2.0

#: A tier's rates as ``Rates.parts`` gives them: input, output, cache read, cache write,
#: request, none of them None.
Parts = tuple[float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token of each part of a request, and per successful request, in one tier."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    request: float = 0.0

    def cost(
        self,
        prompt: int,
        completion: int,
        cached: int,
        cache_write: int,
        requests: int = 1,
        cache_write_1h: int = 0,
    ) -> float:
        """Cost of requests totalling these counts, all billed in this tier."""
        return parts_cost(
            self.parts, prompt, completion, cached, cache_write, requests, cache_write_1h
        )

    @property
    def parts(self) -> Parts:
        """(input, output, cache read, cache write, request) with no None: a part without a
        rate of its own at the input rate, which bills it as input."""
        return (
            self.input,
            self.output,
            self.input if self.cache_read is None else self.cache_read,
            self.input if self.cache_write is None else self.cache_write,
            self.request,
        )

    def highest(self, other: Rates) -> Rates:
        """Each part at the higher of the two rates: an upper bound of both."""
        return Rates(
            max(self.input, other.input),
            max(self.output, other.output),
            _max(self.cache_read, other.cache_read, self.input, other.input),
            _max(self.cache_write, other.cache_write, self.input, other.input),
            max(self.request, other.request),
        )


def parts_cost(
    parts: Parts,
    prompt: int,
    completion: int,
    cached: int,
    cache_write: int,
    requests: int,
    cache_write_1h: int = 0,
) -> float:
    """The module docstring's sum, given ``Rates.parts``: for callers that look the rates
    up once and price many counts with them (a report's cells)."""
    rate_in, rate_out, rate_read, rate_write, rate_request = parts
    fresh = prompt - cached - cache_write
    return (
        (fresh if fresh > 0 else 0) * rate_in
        + cached * rate_read
        + (cache_write - cache_write_1h) * rate_write
        + cache_write_1h * (ONE_HOUR_WRITE * rate_in)
        + completion * rate_out
        + requests * rate_request
    )


def _max(a: float | None, b: float | None, a_input: float, b_input: float) -> float | None:
    if a is None and b is None:
        return None
    return max(a_input if a is None else a, b_input if b is None else b)


@dataclass(frozen=True, slots=True)
class Tiers:
    """A model's rates at one moment: the base rates and those above prompt thresholds.

    ``above`` holds ``(threshold, rates)`` in ascending order; a request whose prompt exceeds
    ``threshold`` tokens is billed entirely at ``rates``.
    """

    base: Rates
    above: tuple[tuple[int, Rates], ...] = ()

    def for_prompt(self, prompt: int) -> Rates:
        rates = self.base
        for threshold, tier in self.above:
            if prompt <= threshold:
                break
            rates = tier
        return rates

    @property
    def thresholds(self) -> tuple[int, ...]:
        return tuple(t for t, _ in self.above)

    def highest(self, other: Tiers) -> Tiers:
        """An upper bound of both at every prompt size."""
        points = sorted(set(self.thresholds) | set(other.thresholds))
        return Tiers(
            self.base.highest(other.base),
            tuple((t, self.for_prompt(t + 1).highest(other.for_prompt(t + 1))) for t in points),
        )


@dataclass(frozen=True, slots=True)
class Period:
    """Tiers in force from ``since`` (a UTC date; None: from the start), for display.

    ``window`` is a daily UTC time window where the price applies only at those hours (off-
    peak pricing); None means all day.
    """

    since: _dt.date | None
    tiers: Tiers
    window: tuple[_dt.time, _dt.time] | None = None
    #: Where the period comes from, when the entry is made of several sources.
    source: str | None = None


@dataclass(frozen=True)
class ModelPrices:
    """One model's price entry: what matched, where it came from, and its periods.

    ``at`` answers the source's own rule for the tiers in force at an instant, None before
    the first period of a source whose prices start on a date (the model is not priced by
    it then); ``boundaries`` are the UTC times of day at which a windowed price starts or
    ends.
    """

    model: str
    provider: str
    source: str
    periods: tuple[Period, ...]
    at: Callable[[_dt.datetime], Tiers | None]
    boundaries: tuple[_dt.time, ...] = ()

    @property
    def fixed(self) -> bool:
        """One price from the start, all day: the same at every instant (nearly every
        entry), so nothing priced with it needs its date."""
        return not self.boundaries and len(self.periods) == 1 and self.periods[0].since is None

    @property
    def dated(self) -> bool:
        """Whether the entry says from when its prices hold (a ``since``): a file's entry
        without one is a price for all time, with no history of its own."""
        return any(p.since is not None for p in self.periods)

    @property
    def thresholds(self) -> frozenset[int]:
        """Every prompt threshold of every period: what exact cells must be split by."""
        return frozenset(t for p in self.periods for t in p.tiers.thresholds)

    def alike(self, first: _dt.date, last: _dt.date) -> bool:
        """Whether every instant of the UTC days from ``first`` to ``last`` has one price:
        none by time of day, none that changes (or begins) on a day after ``first``."""
        return not self.boundaries and not any(
            p.since is not None and first < p.since <= last for p in self.periods
        )

    @property
    def cuts(self) -> tuple[int, ...]:
        """The minutes of the UTC day (after 00:00) at which the price may change, when the
        stats can keep counts apart there (each on an hour, its 15th or its 30th minute:
        what their early counters split); () for a price that never changes within a day,
        or one with another boundary (priced at the day's highest rate, flagged)."""
        if any(t.second or t.microsecond or t.minute not in (0, 15, 30) for t in self.boundaries):
            return ()
        return tuple(t.hour * 60 + t.minute for t in self.boundaries if t != _dt.time(0))

    def on_day(self, day: _dt.date) -> tuple[Tiers | None, bool]:
        """The tiers for requests of one UTC day (None: not priced that day), and whether
        they are an upper bound.

        Exact unless the price changes within the day (a time-of-day window): then each
        part at the day's highest rate, flagged. Reports keep such a model's cells apart by
        part of the day (``PriceBook.cuts``), so only a change the stats cannot split (off
        the quarter hour) comes here.
        """
        start = _dt.datetime.combine(day, _dt.time(0), tzinfo=_dt.UTC)
        tiers = self.at(start)
        varies = False
        for t in self.boundaries:
            other = self.at(_dt.datetime.combine(day, t).replace(tzinfo=_dt.UTC))
            if other != tiers:
                if tiers is None or other is None:
                    return None, False  # priced for part of the day only: not priced
                tiers, varies = tiers.highest(other), True
        return tiers, varies


def layered(layers: list[ModelPrices]) -> ModelPrices:
    """Sources in precedence order as one entry: at each instant, the first that prices it.

    A file's dated prices hold from their first ``since``; before it the next source (the
    bundled data's history) answers, so a price given from a date never re-prices the past.
    """
    if len(layers) == 1:
        return layers[0]
    periods = tuple(
        Period(p.since, p.tiers, p.window, layer.source) for layer in layers for p in layer.periods
    )

    def at(instant: _dt.datetime) -> Tiers | None:
        for layer in layers:
            tiers = layer.at(instant)
            if tiers is not None:
                return tiers
        return None

    return ModelPrices(
        model=layers[0].model,
        provider=layers[0].provider,
        source=", then ".join(layer.source for layer in layers),
        periods=periods,
        at=at,
        boundaries=tuple(sorted({t for layer in layers for t in layer.boundaries})),
    )
