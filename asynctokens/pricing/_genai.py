"""Prices from the maintained genai-prices package: its bundled data, or an opted-in update.

genai-prices keeps 2,000+ models with dated prices, long-context tiers and cache rates, and
matches the many names a model is called by. This module asks it for a model's entry and
turns the entry's prices into :class:`~asynctokens.pricing._rates.Tiers`, using the
package's own rule for which price is in force at an instant (``ModelInfo.get_prices``) and
for which tier a prompt size falls in (``calc_unit_price``). It is imported only when a
report prices something, never by the writer.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from importlib.metadata import version
from typing import Any, Final

from genai_prices import data_snapshot
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
    calc_unit_price,
)

from asynctokens._errors import PricingError
from asynctokens.pricing._corrections import corrected
from asynctokens.pricing._names import PROVIDER_IDS, readings
from asynctokens.pricing._rates import ModelPrices, Period, Rates, Tiers

#: Environment variable naming the URL ``--update-prices`` fetches (tests point it at a
#: local server; the default is genai-prices' own).
ENV_UPDATE_URL: Final = "ASYNCTOKENS_PRICES_URL"
_PARTS: Final = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
_MILLION: Final = 1_000_000


class GenaiSource:
    """Looks models up in one genai-prices data snapshot."""

    def __init__(self, snapshot: Any, data: str) -> None:
        self._snapshot = snapshot
        self.version = version("genai-prices")
        self.data = data
        self._newest: _dt.date | None = None

    @property
    def name(self) -> str:
        return f"genai-prices {self.version}"

    @property
    def data_date(self) -> _dt.date:
        """How recent the data is: the day it was fetched (``--update-prices``), else the
        newest price change the bundled data knows of that has begun (the package does not
        say when its data was made; this is the latest day it is known to be true for)."""
        snapshot = self._snapshot
        if snapshot.from_auto_update:
            return snapshot.timestamp.date()  # type: ignore[no-any-return]
        if self._newest is None:
            today = _dt.datetime.now(_dt.UTC).date()
            starts = [
                cp.constraint.start_date
                for provider in snapshot.providers
                for model in provider.models
                if isinstance(model.prices, list)
                for cp in model.prices
                if isinstance(cp.constraint, StartDateConstraint)
                and cp.constraint.start_date <= today
            ]
            self._newest = max(starts, default=_dt.date(2025, 1, 1))
        return self._newest

    def find(self, api_type: str, model: str) -> ModelPrices | None:
        found = self._lookup(api_type, model)
        return None if found is None else found[0]

    def variant_tiers(
        self, api_type: str, model: str, context: dict[str, str], instant: _dt.datetime
    ) -> Tiers | None:
        """The model's rates at ``instant`` under the price variants ``context`` selects
        (a service tier, batch processing), or None when no variant of it is in force
        then: genai-prices' own rule (``ModelInfo.get_prices``) resolves them."""
        found = self._lookup(api_type, model)
        if found is None:
            return None
        info = found[1]
        active = [
            v
            for v in info.price_variants or ()
            if (v.constraint is None or v.constraint.active(instant))
            and all(context.get(k) == value for k, value in v.when.items())
        ]
        if not active:
            return None
        return _tiers(info.get_prices(instant, context))

    def _lookup(self, api_type: str, model: str) -> tuple[ModelPrices, ModelInfo] | None:
        provider_id = PROVIDER_IDS.get(api_type.lower())
        for hint, name in readings(model):
            tried: list[str | None] = []
            named = PROVIDER_IDS.get((hint or "").lower())
            # every provider's models only when neither the api_type nor the name says whose
            # model it is: a name a known provider does not price is unpriced, not priced as
            # another provider's model of that name (and not searched for across 2,000)
            candidates: list[str | None] = [p for p in (provider_id, named) if p is not None]
            for pid in candidates or [None]:
                if pid in tried:
                    continue
                tried.append(pid)
                try:
                    provider, info = self._snapshot.find_provider_model(name, None, pid, None)
                except LookupError:
                    continue
                found = _model_prices(info, provider.id, self.name)
                if found is not None:
                    return corrected(found), info
        return None


def bundled() -> GenaiSource:
    """The data that ships with the installed genai-prices: offline, the default."""
    snapshot = data_snapshot.get_snapshot()
    if snapshot.from_auto_update:  # an update in this process (update_prices) stays in use
        return GenaiSource(snapshot, f"updated at {snapshot.timestamp:%Y-%m-%d %H:%M}")
    return GenaiSource(snapshot, "bundled data")


