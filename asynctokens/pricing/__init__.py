"""Prices per token, and the cost of what was logged, computed when a report is read.

Costs are never stored with the events: prices change, and logs are priced with the prices
in force on each event's own date. Where a price comes from, in order:

1. ``--pricing FILE`` files (LiteLLM's JSON or asynctokens' TOML, see ``_files``), for
   private models and negotiated rates; a later file wins over an earlier one. A TOML
   entry holds as written: from its first ``since`` on (before it the next source
   answers), or for all time without one. LiteLLM's file has no dates: it prices only
   models genai-prices does not (it must not re-price their dated history), unless
   ``override`` (``--override-prices``) says it wins for every date;
2. genai-prices, maintained upstream: its bundled data (offline, the default), or the
   latest data when ``--update-prices`` asks for it.

A model found in neither has no price: reports show it as unpriced ("n/a"), never as $0.
"""

from __future__ import annotations

import datetime as _dt
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asynctokens._errors import PricingError
from asynctokens.pricing import _row
from asynctokens.pricing._files import PriceFile
from asynctokens.pricing._files import load as load_file
from asynctokens.pricing._rates import (
    ONE_HOUR_WRITE,
    ModelPrices,
    Parts,
    Period,
    Rates,
    Tiers,
    layered,
    parts_cost,
)
from asynctokens.pricing._tiers import at_tier, is_tiered, tiered_cost
from asynctokens.record._format import event_row, parse_ts
from asynctokens.record._providers import SELF_HOSTED

if TYPE_CHECKING:
    from asynctokens.pricing._genai import GenaiSource

__all__ = [
    "ModelPrices",
    "Parts",
    "Period",
    "PriceBook",
    "PricingError",
    "Rates",
    "Tiers",
    "load_prices",
    "one_price",
    "parts_cost",
]

_UTC = _dt.UTC
#: Days genai-prices' data may lag the newest call it prices before reports say so.
STALE_DAYS = 30
_UNSEEN = object()
_BY_TIME = object()  # a price that changes within the day: looked up per instant
_DATED = object()  # a price with dates or hours: looked up per UTC day
_TS, _API, _MODEL, _PROMPT, _COMPLETION = (
    _row.TS,
    _row.API,
    _row.MODEL,
    _row.PROMPT,
    _row.COMPLETION,
)
_CACHED, _CACHE_WRITE, _SUCCESS, _SERVED, _TIER, _ONE_HOUR = (
    _row.CACHED,
    _row.CACHE_WRITE,
    _row.SUCCESS,
    _row.SERVED,
    _row.TIER,
    _row.ONE_HOUR,
)


def _flat_or_tiered(tiers: Tiers) -> object:
    """A tuple of five rates for a flat price, ``[thresholds, parts per band]`` if tiered."""
    if not tiers.above:
        return tiers.base.parts
    return [tiers.thresholds, [tiers.base.parts, *(r.parts for _, r in tiers.above)]]


