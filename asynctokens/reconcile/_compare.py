"""What was logged against what the provider reports, per UTC day and model.

The logs are grouped as the provider groups its report: by UTC day and the model the reply
named (the served snapshot), over the calls logged under the provider's ``api_type``, with
provider requests (an instrumented client logs each request it sends). Each token class
(fresh input, cache read, cache write, output), requests where the provider counts them, and
cost where both sides have one, is compared; a row is within tolerance when every
difference is at most ``tolerance_pct`` of the provider's figure. Under each row that is not,
the causes the numbers can tell apart.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict
from typing import Any, Final

from asynctokens.pricing import PriceBook, parts_cost
from asynctokens.read import summary
from asynctokens.read._dirs import LogDirs
from asynctokens.reconcile._providers import Counts, Key, tiered
from asynctokens.record._dims import parse_dims
from asynctokens.stats._fold import (
    CACHE_WRITE,
    CACHE_WRITE_1H,
    CACHED,
    COMPLETION,
    PROMPT,
    REQUESTS,
    SUCCESSES,
)

MEASURES: Final = ("requests", "fresh_input", "cache_read", "cache_write", "output", "cost_usd")
_TOKENS: Final = ("fresh_input", "cache_read", "cache_write", "output")


def logged_rows(
    log_dir: LogDirs,
    since: _dt.date,
    until: _dt.date,
    api_type: str,
    prices: PriceBook,
    by_tier: bool = False,
) -> tuple[dict[Key, Counts], list[str]]:
    """Per (UTC day, model): what the logs hold for the provider, priced as every report is
    (the served model at its tier); with ``by_tier``, each service tier of a model apart
    (``tiered``: the stats' cells keep the tier); and the models no price covers (their
    cost is unknown, never 0: per model, or per day and tier with ``by_tier``)."""
    query = summary.Query(log_dir=log_dir, since=since.isoformat(), until=until.isoformat(),
                          prices=prices)  # fmt: skip
    agg = summary.load(query)
    out: dict[Key, Counts] = {}
    unpriced: set[str] = set()
    unpriced_rows: set[Key] = set()
    for (day, api, requested, band, price_day, _host, dims), c in agg.cells.items():
        if api.lower() != api_type:
            continue
        # the provider's usage names the model that served the request
        served = parse_dims(dims)
        model = served.response_model or requested
        tier = served.service_tier
        key = (day, tiered(model, tier) if by_tier else model)
        row = out.setdefault(key, Counts(cost=0.0))
        # the provider counts the requests its model answered: a failed attempt (a 429, a
        # 5xx, each a line of its own) is none of them
        row.add(c[SUCCESSES], c[PROMPT], c[COMPLETION], c[CACHED], c[CACHE_WRITE])
        if served.counts_unknown:
            row.unknown += c[REQUESTS]
        rates, _ = prices.cell_rates(api, model, price_day, band, agg.bands, tier)
        if rates is None:
            unpriced.add(model)
            unpriced_rows.add(key)
        elif row.cost is not None:
            row.cost += parts_cost(
                rates.parts,
                c[PROMPT],
                c[COMPLETION],
                c[CACHED],
                c[CACHE_WRITE],
                c[SUCCESSES],
                c[CACHE_WRITE_1H],
            )
    for key, row in out.items():
        if (key in unpriced_rows) if by_tier else (key[1] in unpriced):
            row.cost = None
    return out, sorted(unpriced)


def _value(counts: Counts | None, measure: str) -> float | int | None:
    if counts is None:
        return 0
    return counts.cost if measure == "cost_usd" else getattr(counts, measure)


def compare(
    logged: dict[Key, Counts],
    provider: dict[Key, Counts],
    tolerance_pct: float,
    provider_counts_requests: bool,
) -> list[dict[str, Any]]:
    """One row per (UTC day, model) either side has, in order, with its verdict and causes."""
    rows = []
    for key in sorted(set(logged) | set(provider)):
        ours, theirs = logged.get(key), provider.get(key)
        measures: dict[str, dict[str, Any]] = {}
        outside: list[str] = []
        for m in MEASURES:
            if m == "requests" and not provider_counts_requests:
                continue
            a, b = _value(ours, m), _value(theirs, m)
            if a is None or b is None:
                measures[m] = {"logged": a, "provider": b, "diff": None, "pct": None}
                continue
            diff = a - b
            pct = None if b == 0 else round(diff / b * 100, 4)
            if m == "cost_usd":
                a, b, diff = round(a, 6), round(b, 6), round(diff, 6)
            measures[m] = {"logged": a, "provider": b, "diff": diff, "pct": pct}
            if (pct is None and diff != 0) or (pct is not None and abs(pct) > tolerance_pct):
                outside.append(m)
        if ours is None:
            verdict = "missing from the logs"
        elif theirs is None:
            verdict = "not at the provider"
        else:
            verdict = "differs" if outside else "ok"
        causes = _causes(verdict, outside, measures)
        unknown = 0 if ours is None else ours.unknown
        if unknown and verdict != "ok":
            causes.insert(0, f"{unknown} logged requests have their counts unknown (the reply"
                             " reported none, or one could not be read; logged as 0): the"
                             " logged tokens and cost are a lower bound")  # fmt: skip
        rows.append({
            "day": key[0], "model": key[1], "verdict": verdict, "measures": measures,
            "outside": outside, "causes": causes, "requests_with_unknown_counts": unknown,
        })  # fmt: skip
    return rows


def _causes(verdict: str, outside: list[str], measures: dict[str, dict[str, Any]]) -> list[str]:
    """What the numbers can tell about why a row differs."""
    if verdict == "missing from the logs":
        return ["the provider billed calls the logs lack: calls not instrumented (another"
                " client or service on this key), or a host's log directory not given"]  # fmt: skip
    if verdict == "not at the provider":
        return ["the logs hold calls the provider does not report for this key's organisation:"
                " another organisation's or project's key, or lines counted twice"]  # fmt: skip
    causes = []
    requests = measures.get("requests")
    tokens_out = [m for m in outside if m in _TOKENS]
    if "requests" in outside and requests is not None:
        if requests["diff"] < 0:
            causes.append("fewer requests logged than billed: calls not instrumented, or a"
                          " host's log directory not given")  # fmt: skip
        else:
            causes.append("more requests logged than billed: duplicates, or calls made with"
                          " another organisation's key")  # fmt: skip
    elif tokens_out:
        names = ", ".join(m.replace("_", " ") for m in tokens_out)
        causes.append(f"{'requests agree but ' if requests else ''}{names} differ: token"
                      " accounting (how cached input or cache writes are reported)")  # fmt: skip
    if "cost_usd" in outside and not tokens_out and "requests" not in outside:
        tokens = sum(measures[m]["provider"] or 0 for m in _TOKENS)
        cost = measures["cost_usd"]
        if tokens:
            ours = cost["logged"] / tokens * 1_000_000
            theirs = cost["provider"] / tokens * 1_000_000
            causes.append(
                f"tokens agree but cost differs: a price or tier is wrong (the logs imply"
                f" ${ours:.4f} per million tokens, the provider ${theirs:.4f}; check"
                " `asynctokens prices` and the service tier)"
            )
    return causes


def totals(logged: dict[Key, Counts], provider: dict[Key, Counts]) -> dict[str, Any]:
    """The sums of both sides (a cost None on any row of a side makes that side's None)."""

    def total(rows: dict[Key, Counts]) -> dict[str, Any]:
        out: dict[str, Any] = {m: 0 for m in MEASURES}
        for row in rows.values():
            for m, v in asdict(row).items():
                name = "cost_usd" if m == "cost" else m
                if name not in out:  # the unknown counts: said per row
                    continue
                if v is None or out[name] is None:
                    out[name] = None
                else:
                    out[name] += v
        if out["cost_usd"] is not None:
            out["cost_usd"] = round(out["cost_usd"], 6)
        return out

    return {"logged": total(logged), "provider": total(provider)}
