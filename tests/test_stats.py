"""The fold behind token_stats.json and every report: add, merge, filter, persist."""

from __future__ import annotations

from asynctokens.stats._fold import Aggregate


def sample() -> Aggregate:
    agg = Aggregate()
    agg.add("2026-11-20", "openai", "gpt-4o", True, 100, 10, 40, 0, 0)
    agg.add("2026-11-20", "openai", "gpt-4o", False, 0, 0, 0, 0, 0)
    agg.add("2026-11-21", "anthropic", "claude-sonnet-4-5", True, 300, 30, 100, 50, 5)
    return agg


def test_totals_are_the_sums_of_the_events() -> None:
    assert sample().totals() == {
        "total_prompt_tokens": 400,
        "total_completion_tokens": 40,
        "total_tokens": 440,
        "total_cached_tokens": 140,
        "total_cache_write_tokens": 50,
        "total_cache_write_1h_tokens": 0,
        "total_reasoning_tokens": 5,
        "total_requests": 3,
        "successful_requests": 2,
        "failed_requests": 1,
        "success_rate": 66.67,
    }


def test_merging_two_halves_equals_folding_everything() -> None:
    left, right = Aggregate(), Aggregate()
    left.add("2026-11-20", "openai", "gpt-4o", True, 100, 10, 40, 0, 0)
    right.add("2026-11-20", "openai", "gpt-4o", False, 0, 0, 0, 0, 0)
    right.add("2026-11-21", "anthropic", "claude-sonnet-4-5", True, 300, 30, 100, 50, 5)
    right.add_invalid("2026-11-21", 2)
    left.merge(right)
    expected = sample()
    expected.add_invalid("2026-11-21", 2)
    assert left == expected
    assert left.invalid_lines == 2


def test_breakdowns_and_filters() -> None:
    agg = sample()
    assert {k: r["total_requests"] for k, r in agg.by("model").items()} == {
        "claude-sonnet-4-5": 1, "gpt-4o": 2,
    }  # fmt: skip
    assert list(agg.by("day")) == ["2026-11-20", "2026-11-21"]
    only = agg.filtered(days=["2026-11-21"], apis=["anthropic"])
    assert only.totals()["total_tokens"] == 330
    assert agg.filtered(models=["nope"]).totals()["total_requests"] == 0


def test_hours_are_grouped_by_their_price_day_and_bad_lines_by_theirs() -> None:
    agg = Aggregate()  # the stats keep UTC hours, each priced on its own day
    agg.add("2026-11-20T10", "openai", "gpt-4o", True, 100, 10, 40, 0, 0, 0, "h", "2026-11-20")
    agg.add("2026-11-21T23", "openai", "gpt-4o", True, 300, 0, 0, 0, 0, 0, "", "2026-11-21")
    agg.add_invalid("2026-11-20", 3)
    assert list(agg.by("day")) == ["2026-11-20", "2026-11-21"]
    assert agg.filtered(days=["2026-11-21"]).invalid_lines == 0
    assert agg.filtered(days=["2026-11-20"]).invalid_lines == 3