class PriceBook:
    """Finds each model's price, once per (api_type, model), and prices counts with it."""

    def __init__(
        self,
        files: Sequence[PriceFile] = (),
        genai: GenaiSource | None = None,
        *,
        override: bool = False,
    ) -> None:
        if genai is None:
            from asynctokens.pricing import _genai

            genai = _genai.bundled()
        self.files = list(files)
        self.genai = genai
        self.override = override
        self._found: dict[tuple[str, str], ModelPrices | None] = {}
        self._cells: dict[
            tuple[str, str, str, int, tuple[int, ...], str | None], tuple[Rates | None, bool]
        ] = {}
        self._days: dict[tuple[str, str, str], object] = {}
        self._event_pricer: Callable[[Sequence[Any]], float | None] | None = None

    # -- where prices come from ----------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """The sources, for JSON reports: which data and version produced their costs."""
        return {
            "source": "genai-prices",
            "version": self.genai.version,
            "data": self.genai.data,
            "data_date": self.genai.data_date.isoformat(),
            "files": [f.label for f in reversed(self.files)],
            "text": self.text,
        }

    def staleness(self, newest_priced_day: str | None) -> str | None:
        """One line when genai-prices' data is more than ``STALE_DAYS`` older than the newest
        call it priced (a price that changed since would be missed), with what to run."""
        if newest_priced_day is None:
            return None
        data_date = self.genai.data_date
        behind = (_dt.date.fromisoformat(newest_priced_day) - data_date).days
        if behind <= STALE_DAYS:
            return None
        return (
            f"prices are from {data_date.isoformat()} ({self.genai.name}), {behind} days"
            f" before the newest call they price ({newest_priced_day}): prices changed since"
            " would be missed; run with --update-prices, or pip install -U genai-prices"
        )

    def source_of(self, api_type: str, model: str) -> str | None:
        """Which source prices the model (None: none does)."""
        found = self.find(api_type, model)
        return None if found is None else found.source

    @property
    def text(self) -> str:
        base = f"{self.genai.name} ({self.genai.data})"
        if not self.files:
            return base
        return f"{', '.join(f.label for f in reversed(self.files))}, then {base}"

    def find(self, api_type: str, model: str) -> ModelPrices | None:
        """The price entry a model resolves to, or None when no source knows it.

        ``self-hosted`` (a local or private endpoint) is priced by ``--pricing`` files only.
        """
        key = (api_type, model)
        if key in self._found:
            return self._found[key]
        from_files = [(f.kind, m) for f in reversed(self.files) if (m := f.find(api_type, model))]
        # a model on one's own hardware bills no tokens: only a file of the user's prices it
        # (an open-weights name would otherwise take a provider's price)
        bundled = None if api_type == SELF_HOSTED else self.genai.find(api_type, model)
        layers: list[ModelPrices] = []
        for kind, entry in from_files:
            # LiteLLM's file has one price per model and no dates: under a model the bundled
            # data knows it would re-price the model's dated history, so it fills gaps only,
            # unless asked (override). The user's own TOML holds as written.
            if kind != "litellm" or self.override or bundled is None:
                layers.append(entry)
                if not entry.dated:
                    break  # it answers for every instant: nothing below it is reached
        else:
            if bundled is not None:
                layers.append(bundled)
        found = layered(layers) if layers else None
        self._found[key] = found
        return found

    def by_date(self, api_type: str, model: str) -> bool:
        """Whether the model's price changes with the date or hour (so counts must be kept
        apart by UTC day to be priced); False for a price that never changes or no price."""
        found = self.find(api_type, model)
        return found is not None and not found.fixed

    def cuts(self, api_type: str, model: str) -> tuple[int, ...]:
        """``ModelPrices.cuts`` of the model's price; () when unpriced."""
        found = self.find(api_type, model)
        return () if found is None else found.cuts

    def thresholds(self, api_type: str, model: str) -> frozenset[int]:
        """The prompt sizes at which this model's rate changes (empty if unpriced or flat)."""
        found = self.find(api_type, model)
        return frozenset() if found is None else found.thresholds

    # -- pricing -------------------------------------------------------------------------------
    def cell_rates(
        self,
        api_type: str,
        model: str,
        price_day: str,
        band: int,
        bands: tuple[int, ...],
        tier: str | None = None,
    ) -> tuple[Rates | None, bool]:
        """Rates for a stats cell: requests of one UTC day whose prompts lie in one band,
        served at ``tier`` (see ``_tiers``; None or a standard tier: the list price).
        ``price_day``: the UTC day, or for a model priced by time of day the UTC instant
        its part of the day begins (``YYYY-MM-DDTHH:MM``, ``stats._periods.price_period``).
        The band is exact for a tier whose threshold is one of ``bands`` (summary.load sees to
        that); the second value is True when the rates are an upper bound (a price that
        changes within the day, for a cell of the whole day).
        """
        key = (api_type, model, price_day, band, bands, tier)
        hit = self._cells.get(key)
        if hit is None:
            found = self.find(api_type, model)
            start = _dt.datetime.fromisoformat(f"{price_day}T00:00"[:16] + ":00+00:00")
            tiers: Tiers | None
            tiers, varies = (None, False) if found is None else found.on_day(start.date())
            if found is not None and len(price_day) > 10:  # a part of the day: one price
                tiers, varies = found.at(start), False
            if tiers is not None and tier is not None and is_tiered(tier):
                tiers = at_tier(self, api_type, model, tier, start, tiers)
            if tiers is None:
                hit = (None, False)
            else:
                prompt = 0 if band == 0 else bands[band - 1] + 1  # any prompt of the band
                hit = (tiers.for_prompt(prompt), varies)
            self._cells[key] = hit
        return hit

    def event_cost(self, event: Mapping[str, Any]) -> float | None:
        """The cost of one logged call at the price in force at its ``ts``; None if unpriced."""
        if self._event_pricer is None:
            self._event_pricer = self.row_pricer()
        return self._event_pricer(event_row(event))

    def row_pricer(self) -> Callable[[Sequence[Any]], float | None]:
        """A function giving the cost of one event given as a row of ``EVENT_FIELDS`` values
        (a CSV export's row), at the price in force at its ``ts``; None if unpriced.

        It runs once per row of a CSV export (docs/PERF.md budget: pricing adds at most
        10 %), so it is a closure over local names, and most rows cost a dict lookup by
        model and five products: a model's price that never changes (one period, all day,
        as nearly every entry is) is memoised per (provider, model) as the five rates of a
        flat price or the thresholds and rates per band of a tiered one; only a price with
        dates or hours is looked up per UTC day or instant, in ``_dated_price``.
        """
        by_model: dict[str, tuple[str, object]] = {}
        rule_of, dated = self._rule, self._dated_price

        def cost(row: Sequence[Any]) -> float | None:
            if row[_TIER] is not None and is_tiered(row[_TIER]):
                return tiered_cost(
                    self, row
                )  # another tier's rates: the rare case, looked up per row
            model, api = row[_SERVED] or row[_MODEL], row[_API]
            hit = by_model.get(model)
            if hit is None or hit[0] != api:  # a model name under two providers alternates
                hit = by_model[model] = (api, rule_of(api, model))
            price = hit[1]
            if price is None:
                return None
            prompt = row[_PROMPT]
            if price.__class__ is not tuple:
                if price is _DATED:
                    price = dated(row)
                    if price is None:
                        return None
                if price.__class__ is list:  # tiered: [thresholds, rates of each band]
                    tiered: list[Any] = price
                    price = tiered[1][bisect_left(tiered[0], prompt)]
            parts: Parts = price  # type: ignore[assignment]
            rate_in, rate_out, rate_read, rate_write, rate_request = parts
            # Rates.cost's sum, written out, without the terms that are 0 (each a float
            # product): adding 0.0 to a cost >= 0 changes no bit, so the result is the same
            cached, cache_write = row[_CACHED], row[_CACHE_WRITE]
            total: float
            if cache_write:
                fresh = prompt - cached - cache_write
                total = (fresh if fresh > 0 else 0) * rate_in + cached * rate_read
                one_hour = row[_ONE_HOUR]  # 1-hour writes: Rates.cost's terms, in its order
                if one_hour:
                    total += (cache_write - one_hour) * rate_write
                    total += one_hour * (ONE_HOUR_WRITE * rate_in)
                else:
                    total += cache_write * rate_write
                total += row[_COMPLETION] * rate_out
            elif cached:
                fresh = prompt - cached
                total = (
                    (fresh if fresh > 0 else 0) * rate_in
                    + cached * rate_read
                    + row[_COMPLETION] * rate_out
                )
            else:
                total = prompt * rate_in + row[_COMPLETION] * rate_out
            if rate_request and row[_SUCCESS]:
                total += rate_request
            return total

        return cost

    def _rule(self, api_type: str, model: str) -> object:
        """How a model is priced per event: None (unpriced), the five rates of a price that
        never changes, ``[thresholds, rates per band]`` of such a tiered price, or _DATED."""
        found = self.find(api_type, model)
        if found is None:
            return None
        return _flat_or_tiered(found.periods[0].tiers) if found.fixed else _DATED

    def _dated_price(self, row: Sequence[Any]) -> object:
        """A row's price under a price with dates or hours, as ``_flat_or_tiered`` gives it,
        or None: memoised per (provider, model, UTC day), or this instant's for hours."""
        api, model, ts = row[_API], row[_SERVED] or row[_MODEL], row[_TS]
        key = (api, model, ts[:10] if ts.endswith("+00:00") else ts)
        price = self._days.get(key, _UNSEEN)
        if price is _UNSEEN:
            price = self._day_price(key, ts)
        if price is _BY_TIME:
            found = self.find(api, model)
            assert found is not None
            tiers = found.at(parse_ts(ts))
            return None if tiers is None else tiers.for_prompt(row[_PROMPT]).parts
        return price

    def _day_price(self, key: tuple[str, str, str], ts: str) -> object:
        found = self.find(key[0], key[1])
        price: object = None
        if found is not None:
            try:
                instant = parse_ts(ts)
            except ValueError:
                return None  # not memoised: a bad ts is rare and has no day
            if found.boundaries:
                price = _BY_TIME
            else:
                day = instant.astimezone(_UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                tiers = found.at(day)
                price = None if tiers is None else _flat_or_tiered(tiers)
        if len(self._days) > 100_000:
            self._days.clear()
        self._days[key] = price
        return price

    # -- explaining ----------------------------------------------------------------------------
    def explain(self, api_type: str, model: str, day: _dt.date) -> dict[str, Any] | None:
        """What ``asynctokens prices`` shows: the entry matched, its source, the rates in
        force on ``day`` (one segment per time-of-day change) and every dated period, in
        USD per million tokens. None when no source knows the model."""
        found = self.find(api_type, model)
        if found is None:
            return None
        segments: list[dict[str, Any]] = []
        last: Tiers | None = None
        for t in (_dt.time(0), *found.boundaries):
            tiers = found.at(_dt.datetime.combine(day, t, tzinfo=_UTC))
            if tiers != last:
                shown = None if tiers is None else _tiers_json(tiers)
                segments.append({"utc_from": t.strftime("%H:%M"), "tiers": shown})
                last = tiers
        return {
            "model": model,
            "api_type": api_type,
            "matched": found.model,
            "provider": found.provider,
            "source": found.source,
            "date": day.isoformat(),
            "in_force": segments,
            "periods": [
                {
                    "since": None if p.since is None else p.since.isoformat(),
                    "utc_window": None
                    if p.window is None
                    else f"{p.window[0]:%H:%M}-{p.window[1]:%H:%M}",
                    "tiers": _tiers_json(p.tiers),
                    "source": p.source or found.source,
                }
                for p in found.periods
            ],
        }


def _per_million(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 1_000_000, 9)


def _tiers_json(tiers: Tiers) -> list[dict[str, Any]]:
    rows = []
    for above, rates in ((0, tiers.base), *tiers.above):
        rows.append(
            {
                "prompt_above": above,
                "input": _per_million(rates.input),
                "cached_input": _per_million(rates.cache_read),
                "cache_write": _per_million(rates.cache_write),
                "output": _per_million(rates.output),
                "per_request": rates.request,
            }
        )
    return rows


def load_prices(
    files: Sequence[str | Any] = (),
    *,
    update: bool = False,
    timeout: float = 30.0,
    override: bool = False,
) -> PriceBook:
    """A PriceBook over ``--pricing`` files and genai-prices (fetched anew if ``update``);
    ``override``: the files' undated prices win for every date (see the module docstring)."""
    from asynctokens.pricing import _genai

    loaded = [load_file(f) for f in files]
    genai = _genai.update_prices(timeout) if update else _genai.bundled()
    return PriceBook(loaded, genai, override=override)


def one_price(
    book: PriceBook, api_type: str, model: str, tier: str | None, first: _dt.date, last: _dt.date
) -> bool:
    """Whether ``book`` prices every call of the model at ``tier`` on the UTC days from
    ``first`` to ``last`` alike, so their counts summed are priced as one (a month's totals,
    ``stats._totals``): not at a tier of its own (looked up per date), and under a price
    that is ``ModelPrices.alike`` over those days (or none)."""
    if tier is not None and is_tiered(tier):
        return False
    found = book.find(api_type, model)
    return found is None or found.alike(first, last)
