"""What each provider's usage and cost reports say, per UTC day and model, in the file
format's token classes.

- OpenAI (admin key): ``/v1/organization/usage/completions`` (``input_tokens`` counts cached
  input; requests are ``num_model_requests``) and ``/v1/organization/costs`` by line item
  (``"<model>, input"``: the model is read from it).
- Anthropic (admin key): ``/v1/organizations/usage_report/messages`` (uncached input, cache
  reads, 5-minute and 1-hour cache writes, output; no request counts) and
  ``/v1/organizations/cost_report`` by description (amounts in cents, as decimal text).

Each reads saved replies (``--from``) exactly as fetched ones: ``{"usage": [pages],
"costs": [pages]}``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from asynctokens.reconcile._http import ReconcileError, pages

Key = tuple[str, str]  # (UTC day, model): the model with its service tier when split by tier

#: What the providers call their list-price tier (and OpenAI's null): one name for all.
_STANDARD: Final = frozenset({None, "", "default", "standard", "auto", "standard_only"})


def tiered(model: str, tier: Any) -> str:
    """The row name of a model served at ``tier``: the model alone at the standard tier,
    ``model (tier)`` at another (flex, priority, scale, batch)."""
    return model if tier in _STANDARD or not isinstance(tier, str) else f"{model} ({tier})"


@dataclass
class Counts:
    """One day and model: requests (None where the provider does not count them), each token
    class, and cost in USD (None where no cost was reported)."""

    requests: int | None = 0
    fresh_input: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output: int = 0
    cost: float | None = None
    #: Of the logged requests, those whose counts are not all known (``counts_unknown``):
    #: their tokens are a lower bound. Always 0 on the provider's side.
    unknown: int = 0

    def add_cost(self, usd: float) -> None:
        self.cost = (self.cost or 0.0) + usd

    def add(self, requests: int, prompt: int, completion: int, cached: int, written: int) -> None:
        """Calls as the logs count them (prompt = all input) into the provider's classes."""
        if self.requests is not None:
            self.requests += requests
        self.fresh_input += prompt - cached - written
        self.cache_read += cached
        self.cache_write += written
        self.output += completion


def _int(value: Any, what: str) -> int:
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise ReconcileError(f"the provider's report has {what} = {value!r}: not a count")
    return value


