"""``asynctokens reconcile``: what was logged, against the provider's own usage and cost
reports, per UTC day and model.

:func:`run` fetches the provider's reports with an admin key read from the environment (never
a parameter of the command line, never printed or written) or reads saved replies
(``saved``), and returns the comparison as a plain dict (what ``--json`` prints): rows with
their verdict against the tolerance and the likely causes, the totals, and ``ok``.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from typing import Any

from asynctokens.pricing import PriceBook
from asynctokens.read._dirs import LogDirs
from asynctokens.reconcile._compare import compare, logged_rows, totals
from asynctokens.reconcile._google import rows_from_billing_export
from asynctokens.reconcile._http import ReconcileError
from asynctokens.reconcile._providers import PROVIDERS, Counts, Key, Provider

__all__ = ["PROVIDERS", "ReconcileError", "fetch", "run"]


def fetch(
    provider: str,
    since: _dt.date,
    until: _dt.date,
    *,
    key_env: str | None = None,
    base_url: str | None = None,
    scope: str | None = None,
    by_tier: bool = False,
) -> dict[str, Any]:
    """The provider's usage and cost pages for ``since``..``until`` (UTC days, included), with
    the admin key of the environment variable ``key_env`` (default: the provider's own):
    what ``run(saved=...)`` reads, and what ``--save`` writes."""
    spec = _spec(provider, since, until)
    env = key_env or spec.key_env
    key = os.environ.get(env, "")
    if not key:
        raise ReconcileError(f"no admin key in the environment variable {env}: {spec.denied}")
    return spec.fetch(key, since, until, scope, base_url, by_tier)


def _spec(provider: str, since: _dt.date, until: _dt.date) -> Provider:
    spec = PROVIDERS.get(provider)
    if spec is None:
        raise ReconcileError(f"reconcile knows {', '.join(sorted(PROVIDERS))}, not {provider!r}")
    if until < since:
        raise ReconcileError(f"--until {until} is before --since {since}")
    return spec


def run(
    provider: str,
    log_dir: LogDirs,
    since: _dt.date,
    until: _dt.date,
    *,
    tolerance_pct: float = 1.0,
    key_env: str | None = None,
    base_url: str | None = None,
    scope: str | None = None,
    saved: Mapping[str, Any] | None = None,
    prices: PriceBook | None = None,
    billing_export: str | os.PathLike[str] | None = None,
    by_tier: bool = False,
) -> dict[str, Any]:
    """Compare the logs of ``log_dir`` with ``provider``'s report for ``since``..``until``
    (UTC days, both included): its replies ``saved`` (see :func:`fetch`), else fetched now;
    ``scope`` narrows the provider's side (an OpenAI project, an Anthropic workspace).
    ``google`` reads ``billing_export`` (a Cloud Billing CSV) instead of an API. ``by_tier``:
    each service tier of a model apart, on both sides (the logs' side read from the lines).
    ``ReconcileError`` when the report cannot be had or read."""
    if provider == "google":
        if billing_export is None:
            raise ReconcileError(
                "the Gemini API has no usage API: pass --billing-export FILE, a Cloud Billing"
                " export (the cost table as CSV, or the BigQuery standard usage cost table)"
            )
        theirs = rows_from_billing_export(billing_export)
        # the logs' calls to Gemini; the export counts no requests
        return _report("google", "gemini", False, log_dir, since, until, tolerance_pct,
                       theirs, prices, by_tier=False)  # fmt: skip
    spec = _spec(provider, since, until)
    if saved is None:
        saved = fetch(provider, since, until, key_env=key_env, base_url=base_url, scope=scope,
                      by_tier=by_tier)  # fmt: skip
    return _report(spec.name, spec.api_type, spec.counts_requests, log_dir, since, until,
                   tolerance_pct, spec.rows(saved, by_tier), prices, by_tier=by_tier)  # fmt: skip


def _report(
    name: str,
    api_type: str,
    counts_requests: bool,
    log_dir: LogDirs,
    since: _dt.date,
    until: _dt.date,
    tolerance_pct: float,
    theirs: dict[Key, Counts],
    prices: PriceBook | None,
    *,
    by_tier: bool,
) -> dict[str, Any]:
    theirs = {k: v for k, v in theirs.items() if since.isoformat() <= k[0] <= until.isoformat()}
    book = prices if prices is not None else PriceBook()
    ours, unpriced = logged_rows(log_dir, since, until, api_type, book, by_tier)
    rows = compare(ours, theirs, tolerance_pct, counts_requests)
    return {
        "provider": name,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "tolerance_pct": tolerance_pct,
        "by_tier": by_tier,
        "rows": rows,
        "totals": totals(ours, theirs),
        "unpriced_models": unpriced,
        "pricing": book.describe(),
        "ok": all(r["verdict"] == "ok" for r in rows),
    }