def update_prices(timeout: float = 30.0) -> GenaiSource:
    """Fetch the latest prices with genai-prices' own updater; PricingError if it fails."""
    from genai_prices import UpdatePrices
    from genai_prices.update_prices import DEFAULT_UPDATE_URL

    url = os.environ.get(ENV_UPDATE_URL) or DEFAULT_UPDATE_URL
    # the updater logs its failure too; the PricingError below says it once, in one line
    logging.getLogger("genai-prices").addHandler(logging.NullHandler())
    updater = UpdatePrices(url=url)
    try:
        updated = updater.start(wait=timeout) or updater.wait(0)
    except Exception as exc:  # the updater re-raises whatever its fetch met
        raise PricingError(
            f"could not update prices from {url}: {_first_line(exc)}; run without"
            " --update-prices to use"
            " the prices bundled with genai-prices"
        ) from None
    finally:
        updater.stop()  # type: ignore[no-untyped-call]  # genai-prices leaves it untyped
    snapshot = data_snapshot.get_snapshot()
    if not updated or not snapshot.from_auto_update:
        raise PricingError(
            f"could not update prices from {url} within {timeout:g} s; run without"
            " --update-prices to use the prices bundled with genai-prices"
        )
    return GenaiSource(snapshot, f"updated from {url} at {snapshot.timestamp:%Y-%m-%d %H:%M}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _model_prices(info: ModelInfo, provider: str, source: str) -> ModelPrices | None:
    """The entry's token prices, or None when it prices no tokens (images, audio seconds)."""
    if isinstance(info.prices, list):
        entries = [(cp.constraint, cp.prices) for cp in info.prices]
    else:
        entries = [(None, info.prices)]
    periods: list[Period] = []
    boundaries: set[_dt.time] = set()
    for constraint, price in entries:
        tiers = _tiers(price)
        if tiers is None:
            continue
        if isinstance(constraint, StartDateConstraint):
            periods.append(Period(constraint.start_date, tiers))
        elif isinstance(constraint, TimeOfDateConstraint):
            start, end = _utc_time(constraint.start_time), _utc_time(constraint.end_time)
            boundaries.update((start, end))
            periods.append(Period(None, tiers, (start, end)))
        else:
            periods.append(Period(None, tiers))
    if not periods:
        return None
    fallback = periods[0].tiers

    def at(instant: _dt.datetime) -> Tiers:
        # genai-prices' own rule for the price in force; a period that prices no tokens
        # (none known) falls back to the first that does, never to $0
        tiers = _tiers(info.get_prices(instant))
        return fallback if tiers is None else tiers

    return ModelPrices(
        model=info.id,
        provider=provider,
        source=source,
        periods=tuple(periods),
        at=at,
        boundaries=tuple(sorted(boundaries)),
    )


def _utc_time(t: _dt.time) -> _dt.time:
    if t.tzinfo is None:
        return t
    moment = _dt.datetime.combine(_dt.date(2000, 1, 1), t).astimezone(_dt.UTC)
    return moment.time()


#: id(ModelPrice) -> (that price, its Tiers): the snapshot keeps its prices alive, and the
#: price is kept here too, so an id is never reused while its entry exists.
_CONVERTED: dict[int, tuple[ModelPrice, Tiers | None]] = {}


def _tiers(price: ModelPrice) -> Tiers | None:
    """The token rates of a genai-prices ModelPrice; None when it prices no tokens."""
    hit = _CONVERTED.get(id(price))
    if hit is not None and hit[0] is price:
        return hit[1]
    tiers = _convert(price)
    _CONVERTED[id(price)] = (price, tiers)
    return tiers


def _convert(price: ModelPrice) -> Tiers | None:
    fields = price.__dict__
    values = [fields.get(k) for k in _PARTS]
    if values[0] is None and values[1] is None:
        return None  # priced per image, per second...: not by tokens
    request = fields.get("requests_kcount")
    points = sorted({t.start for v in values if isinstance(v, TieredPrices) for t in v.tiers})

    def rates(prompt: int) -> Rates:
        # the package's own tier rule: which rate a prompt of this size pays, per token
        per = [
            None if v is None else float(calc_unit_price(v, 1, prompt, _MILLION)) for v in values
        ]
        return Rates(
            per[0] or 0.0,
            per[1] or 0.0,
            per[2],
            per[3],
            0.0 if request is None else float(calc_unit_price(request, 1, prompt, 1000)),
        )

    return Tiers(rates(0), tuple((t, rates(t + 1)) for t in points))