def _day(value: Any) -> str:
    """A bucket's start (epoch seconds, or RFC 3339 text) as its UTC day."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _dt.datetime.fromtimestamp(value, _dt.UTC).date().isoformat()
    if isinstance(value, str):
        try:
            moment = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_dt.UTC)
            return moment.astimezone(_dt.UTC).date().isoformat()
    raise ReconcileError(f"the provider's report has a bucket starting at {value!r}: not a time")


def _results(doc: Mapping[str, Any], start: str) -> Iterable[tuple[str, dict[str, Any]]]:
    for bucket in doc.get("data", []):
        if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
            raise ReconcileError("the provider's report has a bucket without results")
        day = _day(bucket.get(start))
        for result in bucket["results"]:
            if isinstance(result, dict):
                yield day, result


def _model(value: Any) -> str:
    return value if isinstance(value, str) and value else "(no model)"


@dataclass(frozen=True)
class Provider:
    """How to ask one provider and read its answer."""

    name: str
    api_type: str  # the api_type its calls are logged under
    key_env: str  # the environment variable the admin key is read from by default
    base_url: str
    denied: str  # what a 401/403 means
    usage_path: str
    costs_path: str
    bucket_start: str
    counts_requests: bool
    params: Callable[[_dt.date, _dt.date, str | None], dict[str, Any]]
    cost_params: Callable[[_dt.date, _dt.date, str | None], dict[str, Any]]
    headers: Callable[[str], dict[str, str]]
    read_usage: Callable[[dict[str, Any]], tuple[str, Counts]]
    read_cost: Callable[[dict[str, Any]], tuple[str, float]]
    #: The tier a usage or cost result names (None where the report does not say).
    tier_of: Callable[[dict[str, Any]], Any] = lambda result: result.get("service_tier")

    def fetch(
        self,
        key: str,
        since: _dt.date,
        until: _dt.date,
        scope: str | None,
        base_url: str | None,
        by_tier: bool = False,
    ) -> dict[str, list[dict[str, Any]]]:
        """The provider's pages for the days ``since`` to ``until`` (both included); with
        ``by_tier``, its usage grouped by service tier (and OpenAI's batch) as well."""
        base = (base_url or self.base_url).rstrip("/")
        headers = self.headers(key)
        usage = self.params(since, until, scope)
        costs = self.cost_params(since, until, scope)
        if by_tier:
            group = "group_by" if "group_by" in usage else "group_by[]"
            extra = ["service_tier", "batch"] if self.name == "openai" else ["service_tier"]
            usage[group] = [*usage[group], *extra]
            if self.name == "anthropic":
                costs[group] = [*costs[group], "service_tier"]
        return {
            "usage": list(pages(base + self.usage_path, usage, headers, denied=self.denied)),
            "costs": list(pages(base + self.costs_path, costs, headers, denied=self.denied)),
        }

    def rows(self, saved: Mapping[str, Any], by_tier: bool = False) -> dict[Key, Counts]:
        """Per (UTC day, model): what the provider reports, from its pages; with
        ``by_tier``, each service tier of a model apart (its own row name)."""
        if not isinstance(saved, Mapping) or not isinstance(saved.get("usage"), list):
            raise ReconcileError(
                "saved replies must be a JSON object with a 'usage' list of pages (and 'costs')"
            )
        out: dict[Key, Counts] = {}
        for doc in saved["usage"]:
            for day, result in _results(doc, self.bucket_start):
                model, counts = self.read_usage(result)
                if by_tier:
                    model = tiered(model, self.tier_of(result))
                row = out.setdefault((day, model), Counts(0 if self.counts_requests else None))
                if row.requests is not None and counts.requests is not None:
                    row.requests += counts.requests
                row.fresh_input += counts.fresh_input
                row.cache_read += counts.cache_read
                row.cache_write += counts.cache_write
                row.output += counts.output
        for doc in saved.get("costs") or []:
            for day, result in _results(doc, self.bucket_start):
                model, usd = self.read_cost(result)
                if by_tier:
                    model = tiered(model, self.tier_of(result))
                if usd:
                    row = out.setdefault((day, model), Counts(0 if self.counts_requests else None))
                    row.add_cost(usd)
        return out


# -- OpenAI ----------------------------------------------------------------------------------
def _epoch(day: _dt.date) -> int:
    return int(_dt.datetime.combine(day, _dt.time(0), tzinfo=_dt.UTC).timestamp())


def _openai_params(since: _dt.date, until: _dt.date, project: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "start_time": _epoch(since),
        "end_time": _epoch(until + _dt.timedelta(days=1)),
        "bucket_width": "1d",
        "group_by": ["model"],
        "limit": 31,
    }
    if project:
        params["project_ids"] = [project]
    return params


def _openai_cost_params(since: _dt.date, until: _dt.date, project: str | None) -> dict[str, Any]:
    params = _openai_params(since, until, project)
    params["group_by"] = ["line_item"]
    return params


def _openai_usage(r: dict[str, Any]) -> tuple[str, Counts]:
    total = _int(r.get("input_tokens"), "input_tokens")
    cached = _int(r.get("input_cached_tokens"), "input_cached_tokens")
    return _model(r.get("model")), Counts(
        requests=_int(r.get("num_model_requests"), "num_model_requests"),
        fresh_input=max(total - cached, 0),
        cache_read=cached,
        output=_int(r.get("output_tokens"), "output_tokens"),
    )


def _openai_tier(r: dict[str, Any]) -> Any:
    """A usage result's ``service_tier`` (``batch`` when ``batch`` is true); a cost result
    names its tier only in its line item's text (``"..., input (batch)"``), if at all."""
    if r.get("batch") is True:
        return "batch"
    if "service_tier" in r:
        return r.get("service_tier")
    item = r.get("line_item")
    for tier in ("batch", "flex", "priority", "scale"):
        if isinstance(item, str) and tier in item.lower():
            return tier
    return None


def _openai_cost(r: dict[str, Any]) -> tuple[str, float]:
    amount = r.get("amount")
    value = amount.get("value") if isinstance(amount, dict) else None
    currency = amount.get("currency", "usd") if isinstance(amount, dict) else "usd"
    if not isinstance(value, (int, float)) or isinstance(value, bool) or currency != "usd":
        raise ReconcileError(f"OpenAI's cost report has an amount of {amount!r}: not USD")
    item = r.get("line_item")
    model = item.rsplit(", ", 1)[0] if isinstance(item, str) and ", " in item else item
    return _model(model), float(value)


OPENAI: Final = Provider(
    name="openai",
    api_type="openai",
    key_env="OPENAI_ADMIN_KEY",
    base_url="https://api.openai.com",
    denied="an OpenAI admin key is needed (Organization settings, Admin keys), with read"
    " access to usage; set it in the environment variable named by --key-env",
    usage_path="/v1/organization/usage/completions",
    costs_path="/v1/organization/costs",
    bucket_start="start_time",
    counts_requests=True,
    params=_openai_params,
    cost_params=_openai_cost_params,
    headers=lambda key: {"Authorization": f"Bearer {key}"},
    read_usage=_openai_usage,
    read_cost=_openai_cost,
    tier_of=_openai_tier,
)


# -- Anthropic -------------------------------------------------------------------------------
def _rfc3339(day: _dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _anthropic_params(since: _dt.date, until: _dt.date, workspace: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "starting_at": _rfc3339(since),
        "ending_at": _rfc3339(until + _dt.timedelta(days=1)),
        "bucket_width": "1d",
        "group_by[]": ["model"],
        "limit": 31,
    }
    if workspace:
        params["workspace_ids[]"] = [workspace]
    return params


def _anthropic_cost_params(
    since: _dt.date, until: _dt.date, workspace: str | None
) -> dict[str, Any]:
    params = _anthropic_params(since, until, workspace)
    params["group_by[]"] = ["description"]
    return params


def _anthropic_usage(r: dict[str, Any]) -> tuple[str, Counts]:
    creation = r.get("cache_creation") if isinstance(r.get("cache_creation"), dict) else {}
    assert isinstance(creation, dict)
    return _model(r.get("model")), Counts(
        requests=None,
        fresh_input=_int(r.get("uncached_input_tokens"), "uncached_input_tokens"),
        cache_read=_int(r.get("cache_read_input_tokens"), "cache_read_input_tokens"),
        cache_write=_int(creation.get("ephemeral_5m_input_tokens"), "ephemeral_5m_input_tokens")
        + _int(creation.get("ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens"),
        output=_int(r.get("output_tokens"), "output_tokens"),
    )


def _anthropic_cost(r: dict[str, Any]) -> tuple[str, float]:
    amount = r.get("amount")
    try:
        cents = Decimal(amount) if isinstance(amount, str) else None
    except InvalidOperation:
        cents = None
    if cents is None or not cents.is_finite() or r.get("currency", "USD") != "USD":
        raise ReconcileError(f"Anthropic's cost report has an amount of {amount!r}: not USD cents")
    return _model(r.get("model")), float(cents / 100)


ANTHROPIC: Final = Provider(
    name="anthropic",
    api_type="anthropic",
    key_env="ANTHROPIC_ADMIN_KEY",
    base_url="https://api.anthropic.com",
    denied="an Anthropic admin key (sk-ant-admin...) is needed, made by an organization admin"
    " in the Console; set it in the environment variable named by --key-env",
    usage_path="/v1/organizations/usage_report/messages",
    costs_path="/v1/organizations/cost_report",
    bucket_start="starting_at",
    counts_requests=False,
    params=_anthropic_params,
    cost_params=_anthropic_cost_params,
    headers=lambda key: {"x-api-key": key, "anthropic-version": "2023-06-01"},
    read_usage=_anthropic_usage,
    read_cost=_anthropic_cost,
)

PROVIDERS: Final = {p.name: p for p in (OPENAI, ANTHROPIC)}
