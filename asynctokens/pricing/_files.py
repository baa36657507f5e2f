"""Price files a user passes with ``--pricing``: LiteLLM's JSON, or asynctokens' own TOML.

LiteLLM's ``model_prices_and_context_window.json`` (USD per token) is read for every field
that prices tokens of a standard request: ``input_cost_per_token``,
``output_cost_per_token``, ``cache_read_input_token_cost``,
``cache_creation_input_token_cost`` and each of them ``_above_<N>k_tokens`` (a long-context
tier from a prompt of more than N thousand tokens). Service-tier variants (``_priority``,
``_flex``, ``_batches``) and non-token prices are not what a standard call is billed, and are
ignored; entries with no token price (image or audio models) are skipped.

The own format is TOML, for private and self-hosted models, in USD per million tokens, with
optional dated history and tiers (README, "Costs")::

    [[model]]
    name = "my-llama-70b"      # the model name as logged
    api_type = "vllm"          # optional: only events with this api_type
    since = 2026-01-01         # optional: in force from this UTC day on
    input = 0.50
    output = 1.50
    cache_read = 0.05          # optional: cached input (else billed as input)
    cache_write = 0.60         # optional: cache writes (else billed as input)
    [[model.above]]            # optional: the whole request at these rates
    tokens = 200000            #   when its prompt exceeds this many tokens
    input = 1.00
    output = 3.00

Any price that is not 0 or a number a price can be (``true``, a string, a negative,
``inf``, ``1e308``, a subnormal), a key given twice in one JSON object, or nesting deeper than
any price file refuses the whole file with a message naming the entry: a wrong price must
not pass as a cost.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from asynctokens._errors import PricingError
from asynctokens.pricing._names import readings
from asynctokens.pricing._rates import ModelPrices, Period, Rates, Tiers

_MILLION: Final = 1_000_000
#: LiteLLM field -> the part of Rates it prices.
_LITELLM_PARTS: Final = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",
}
_LITELLM_TIER: Final = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost"
    r"|cache_creation_input_token_cost)_above_(\d+)k_tokens$"
)
_OWN_PARTS: Final = ("input", "output", "cache_read", "cache_write")
_OWN_KEYS: Final = frozenset({"name", "api_type", "since", "above", *_OWN_PARTS})
_OWN_TIER_KEYS: Final = frozenset({"tokens", *_OWN_PARTS})


@dataclass
class _Entry:
    """One model's prices from a file: dated periods, optionally for one api_type only."""

    name: str
    api_type: str | None
    periods: list[Period] = field(default_factory=list)


@dataclass
class PriceFile:
    """The entries of one price file, looked up by the names a model is logged under."""

    path: Path
    kind: str
    entries: dict[str, list[_Entry]]

    @property
    def label(self) -> str:
        return f"{self.path.name} ({len(self.entries)} models)"

    def find(self, api_type: str, model: str) -> ModelPrices | None:
        for _, name in readings(model):
            for key in (f"{api_type}/{name}", name):
                for entry in self.entries.get(key, ()):
                    if entry.api_type is None or entry.api_type == api_type:
                        return _model_prices(entry, f"{self.path.name}")
        return None


