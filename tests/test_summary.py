"""summary and pricing: exact totals, per-dimension rows and cost to the cent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asynctokens import TokenTracker, summary
from asynctokens.pricing import load_prices


def pick(row: dict[str, Any]) -> dict[str, Any]:
    """The counters of a report row, without its cost and what pricing met."""
    priced = ("cost_usd", "unpriced_tokens", "unpriced_models")
    return {k: v for k, v in row.items() if k not in priced}


def test_totals_and_cost_of_the_fixture(fixture_dir: Path) -> None:
    report = summary.summary(summary.Query(log_dir=fixture_dir))
    t = report["totals"]
    assert pick(t) == {
        "total_prompt_tokens": 6_150_100,
        "total_completion_tokens": 1_620_100,
        "total_tokens": 7_770_200,
        "total_cached_tokens": 1_400_000,
        "total_cache_write_tokens": 500_000,
        "total_cache_write_1h_tokens": 0,
        "total_reasoning_tokens": 100_000,
        "total_requests": 6,
        "successful_requests": 5,
        "failed_requests": 1,
        "success_rate": 83.33,
        "total_uncached_input_tokens": 6_150_100 - 1_400_000 - 500_000,
        "requests_with_unknown_counts": 0,
    }
    # one model has no price: the priced part, and what is not priced beside it
    assert report["unpriced_models"] == t["unpriced_models"] == ["my-local-llama"]
    assert t["unpriced_tokens"] == 200
    # gpt-4o 4.00 + gpt-4o-mini 0.60 + claude-sonnet-4-5 26.85 + gemini-2.5-flash 0.845
    assert t["cost_usd"] == 32.295


def test_cost_per_model_prices_cached_input_at_the_cached_rate(fixture_dir: Path) -> None:
    rows = summary.breakdown(summary.Query(log_dir=fixture_dir), "model")["rows"]
    costs = {m: r["cost_usd"] for m, r in rows.items()}
    assert costs == {
        # a 3M-token prompt is past Anthropic's 200k tier: the whole request at $6 / $0.60 /
        # $7.50 / $22.50: 1.5M*6 + 1M*0.60 + 0.5M*7.50 + 0.6M*22.50
        "claude-sonnet-4-5": 26.85,
        "gemini-2.5-flash": 0.845,  # 0.15M*0.30 + 0.32M*2.50
        "gpt-4o": 4.0,  # 0.6M*2.50 + 0.4M*1.25 (cached) + 0.2M*10
        "gpt-4o-mini": 0.6,
        "my-local-llama": 0.0,  # no price: its 200 tokens are in unpriced_tokens
    }
    assert rows["gemini-2.5-flash"]["success_rate"] == 50.0


def test_filters_and_breakdowns(fixture_dir: Path) -> None:
    q = summary.Query(log_dir=fixture_dir, apis=["openai"])
    report = summary.breakdown(q, "day")
    assert list(report["rows"]) == ["2026-11-20"]
    assert report["totals"]["cost_usd"] == pytest.approx(4.60)
    by_api = summary.breakdown(summary.Query(log_dir=fixture_dir), "api")["rows"]
    assert {a: r["total_requests"] for a, r in by_api.items()} == {
        "anthropic": 1, "gemini": 2, "local": 1, "openai": 2,
    }  # fmt: skip
    monthly = summary.breakdown(summary.Query(log_dir=fixture_dir), "month")["rows"]
    assert list(monthly) == ["2026-11"]
    only = summary.summary(summary.Query(log_dir=fixture_dir, models=["gpt-4o"]))
    assert (only["totals"]["total_requests"], only["totals"]["cost_usd"]) == (1, pytest.approx(4.0))


def test_seed_example_summary(tmp_path: Path) -> None:
    tracker = TokenTracker(tmp_path)
    tracker.log(150, 320, "gemini", "gemini-2.5-flash")
    tracker.log(300, 450, model="gemini-2.5-flash")
    tracker.log(0, 0, success=False, error_message="429", model="gemini-2.5-flash")
    tracker.log(250, 500, model="gemini-2.5-flash-lite")
    tracker.close()
    t = summary.summary(summary.Query(log_dir=tmp_path))["totals"]
    assert pick(t) == {
        "total_prompt_tokens": 700,
        "total_uncached_input_tokens": 700,
        "total_completion_tokens": 1270,
        "total_tokens": 1970,
        "total_cached_tokens": 0,
        "total_cache_write_tokens": 0,
        "total_cache_write_1h_tokens": 0,
        "total_reasoning_tokens": 0,
        "total_requests": 4,
        "successful_requests": 3,
        "failed_requests": 1,
        "success_rate": 75.0,
        "requests_with_unknown_counts": 0,
    }


def test_recent_returns_the_newest_calls_with_their_cost(fixture_dir: Path) -> None:
    events = summary.recent(summary.Query(log_dir=fixture_dir), 2)["events"]
    assert [(e["model"], e["cost_usd"]) for e in events] == [
        ("my-local-llama", None),
        ("gemini-2.5-flash", pytest.approx(0.845)),
    ]
    with pytest.raises(ValueError, match="-n must be >= 1, got 0"):
        summary.recent(summary.Query(log_dir=fixture_dir), 0)


def test_litellm_pricing_file_prices_unknown_models(fixture_dir: Path, tmp_path: Path) -> None:
    prices = tmp_path / "model_prices_and_context_window.json"
    prices.write_text(json.dumps({
        "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0},
        "my-local-llama": {"input_cost_per_token": 1e-3, "output_cost_per_token": 2e-3,
                           "litellm_provider": "ollama"},
        "gpt-4o": {"input_cost_per_token": 5e-06, "output_cost_per_token": 1.5e-05,
                   "cache_read_input_token_cost": 2.5e-06},
    }))  # fmt: skip
    book = load_prices([prices])
    report = summary.summary(summary.Query(log_dir=fixture_dir, prices=book))
    # llama 100*1e-3 + 100*2e-3 = 0.30; gpt-4o keeps genai-prices' dated price (0.6M*2.5 +
    # 0.4M*1.25 + 0.2M*10 = 4.00): the file has no dates and must not re-price its history
    assert report["totals"]["cost_usd"] == round(0.30 + 4.00 + 0.60 + 26.85 + 0.845, 6)
    assert report["unpriced_models"] == []
    # asked to, the file wins for every date: 0.6M*5 + 0.4M*2.5 + 0.2M*15 = 7.00
    overriding = load_prices([prices], override=True)
    report_all = summary.summary(summary.Query(log_dir=fixture_dir, prices=overriding))
    assert report_all["totals"]["cost_usd"] == round(0.30 + 7.00 + 0.60 + 26.85 + 0.845, 6)
    assert report["pricing"]["files"] == ["model_prices_and_context_window.json (2 models)"]
    assert report["pricing"]["text"] == (
        "model_prices_and_context_window.json (2 models), then genai-prices"
        f" {report['pricing']['version']} (bundled data)"
    )


def test_recent_within_a_range_reads_only_its_days(fixture_dir: Path) -> None:
    q = summary.Query(log_dir=fixture_dir, since="2026-11-21", until="2026-11-21")
    events = summary.recent(q, 10)["events"]
    assert [(e["model"], e["success"]) for e in events] == [
        ("gemini-2.5-flash", True),
        ("gemini-2.5-flash", False),
    ]
    instant = summary.Query(log_dir=fixture_dir, until="2026-11-20T12:00:00+00:00")
    assert [e["model"] for e in summary.recent(instant, 10)["events"]] == ["gpt-4o"]