def load(path: str | os.PathLike[str]) -> PriceFile:
    """Read a price file: ``.toml`` is asynctokens' format, anything else LiteLLM's JSON."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PricingError(f"cannot read pricing file {str(p)!r}: {exc.strerror or exc}") from None
    if p.suffix.lower() == ".toml":
        return PriceFile(p, "asynctokens", _own(raw, p))
    return PriceFile(p, "litellm", _litellm(raw, p))


# -- LiteLLM -------------------------------------------------------------------------------
def _litellm(raw: bytes, path: Path) -> dict[str, list[_Entry]]:
    try:
        # the stdlib parser, unlike orjson, reads 1e999 as inf: refused below, by name
        doc = json.loads(raw, object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        raise PricingError(
            f"pricing file {str(path)!r} names {exc.args[0]!r} twice in one object: which"
            " one is meant cannot be told; keep one"
        ) from None
    except RecursionError:
        raise PricingError(
            f"pricing file {str(path)!r} is nested deeper than any price file: not read"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PricingError(f"pricing file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PricingError(
            f"pricing file {str(path)!r} must hold an object of model names, as LiteLLM's"
            " model_prices_and_context_window.json does (or use a .toml file in"
            " asynctokens' format)"
        )
    entries: dict[str, list[_Entry]] = {}
    for model, spec in doc.items():
        if model == "sample_spec" or not isinstance(spec, dict):
            continue

        def bad(key: str, value: Any, model: str = model) -> None:
            _bad(path, model, key, value)

        tiers = _litellm_tiers(spec, bad)
        if tiers is not None:
            entries[model] = [_Entry(model, None, [Period(None, tiers)])]
    if not entries:
        raise PricingError(
            f"pricing file {str(path)!r} has no entry with input_cost_per_token and"
            " output_cost_per_token"
        )
    return entries


def _litellm_tiers(spec: Mapping[str, Any], bad: Any) -> Tiers | None:
    base: dict[str, float] = {}
    above: dict[int, dict[str, float]] = {}
    for key, value in spec.items():
        if key in _LITELLM_PARTS:
            part, threshold = _LITELLM_PARTS[key], None
        else:
            m = _LITELLM_TIER.match(key)
            if m is None:
                if "cost" in key and not isinstance(value, (dict, list)) and value is not None:
                    _price(value, key, bad)  # a price asynctokens does not use must still be one
                continue
            part, threshold = _LITELLM_PARTS[m.group(1)], int(m.group(2)) * 1000
        if value is None:
            continue
        rate = _price(value, key, bad)
        (base if threshold is None else above.setdefault(threshold, {}))[part] = rate
    if "input" not in base or "output" not in base:
        return None
    return _build(base, above)


class _Duplicate(Exception):
    """A key given twice in one JSON object (the stdlib keeps the last, silently)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


# -- asynctokens' TOML ---------------------------------------------------------------------
def _own(raw: bytes, path: Path) -> dict[str, list[_Entry]]:
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except RecursionError:
        raise PricingError(
            f"pricing file {str(path)!r} is nested deeper than any price file: not read"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PricingError(f"pricing file {str(path)!r} is not valid TOML: {exc}") from None
    models = doc.get("model")
    unknown = set(doc) - {"model"}
    if unknown or not isinstance(models, list) or not models:
        raise PricingError(
            f"pricing file {str(path)!r} must hold [[model]] tables (name, input, output in"
            " USD per million tokens); see the README's Costs section"
        )
    entries: dict[str, list[_Entry]] = {}
    for i, spec in enumerate(models, 1):
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise PricingError(f"pricing file {str(path)!r}: [[model]] #{i} needs a name")

        def bad(key: str, value: Any, name: str = name) -> None:
            _bad(path, name, key, value, per_million=True)

        for key in spec.keys() - _OWN_KEYS:
            raise PricingError(
                f"pricing file {str(path)!r}: model {name!r}: unknown key {key!r} (known:"
                f" {', '.join(sorted(_OWN_KEYS))})"
            )
        api_type = spec.get("api_type")
        if api_type is not None and not isinstance(api_type, str):
            raise PricingError(f"pricing file {str(path)!r}: model {name!r}: api_type must be text")
        since = _since(spec.get("since"), path, name)
        for part in ("input", "output"):
            if part not in spec:
                raise PricingError(
                    f"pricing file {str(path)!r}: model {name!r} has no {part} price (USD per"
                    " million tokens)"
                )
        base = {k: _price(spec[k], k, bad, _MILLION) / _MILLION for k in _OWN_PARTS if k in spec}
        above: dict[int, dict[str, float]] = {}
        tiers = spec.get("above", [])
        if not isinstance(tiers, list):
            raise PricingError(f"pricing file {str(path)!r}: model {name!r}: use [[model.above]]")
        for tier in tiers:
            tokens = tier.get("tokens")
            if type(tokens) is not int or tokens <= 0 or tier.keys() - _OWN_TIER_KEYS:
                raise PricingError(
                    f"pricing file {str(path)!r}: model {name!r}: each [[model.above]] needs"
                    " tokens = a whole number > 0 and prices among input, output, cache_read,"
                    " cache_write"
                )
            above[tokens] = {
                k: _price(tier[k], f"above {tokens}: {k}", bad, _MILLION) / _MILLION
                for k in _OWN_PARTS
                if k in tier
            }
        group = entries.setdefault(name, [])
        entry = next((e for e in group if e.api_type == api_type), None)
        if entry is None:
            entry = _Entry(name, api_type)
            group.append(entry)
        if any(p.since == since for p in entry.periods):
            raise PricingError(
                f"pricing file {str(path)!r}: model {name!r} has two prices since"
                f" {since or 'the start'}"
            )
        entry.periods.append(Period(since, _build(base, above)))
    for group in entries.values():
        for entry in group:
            entry.periods.sort(key=lambda p: p.since or _dt.date.min)
    return entries


def _since(value: Any, path: Path, name: str) -> _dt.date | None:
    if value is None:
        return None
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise PricingError(
        f"pricing file {str(path)!r}: model {name!r}: since must be a date such as 2026-01-01,"
        f" not {value!r}"
    )


# -- shared --------------------------------------------------------------------------------
#: The range a price per token can lie in, when it is not 0: from a millionth of a dollar
#: per million tokens to a dollar per token (the dearest models cost about $0.0006). A
#: number beyond it (1e308, a subnormal) is a typo or an attack, never a price.
_LOWEST, _HIGHEST = 1e-12, 1.0


def _price(value: Any, key: str, bad: Any, per: int = 1) -> float:
    """``value`` as a price; ``per``: how many tokens it is the price of (a million in the
    TOML format)."""
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        bad(key, value)
    if value and not _LOWEST * per <= value <= _HIGHEST * per:
        bad(key, value)
    return float(value)


def _bad(path: Path, model: str, key: str, value: Any, *, per_million: bool = False) -> None:
    unit = "USD per million tokens" if per_million else "USD"
    scale = _MILLION if per_million else 1
    raise PricingError(
        f"pricing file {str(path)!r}: model {model!r}: {key} must be 0 or a number from"
        f" {_LOWEST * scale:g} to {_HIGHEST * scale:g} ({unit}), not"
        f" {json.dumps(value) if _jsonable(value) else repr(value)}"
    )


def _jsonable(value: Any) -> bool:
    return isinstance(value, (bool, str, int)) or (
        isinstance(value, float) and math.isfinite(value)
    )


def _build(base: Mapping[str, float], above: Mapping[int, Mapping[str, float]]) -> Tiers:
    """Tiers from base parts and per-threshold overrides; a part a tier omits keeps its rate."""

    def rates(parts: Mapping[str, float]) -> Rates:
        return Rates(
            parts.get("input", 0.0),
            parts.get("output", 0.0),
            parts.get("cache_read"),
            parts.get("cache_write"),
        )

    current = dict(base)
    out: list[tuple[int, Rates]] = []
    for threshold in sorted(above):
        current = {**current, **above[threshold]}
        out.append((threshold, rates(current)))
    return Tiers(rates(base), tuple(out))


def _model_prices(entry: _Entry, source: str) -> ModelPrices:
    periods = tuple(entry.periods)

    def at(instant: _dt.datetime) -> Tiers | None:
        day = instant.astimezone(_dt.UTC).date()
        tiers = None  # before the first since: not this file's price
        for period in periods:
            if period.since is None or period.since <= day:
                tiers = period.tiers
        return tiers

    return ModelPrices(
        model=entry.name,
        provider=entry.api_type or "any",
        source=source,
        periods=periods,
        at=at,
    )
