"""Costs as providers bill them: tiers, dated prices, cache rates, unknown models, price files.

Prices of real models come from the genai-prices data installed (past prices that will not
change); the tier, date and refusal rules are also tested on prices written out here.
"""

from __future__ import annotations

import csv
import datetime as dt
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import read_lines
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli import run_cli

from asynctokens import PricingError, TokenTracker, reader, summary
from asynctokens.pricing import load_prices
from asynctokens.record._format import EVENT_FIELDS, PROMPT_BANDS, STATS_VERSION
from asynctokens.render import csv as csv_export


def at(day: str, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02}:{minute:02}:00+00:00")


def write(log_dir: Path, *calls: dict[str, Any]) -> Path:
    tracker = TokenTracker(log_dir)
    for call in calls:
        tracker.log(**call)
    assert tracker.close() is True
    return log_dir


def costs(log_dir: Path, dimension: str = "model", **query: Any) -> dict[str, Any]:
    rows = summary.breakdown(summary.Query(log_dir=log_dir, **query), dimension)["rows"]
    return {k: r["cost_usd"] for k, r in rows.items()}


def csv_costs(log_dir: Path, **query: Any) -> list[tuple[str, str]]:
    q = summary.Query(log_dir=log_dir, **query)
    out = io.StringIO()
    csv_export.write(summary.iter_filtered(q, reader.ReadReport()), out, q.prices)
    return [(r["model"], r["cost_usd"]) for r in csv.DictReader(io.StringIO(out.getvalue()))]


# -- long-context tiers -----------------------------------------------------------------------
def test_a_tiered_request_is_billed_whole_at_the_rate_of_its_side_of_the_threshold(
    tmp_path: Path,
) -> None:
    # gemini-2.5-pro: $1.25 / $10 per 1M up to 200k prompt tokens, $2.50 / $15 above
    log_dir = write(
        tmp_path,
        dict(prompt_tokens=200_000, completion_tokens=1_000, api_type="gemini",
             model="gemini-2.5-pro", ts=at("2026-11-20", 9)),
        dict(prompt_tokens=200_001, completion_tokens=1_000, api_type="gemini",
             model="gemini-2.5-pro", ts=at("2026-11-21", 9)),
        # the example: 250k in, 1k out is $0.64 as Google bills it (not $0.3225)
        dict(prompt_tokens=250_000, completion_tokens=1_000, api_type="gemini",
             model="gemini-2.5-pro", ts=at("2026-11-22", 9)),
        dict(prompt_tokens=250_000, completion_tokens=1_000, api_type="gemini",
             model="gemini-3-pro-preview", ts=at("2026-11-22", 10)),
    )  # fmt: skip
    assert costs(log_dir, "day") == {
        "2026-11-20": 0.26,  # 200,000 * 1.25e-6 + 1,000 * 10e-6
        "2026-11-21": 0.515003,  # 200,001 * 2.5e-6 + 1,000 * 15e-6 = 0.5150025
        "2026-11-22": 0.64 + 1.018,  # gemini-3-pro-preview: 250k * 4e-6 + 1k * 18e-6
    }
    # the stats file kept the two sides apart, so the report above needed no scan
    stats = orjson.loads((log_dir / "token_stats.json").read_bytes())
    assert stats["prompt_bands"] == list(PROMPT_BANDS)
    month = orjson.loads((log_dir / "token_stats_2026-11.json").read_bytes())
    host = socket.gethostname()
    assert month["keys"] == [  # (provider, model, prompt band, host, dims), with columns
        ["gemini", "gemini-2.5-pro", 4, host, ""],
        ["gemini", "gemini-2.5-pro", 5, host, ""],
        ["gemini", "gemini-2.5-pro", 5, host, ""],  # a day later: an entry of its own
        ["gemini", "gemini-3-pro-preview", 5, host, ""],
    ]
    # the first hour of each entry's columns ((day - 1) * 24 + hour), its requests per hour
    assert [(c[0], c[1]) for c in month["columns"]] == [
        (19 * 24 + 9, [1]), (20 * 24 + 9, [1]), (21 * 24 + 9, [1]), (21 * 24 + 10, [1])
    ]  # fmt: skip
    # each call priced on its own in the CSV agrees with the report
    assert csv_costs(log_dir) == [
        ("gemini-2.5-pro", "0.26000000"),
        ("gemini-2.5-pro", "0.51500250"),
        ("gemini-2.5-pro", "0.64000000"),
        ("gemini-3-pro-preview", "1.01800000"),
    ]


def test_many_small_requests_of_a_day_stay_at_the_base_rate(tmp_path: Path) -> None:
    """Tiers go by each request's own prompt, never by a day's sum of prompts."""
    calls = [
        dict(prompt_tokens=150_000, completion_tokens=0, api_type="gemini",
             model="gemini-2.5-pro", ts=at("2026-11-20", h))
        for h in range(3)
    ]  # fmt: skip
    assert costs(write(tmp_path, *calls)) == {"gemini-2.5-pro": 0.5625}  # 450k * 1.25e-6


# -- dated prices -----------------------------------------------------------------------------
def test_each_event_is_priced_at_the_price_in_force_on_its_date(tmp_path: Path) -> None:
    # o3 cost $10 / $40 per 1M until OpenAI cut it to $2 / $8 on 2025-06-10
    log_dir = write(
        tmp_path,
        dict(prompt_tokens=1_000_000, completion_tokens=100_000, api_type="openai", model="o3",
             ts=at("2025-05-10")),
        dict(prompt_tokens=1_000_000, completion_tokens=100_000, api_type="openai", model="o3",
             ts=at("2025-06-09", 23, 59)),
        dict(prompt_tokens=1_000_000, completion_tokens=100_000, api_type="openai", model="o3",
             ts=at("2025-06-10", 0, 1)),
    )  # fmt: skip
    assert costs(log_dir, "day") == {"2025-05-10": 14.0, "2025-06-09": 14.0, "2025-06-10": 2.8}
    assert [c for _, c in csv_costs(log_dir)] == ["14.00000000", "14.00000000", "2.80000000"]
    # a day of another zone that spans the change prices each event at its own UTC date
    lisbon_summer = costs(log_dir, "day", timezone="Europe/Lisbon")  # UTC+1 in June
    assert lisbon_summer == {"2025-05-10": 14.0, "2025-06-10": 16.8}


# -- cache and reasoning ------------------------------------------------------------------------
def test_cached_and_cache_written_input_at_their_rates_reasoning_billed_once(
    tmp_path: Path,
) -> None:
    # claude-sonnet-4-5: input $3, cache read $0.30, cache write $3.75, output $15 per 1M.
    # prompt 2,600 = 100 fresh + 2,000 cache read + 500 cache write; 300 output of which
    # 100 were thinking: those are inside the 300 and not billed again.
    log_dir = write(
        tmp_path,
        dict(prompt_tokens=2_600, completion_tokens=300, cached_tokens=2_000,
             cache_write_tokens=500, reasoning_tokens=100, api_type="anthropic",
             model="claude-sonnet-4-5", ts=at("2026-11-20")),
    )  # fmt: skip
    expected = 100 * 3e-6 + 2_000 * 0.3e-6 + 500 * 3.75e-6 + 300 * 15e-6  # 0.007275
    assert costs(log_dir) == {"claude-sonnet-4-5": round(expected, 6)}
    assert csv_costs(log_dir) == [("claude-sonnet-4-5", f"{expected:.8f}")]


# -- unknown models -------------------------------------------------------------------------------
def test_an_unknown_model_is_never_zero(tmp_path: Path) -> None:
    log_dir = write(
        tmp_path,
        dict(prompt_tokens=1_000, completion_tokens=500, api_type="local", model="my-llama",
             ts=at("2026-11-20")),
        dict(prompt_tokens=1_000_000, completion_tokens=0, api_type="openai", model="gpt-4o",
             ts=at("2026-11-20")),
        # a failed call with no tokens costs nothing even unpriced
        dict(prompt_tokens=0, completion_tokens=0, api_type="local", model="other",
             success=False, ts=at("2026-11-20")),
    )  # fmt: skip
    report = summary.summary(summary.Query(log_dir=log_dir))
    # the cost of what is priced, and beside it what no price covers: never a silent $0
    totals = report["totals"]
    assert (totals["cost_usd"], totals["unpriced_tokens"]) == (2.5, 1_500)
    assert totals["unpriced_models"] == report["unpriced_models"] == ["my-llama"]
    assert report["unpriced_tokens_by_model"] == {"my-llama": 1_500}
    assert costs(log_dir) == {"gpt-4o": 2.5, "my-llama": 0.0, "other": 0.0}
    rows = summary.breakdown(summary.Query(log_dir=log_dir), "model")["rows"]
    assert {m: r["unpriced_tokens"] for m, r in rows.items()} == {
        "gpt-4o": 0, "my-llama": 1_500, "other": 0,
    }  # fmt: skip
    assert csv_costs(log_dir)[0] == ("my-llama", "")


@pytest.mark.parametrize(
    ("api_type", "name", "matched"),
    [
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("gemini", "models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("openai", "openai/gpt-4o", "gpt-4o"),
        ("custom-router", "openai/gpt-4o", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("vertex", "gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("local", "my-local-llama", None),
    ],
)
def test_names_as_logged_find_their_model(api_type: str, name: str, matched: str | None) -> None:
    found = load_prices().find(api_type, name)
    assert (found and found.model) == matched


# -- time-of-day prices ---------------------------------------------------------------------------
def test_a_price_by_time_of_day_is_exact_in_daily_reports_from_the_stats(tmp_path: Path) -> None:
    # deepseek-chat in genai-prices: $0.27 / $1.10 from 00:30 to 16:30 UTC, else $0.135 / $0.55
    call = dict(prompt_tokens=1_000_000, completion_tokens=0, api_type="deepseek",
                model="deepseek-chat")  # fmt: skip
    log_dir = write(
        tmp_path,
        dict(call, ts=at("2026-11-20", 0, 20)),  # off-peak: $0.135
        dict(call, ts=at("2026-11-20", 1)),  # $0.27
        dict(call, ts=at("2026-11-20", 16, 20)),  # $0.27
        dict(call, ts=at("2026-11-20", 16, 40)),  # off-peak: $0.135
        dict(call, ts=at("2026-11-20", 20)),  # off-peak: $0.135
    )
    report = summary.breakdown(summary.Query(log_dir=log_dir), "day")
    assert report["rows"]["2026-11-20"]["cost_usd"] == pytest.approx(0.945, abs=1e-12)
    assert report["upper_bound_models"] == []
    # Asia/Kolkata (+5:30): 20:00 UTC is 01:30 on the 21st
    kolkata = summary.breakdown(summary.Query(log_dir=log_dir, timezone="Asia/Kolkata"), "day")
    assert {d: r["cost_usd"] for d, r in kolkata["rows"].items()} == pytest.approx(
        {"2026-11-20": 0.81, "2026-11-21": 0.135}, abs=1e-12
    )
    assert csv_costs(log_dir) == [("deepseek-chat", "0.13500000"), ("deepseek-chat", "0.27000000"),
                                  ("deepseek-chat", "0.27000000"), ("deepseek-chat", "0.13500000"),
                                  ("deepseek-chat", "0.13500000")]  # fmt: skip


# -- the CSV's pricer: one row at a time, fast, and the same sum as Rates.cost ---------------------
#: a flat price, tiered prices (genai-prices and its cache rates), a dated one, hours, unpriced
PRICED = [("openai", "gpt-4o"), ("gemini", "gemini-2.5-pro"), ("anthropic", "claude-sonnet-4-5"),
          ("openai", "o3"), ("deepseek", "deepseek-chat"), ("local", "my-llama")]  # fmt: skip
_BOOK = load_prices()


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(PRICED),
    counts=st.lists(st.one_of(st.just(0), st.integers(1, 400_000)), min_size=4, max_size=4),
    success=st.booleans(),
    second=st.integers(0, 2 * 365 * 86_400),
)
def test_each_rows_cost_is_the_rates_sum_exactly(
    model: tuple[str, str], counts: list[int], success: bool, second: int
) -> None:
    """Every row the CSV prices, to the last bit, is ``Rates.cost`` at the instant's tiers,
    whichever terms are 0 (the pricer leaves those out) and even when the cache counts
    exceed the prompt (a hand-edited line)."""
    prompt, completion, cached, cache_write = counts
    instant = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=second)
    event = {"event_id": "e", "ts": instant.isoformat(), "api_type": model[0], "model": model[1],
             "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": 0,
             "cached_tokens": cached, "cache_write_tokens": cache_write, "reasoning_tokens": 0,
             "success": success, "pid": 1}  # fmt: skip
    found = _BOOK.find(*model)
    expected = None
    if found is not None:
        rates = found.at(instant).for_prompt(prompt)
        expected = rates.cost(prompt, completion, cached, cache_write, 1 if success else 0)
    assert _BOOK.event_cost(event) == expected
    assert _BOOK.row_pricer()([event.get(name) for name in EVENT_FIELDS]) == expected


def test_a_price_that_never_changes_is_not_looked_up_by_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path's guard: flat and tiered prices of one period are priced from the
    memo by model alone; a dated price is looked up once per UTC day, not per row."""
    calls = [
        dict(prompt_tokens=p, completion_tokens=10, api_type=api, model=model, cached_tokens=c,
             ts=at(f"2025-06-{d}", h))
        for d in ("09", "10") for h in (1, 2)
        for api, model, p, c in (("openai", "gpt-4o", 1_000_000, 0),
                                 # 249k fresh at $2.50, 1k cached at $0.25, out at $15
                                 ("gemini", "gemini-2.5-pro", 250_000, 1_000),
                                 ("openai", "o3", 1_000_000, 0))
    ]  # fmt: skip
    log_dir = write(tmp_path, *calls)
    book = load_prices()
    days: list[tuple[str, str, str]] = []
    day_price = book._day_price

    def counted(key: tuple[str, str, str], ts: str) -> object:
        days.append(key)
        return day_price(key, ts)

    monkeypatch.setattr(book, "_day_price", counted)
    assert [c for _, c in csv_costs(log_dir, prices=book)] == [
        "2.50010000", "0.62290000", "10.00040000",  # o3 at $10 / $40 until 2025-06-10
        "2.50010000", "0.62290000", "10.00040000",
        "2.50010000", "0.62290000", "2.00008000",  # then $2 / $8
        "2.50010000", "0.62290000", "2.00008000",
    ]  # fmt: skip
    assert days == [("openai", "o3", "2025-06-09"), ("openai", "o3", "2025-06-10")]


# -- price files ------------------------------------------------------------------------------
OWN = """
# USD per million tokens
[[model]]
name = "my-llama"
input = 1.0
output = 2.0
cache_read = 0.1
[[model.above]]
tokens = 50000
input = 3.0
output = 4.0

[[model]]
name = "my-llama"
since = 2026-11-21
input = 0.5
output = 1.0

[[model]]
name = "gpt-4o"
api_type = "azure"
input = 2.0
output = 6.0
"""


def test_own_toml_prices_tiers_at_any_threshold_and_dates(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(OWN)
    log_dir = write(
        tmp_path / "logs",
        dict(prompt_tokens=50_000, completion_tokens=1_000, cached_tokens=10_000,
             api_type="vllm", model="my-llama", ts=at("2026-11-20", 1)),
        dict(prompt_tokens=50_001, completion_tokens=1_000, api_type="vllm",
             model="my-llama", ts=at("2026-11-20", 2)),
        dict(prompt_tokens=50_001, completion_tokens=1_000, api_type="vllm",
             model="my-llama", ts=at("2026-11-21", 2)),
        dict(prompt_tokens=1_000_000, completion_tokens=0, api_type="azure", model="gpt-4o",
             ts=at("2026-11-21", 3)),
        dict(prompt_tokens=1_000_000, completion_tokens=0, api_type="openai", model="gpt-4o",
             ts=at("2026-11-21", 4)),
    )  # fmt: skip
    book = load_prices([prices])
    # 50,000 is not past 50,000: 40k * 1 + 10k * 0.1 + 1k * 2 = 0.043
    # 50,001 is: 50,001 * 3 + 1k * 4 = 0.154003; from 2026-11-21 no tier: 0.0250005 + 0.001
    assert costs(log_dir, "day", prices=book) == {
        "2026-11-20": round(0.043 + 0.154003, 6),
        "2026-11-21": round(0.0260005 + 2.0 + 2.5, 6),  # azure's own price, openai's list price
    }
    assert [c for _, c in csv_costs(log_dir, prices=book)] == [
        "0.04300000", "0.15400300", "0.02600050", "2.00000000", "2.50000000",
    ]  # fmt: skip
    assert book.text.startswith("prices.toml (2 models), then genai-prices ")


def test_litellm_tier_and_cache_fields(tmp_path: Path) -> None:
    prices = tmp_path / "litellm.json"
    prices.write_text(json.dumps({
        "my-pro": {
            "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
            "cache_read_input_token_cost": 1e-7, "cache_creation_input_token_cost": 1.5e-6,
            "input_cost_per_token_above_128k_tokens": 3e-6,
            "output_cost_per_token_above_128k_tokens": 4e-6,
            "cache_read_input_token_cost_above_128k_tokens": 3e-7,
            "input_cost_per_token_priority": 9e-6,  # another service tier: not standard calls
            "litellm_provider": "openai", "mode": "chat", "max_input_tokens": 1_000_000,
        },
    }))  # fmt: skip
    log_dir = write(
        tmp_path / "logs",
        dict(prompt_tokens=128_000, completion_tokens=1_000, cached_tokens=100_000,
             cache_write_tokens=10_000, api_type="openai", model="my-pro", ts=at("2026-11-20")),
        dict(prompt_tokens=128_001, completion_tokens=1_000, cached_tokens=100_000,
             cache_write_tokens=10_000, api_type="openai", model="my-pro", ts=at("2026-11-21")),
    )  # fmt: skip
    book = load_prices([prices])
    assert costs(log_dir, "day", prices=book) == {
        # 18,000 * 1e-6 + 100,000 * 1e-7 + 10,000 * 1.5e-6 + 1,000 * 2e-6
        "2026-11-20": 0.045,
        # 18,001 * 3e-6 + 100,000 * 3e-7 + 10,000 * 1.5e-6 (no tier of its own) + 1,000 * 4e-6
        "2026-11-21": 0.103003,
    }


USD = "must be 0 or a number from 1e-12 to 1 (USD)"
PER_M = "must be 0 or a number from 1e-06 to 1e+06 (USD per million tokens)"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.json", '{"m": {"input_cost_per_token": true, "output_cost_per_token": 1e-6}}',
         f"model 'm': input_cost_per_token {USD}, not true"),
        ("p.json", '{"m": {"input_cost_per_token": "cheap", "output_cost_per_token": 1e-6}}',
         f"model 'm': input_cost_per_token {USD}, not \"cheap\""),
        ("p.json", '{"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": -1e-6}}',
         f"model 'm': output_cost_per_token {USD}, not -1e-06"),
        ("p.json", '{"m": {"input_cost_per_token": 1e999, "output_cost_per_token": 1e-6}}',
         f"model 'm': input_cost_per_token {USD}, not inf"),
        ("p.json", '{"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6,'
                   ' "output_cost_per_audio_token": "x"}}',
         "model 'm': output_cost_per_audio_token must be 0 or a number from 1e-12 to 1"),
        ("p.toml", '[[model]]\nname = "m"\ninput = inf\noutput = 1',
         f"model 'm': input {PER_M}, not inf"),
        ("p.toml", '[[model]]\nname = "m"\ninput = 1\noutput = true',
         f"model 'm': output {PER_M}, not true"),
        ("p.toml", '[[model]]\nname = "m"\ninput = 1\noutput = 1\n[[model.above]]\n'
                   'tokens = 10\ninput = -2',
         "model 'm': above 10: input must be 0 or a number from 1e-06 to 1e+06"),
        ("p.json", '{"m": {"input_cost_per_token": 1e308, "output_cost_per_token": 1e-6}}',
         "model 'm': input_cost_per_token must be 0 or a number from 1e-12 to 1 (USD),"
         " not 1e+308"),
        ("p.json", '{"m": {"input_cost_per_token": 5e-324, "output_cost_per_token": 1e-6}}',
         "model 'm': input_cost_per_token must be 0 or a number from 1e-12 to 1 (USD),"
         " not 5e-324"),
        ("p.toml", '[[model]]\nname = "m"\ninput = 1e300\noutput = 1',
         "model 'm': input must be 0 or a number from 1e-06 to 1e+06 (USD per million"
         " tokens), not 1e+300"),
        ("p.json", '{"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6},'
                   ' "m": {"input_cost_per_token": 0, "output_cost_per_token": 0}}',
         "names 'm' twice in one object: which one is meant cannot be told; keep one"),
        ("p.json", "[" * 100_000 + "]" * 100_000,
         "is nested deeper than any price file: not read"),
        ("p.toml", "x = " + "[" * 100_000 + "]" * 100_000,
         "is nested deeper than any price file: not read"),
        ("p.toml", '[[model]]\nname = "m"\ninptu = 1\noutput = 1',
         "model 'm': unknown key 'inptu'"),
        ("p.toml", '[[model]]\nname = "m"\noutput = 1', "model 'm' has no input price"),
        ("p.toml", '[[model]]\nname = "m"\ninput = 1\noutput = 1\nsince = "May"',
         "model 'm': since must be a date such as 2026-01-01, not 'May'"),
        ("p.json", "{not json", "is not valid JSON"),
        ("p.json", "[1, 2]", "must hold an object of model names"),
        ("p.json", '{"m": {"output_cost_per_token": 1e-6}}',
         "has no entry with input_cost_per_token and output_cost_per_token"),
        ("p.toml", "x = 1", "must hold [[model]] tables"),
    ],
)  # fmt: skip
def test_bad_price_files_are_refused_naming_the_entry(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(PricingError) as info:
        load_prices([path])
    assert message in str(info.value)
    assert str(info.value).startswith(f"pricing file {str(path)!r}")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "content"),
    [("p.json", '{"m": {"input_cost_per_token": true, "output_cost_per_token": 1}}'),
     ("p.toml", '[[model]]\nname = "m"\ninput = inf\noutput = 1')],
)  # fmt: skip
def test_the_command_refuses_a_bad_price_file_in_one_line(
    tmp_path: Path, fixture_dir: Path, name: str, content: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    result = run_cli("summary", "--log-dir", str(fixture_dir), "--pricing", str(path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"asynctokens: error: pricing file {str(path)!r}: model 'm'")
    assert result.stderr.count("\n") == 1


# -- the stats file migrates ----------------------------------------------------------------------
def test_a_stats_file_of_the_previous_layout_is_rebuilt(tmp_path: Path) -> None:
    log_dir = write(
        tmp_path,
        dict(prompt_tokens=250_000, completion_tokens=1_000, api_type="gemini",
             model="gemini-2.5-pro", ts=at("2026-11-20")),
    )  # fmt: skip
    # what version 1 wrote: cells of (day, api, model) without a prompt band
    old = {"format_version": 1, "total_requests": 1, "invalid_lines": 0,
           "cells": [["2026-11-20", "gemini", "gemini-2.5-pro", 1, 1, 250000, 1000, 0, 0, 0]],
           "files": {"tokens_2026-11-20.jsonl": 0}}  # fmt: skip
    (log_dir / "token_stats.json").write_bytes(orjson.dumps(old))
    assert costs(log_dir) == {"gemini-2.5-pro": 0.64}
    write(log_dir, dict(prompt_tokens=1, completion_tokens=0, api_type="gemini",
                        model="gemini-2.5-pro", ts=at("2026-11-20")))  # fmt: skip
    stats = orjson.loads((log_dir / "token_stats.json").read_bytes())
    assert stats["format_version"] == STATS_VERSION
    host = socket.gethostname()
    month = orjson.loads((log_dir / "token_stats_2026-11.json").read_bytes())
    assert month["keys"] == [["gemini", "gemini-2.5-pro", 0, host, ""],
                             ["gemini", "gemini-2.5-pro", 5, host, ""]]  # fmt: skip
    assert [(c[0], c[1]) for c in month["columns"]] == [(19 * 24 + 12, [1]), (19 * 24 + 12, [1])]
    assert len(read_lines(log_dir)) == 2


# -- the command ----------------------------------------------------------------------------------
def test_prices_command_shows_tiers_dates_and_source(tmp_path: Path) -> None:
    result = run_cli("prices", "o3", "--date", "2025-05-10", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    o3 = doc["models"]["o3"]
    assert (o3["matched"], o3["provider"], o3["date"]) == ("o3", "openai", "2025-05-10")
    assert o3["source"].startswith("genai-prices ")
    assert o3["in_force"] == [{"utc_from": "00:00", "tiers": [
        {"prompt_above": 0, "input": 10.0, "cached_input": 0.5, "cache_write": None,
         "output": 40.0, "per_request": 0.0}]}]  # fmt: skip
    assert [(p["since"], p["tiers"][0]["input"]) for p in o3["periods"]] == [
        (None, 10.0), ("2025-06-10", 2.0),
    ]  # fmt: skip
    assert doc["pricing"]["data"] == "bundled data"

    text = run_cli("prices", "gemini-2.5-pro", "nope", "--api", "gemini")
    assert text.returncode == 1  # a model with no price, as grep says "not found"
    lines = text.stdout.splitlines()
    assert any("> 200,000" in line and "2.5" in line and "15" in line for line in lines)
    assert "nope: no price (shown as n/a in reports)." in text.stdout


def test_json_reports_say_which_prices_produced_their_costs(fixture_dir: Path) -> None:
    result = run_cli("summary", "--json", "--log-dir", str(fixture_dir))
    pricing = json.loads(result.stdout)["pricing"]
    assert pricing["source"] == "genai-prices"
    assert pricing["data"] == "bundled data"
    assert pricing["version"] and pricing["files"] == []


# -- --update-prices, against a local server (tests never touch the network) ---------------------
UPDATED = [{
    "id": "openai", "name": "OpenAI", "api_pattern": r"https://api\.openai\.com",
    "models": [{"id": "gpt-4o", "match": {"equals": "gpt-4o"},
                "prices": {"input_mtok": 7, "output_mtok": 21}}],
}]  # fmt: skip


@pytest.fixture
def price_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/data.json"
            body = json.dumps(UPDATED).encode() if ok else b"gone"
            self.send_response(200 if ok else 500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()
    server.server_close()


def test_update_prices_uses_the_fetched_data(fixture_dir: Path, price_server: str) -> None:
    env = {"ASYNCTOKENS_PRICES_URL": f"{price_server}/data.json"}
    result = run_cli("models", "--json", "--log-dir", str(fixture_dir), "--update-prices", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    # gpt-4o at the served $7 / $21, cached input billed as input (the data has no cache price)
    assert doc["rows"]["gpt-4o"]["cost_usd"] == 1_000_000 * 7e-6 + 200_000 * 21e-6
    assert doc["pricing"]["data"].startswith(f"updated from {price_server}/data.json at ")
    # models the fetched data lacks are unpriced, never priced from elsewhere silently
    assert "claude-sonnet-4-5" in doc["unpriced_models"]


def test_a_failed_update_is_one_line(fixture_dir: Path, price_server: str) -> None:
    env = {"ASYNCTOKENS_PRICES_URL": f"{price_server}/missing.json"}
    result = run_cli("summary", "--log-dir", str(fixture_dir), "--update-prices", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"asynctokens: error: could not update prices from {price_server}"
    )
    assert "run without --update-prices" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_writer_never_imports_the_price_data(tmp_path: Path) -> None:
    code = (
        "import sys, asynctokens\n"
        f"t = asynctokens.TokenTracker({str(tmp_path)!r})\n"
        "t.log(250_000, 10, 'gemini', 'gemini-2.5-pro')\n"
        "assert t.close()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('genai_prices',"
        " 'asynctokens.pricing'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.splitlines()[-1] == "[]", result.stderr


def test_a_day_of_another_zone_is_split_by_utc_day_only_for_prices_that_change_by_date(
    tmp_path: Path,
) -> None:
    """Kolkata's 21 November holds hours of two UTC days. o3's price has dates, so its
    counts are kept apart by UTC day; gpt-4o's never changes, so its day is one cell (half
    the cells to sum and price for a year in such a zone), and both cost the same either way."""
    calls = [
        dict(prompt_tokens=1_000_000, completion_tokens=1_000, api_type="openai", model=model,
             ts=dt.datetime.fromisoformat(ts))
        for model in ("gpt-4o", "o3")
        for ts in ("2026-11-20T20:00:00+00:00", "2026-11-21T02:00:00+00:00")
    ]  # fmt: skip
    log_dir = write(tmp_path, *calls)
    query = summary.Query(log_dir=log_dir, timezone="Asia/Kolkata")
    cells = summary.load(query).cells
    assert sorted((k[0], k[2], k[4]) for k in cells) == [
        ("2026-11-21", "gpt-4o", "2026-11-20"),  # one cell: its price has no date
        ("2026-11-21", "o3", "2026-11-20"),
        ("2026-11-21", "o3", "2026-11-21"),
    ]
    assert costs(log_dir, "day", timezone="Asia/Kolkata") == {
        "2026-11-21": round(2 * (2.5 + 0.01) + 2 * (2.0 + 0.008), 6)  # $2.5/$10, $2/$8
    }


# -- history: never re-priced by accident -----------------------------------------------------
O3_NOW = {"o3": {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6,
                 "cache_read_input_token_cost": 5e-7, "litellm_provider": "openai"}}  # fmt: skip


def test_a_litellm_file_never_re_prices_a_models_dated_history_unless_asked(
    tmp_path: Path,
) -> None:
    """o3 cost $10 / $40 per million until 2025-06-10 and $2 / $8 since (genai-prices'
    history). A LiteLLM file has one price and no dates: it fills in models the bundled data
    does not know, and re-prices o3's May 2025 only with --override-prices."""
    prices = tmp_path / "litellm.json"
    prices.write_text(json.dumps({**O3_NOW, "my-finetune": {
        "input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}}))  # fmt: skip
    log_dir = write(
        tmp_path / "logs",
        dict(prompt_tokens=10_000, completion_tokens=2_000, api_type="openai", model="o3",
             ts=at("2025-05-15")),
        dict(prompt_tokens=10_000, completion_tokens=2_000, api_type="openai", model="o3",
             ts=at("2025-07-15")),
        dict(prompt_tokens=1_000, completion_tokens=1_000, api_type="openai",
             model="my-finetune", ts=at("2025-05-15")),
    )  # fmt: skip
    may, july, finetune = 10_000 * 10e-6 + 2_000 * 40e-6, 10_000 * 2e-6 + 2_000 * 8e-6, 0.002
    no_file = summary.breakdown(summary.Query(log_dir=log_dir), "day")["rows"]
    assert [(d, r["cost_usd"], r["unpriced_tokens"]) for d, r in no_file.items()] == [
        ("2025-05-15", round(may, 6), 2_000), ("2025-07-15", round(july, 6), 0)]  # fmt: skip
    book = load_prices([prices])
    assert costs(log_dir, "day", prices=book) == {
        "2025-05-15": round(may + finetune, 6), "2025-07-15": round(july, 6)}  # fmt: skip
    assert [c for _, c in csv_costs(log_dir, prices=book)] == [
        f"{may:.8f}", f"{finetune:.8f}", f"{july:.8f}"]  # fmt: skip
    overriding = load_prices([prices], override=True)
    assert costs(log_dir, "day", prices=overriding) == {
        "2025-05-15": round(10_000 * 2e-6 + 2_000 * 8e-6 + finetune, 6),
        "2025-07-15": round(july, 6),
    }


SINCE = """
[[model]]
name = "my-llama"
since = 2026-12-01
input = 1.0
output = 2.0

[[model]]
name = "gpt-4o"
since = 2026-12-01
input = 2.0
output = 8.0
"""


def test_a_price_since_a_date_holds_from_that_date_only(tmp_path: Path) -> None:
    """Before its since, a model the bundled data does not know is unpriced (never at the
    later rate), and one it knows keeps the bundled price; `prices` says which source holds
    for which period."""
    prices = tmp_path / "prices.toml"
    prices.write_text(SINCE)
    log_dir = write(
        tmp_path / "logs",
        dict(prompt_tokens=1_000_000, completion_tokens=0, api_type="vllm", model="my-llama",
             ts=at("2026-11-15")),
        dict(prompt_tokens=1_000_000, completion_tokens=0, api_type="vllm", model="my-llama",
             ts=at("2026-12-05")),
        dict(prompt_tokens=1_000_000, completion_tokens=0, api_type="openai", model="gpt-4o",
             ts=at("2026-11-15")),
        dict(prompt_tokens=1_000_000, completion_tokens=0, api_type="openai", model="gpt-4o",
             ts=at("2026-12-05")),
    )  # fmt: skip
    book = load_prices([prices])
    rows = summary.breakdown(summary.Query(log_dir=log_dir, prices=book), "day")["rows"]
    before = rows["2026-11-15"]
    assert (before["cost_usd"], before["unpriced_tokens"]) == (2.5, 1_000_000)
    assert (rows["2026-12-05"]["cost_usd"], rows["2026-12-05"]["unpriced_tokens"]) == (3.0, 0)
    assert [c for _, c in csv_costs(log_dir, prices=book)] == [
        "", "2.50000000", "1.00000000", "2.00000000"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "asynctokens", "prices", "gpt-4o", "--api", "openai",
         "--pricing", str(prices), "--date", "2026-11-15", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    explained = json.loads(result.stdout)["models"]["gpt-4o"]
    assert explained["in_force"][0]["tiers"][0]["input"] == 2.5
    first = explained["periods"][0]
    assert (first["since"], first["source"]) == ("2026-12-01", "prices.toml")
    assert explained["periods"][-1]["source"].startswith("genai-prices")


# -- the age of prices, in sight --------------------------------------------------------------
@pytest.mark.parametrize("days_after", [30, 31])
def test_reports_say_when_the_prices_lag_the_calls_they_price(
    tmp_path: Path, days_after: int
) -> None:
    """A call more than 30 days after genai-prices' data (the newest price change it knows,
    or the day it was fetched) is priced at rates that may have changed: JSON says so under
    ``pricing.stale``, the terminal in one line with what to run; each model row names the
    source that priced it."""
    data_date = dt.date.fromisoformat(load_prices().describe()["data_date"])
    late = dt.datetime.combine(data_date + dt.timedelta(days=days_after), dt.time(12),
                               tzinfo=dt.UTC)  # fmt: skip
    log_dir = write(tmp_path / "logs",
                    dict(prompt_tokens=10, completion_tokens=1, api_type="openai",
                         model="gpt-4o", ts=late),
                    dict(prompt_tokens=10, completion_tokens=1, api_type="vllm",
                         model="my-llama", ts=late))  # fmt: skip
    models = summary.breakdown(summary.Query(log_dir=log_dir), "model")
    stale = models["pricing"]["stale"]
    assert models["rows"]["gpt-4o"]["price_source"].startswith("genai-prices ")
    assert models["rows"]["my-llama"]["price_source"] is None
    terminal = subprocess.run(
        [sys.executable, "-m", "asynctokens", "summary", "--log-dir", str(log_dir)],
        capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "300"},
    ).stdout  # fmt: skip
    if days_after == 30:
        assert stale is None and "Note: prices are from" not in terminal
        return
    assert stale == (
        f"prices are from {data_date.isoformat()} ({models['pricing']['text'].split(' (')[0]}),"
        f" 31 days before the newest call they price ({late.date().isoformat()}): prices"
        " changed since would be missed; run with --update-prices, or pip install -U"
        " genai-prices"
    )
    assert f"Note: {stale}" in " ".join(terminal.split())


# -- corrections of the bundled data, with their source ---------------------------------------
def test_sonnet_4_above_200k_is_billed_at_its_long_context_rate(tmp_path: Path) -> None:
    """Anthropic bills Claude Sonnet 4 requests over 200k prompt tokens $6 / $22.50 per
    million; genai-prices 0.2.3 has no such tier, so a correction (with its source) adds it."""
    log_dir = write(
        tmp_path / "logs",
        dict(prompt_tokens=200_000, completion_tokens=1_000, api_type="anthropic",
             model="claude-sonnet-4-20250514", ts=at("2026-11-20")),
        dict(prompt_tokens=250_000, completion_tokens=1_000, cached_tokens=50_000,
             cache_write_tokens=10_000, api_type="anthropic",
             model="claude-sonnet-4-20250514", ts=at("2026-11-21")),
    )  # fmt: skip
    # 200,000 * 3 + 1,000 * 15 = $0.615; above: 190,000 * 6 + 50,000 * 0.60 + 10,000 * 7.50
    # + 1,000 * 22.50 = 1.14 + 0.03 + 0.075 + 0.0225 = $1.2675
    assert costs(log_dir, "day") == {"2026-11-20": 0.615, "2026-11-21": 1.2675}
    assert [c for _, c in csv_costs(log_dir)] == ["0.61500000", "1.26750000"]
    explained = json.loads(run_cli("prices", "claude-sonnet-4-0", "--api", "anthropic",
                                   "--json").stdout)["models"]["claude-sonnet-4-0"]  # fmt: skip
    assert "correction (https://docs.anthropic.com/" in explained["source"]


def test_each_correction_is_still_needed() -> None:
    """Fails once genai-prices has the tier itself: then remove the correction from
    asynctokens/pricing/_corrections.py (and this test's case with it)."""
    from genai_prices import data_snapshot

    from asynctokens.pricing._corrections import CORRECTIONS

    snapshot = data_snapshot.get_snapshot()
    for c in CORRECTIONS:
        _, info = snapshot.find_provider_model(c.model, None, c.provider, None)
        prices = info.prices if isinstance(info.prices, list) else [info.prices]
        for price in prices:
            price = getattr(price, "prices", price)
            tiers = getattr(price.input_mtok, "tiers", None) or []
            assert all(t.start != c.tokens for t in tiers), (
                f"genai-prices now prices {c.model} above {c.tokens}: remove the correction"
            )


def test_a_model_is_priced_by_the_provider_it_was_logged_under_never_by_anothers() -> None:
    """claude-sonnet-4-5 logged under openai is unpriced (OpenAI has no such model: a wrong
    api_type is said, not priced as Anthropic's); under an api_type that names no provider,
    every provider is searched, and Anthropic's price found."""
    book = load_prices()
    assert book.find("openai", "claude-sonnet-4-5") is None
    found = book.find("unknown", "claude-sonnet-4-5")
    assert found is not None and found.provider == "anthropic"
    routed = book.find("openrouter", "anthropic/claude-sonnet-4-5")  # the route names it
    assert routed is not None


# -- service tiers -----------------------------------------------------------------------
def test_each_service_tier_is_priced_at_the_providers_rate_for_it(tmp_path: Path) -> None:
    """genai-prices' price variant where it has one (gpt-4o priority: $4.25 / $17 per
    million), else the provider's rule (flex and batch: half), else unpriced (scale: reserved
    capacity): the same in a report from the stats and in the CSV, row by row."""
    m = 1_000_000
    calls = [("openai", "gpt-4o", None), ("openai", "gpt-4o", "default"),
             ("openai", "gpt-4o", "flex"), ("openai", "gpt-4o", "priority"),
             ("openai", "gpt-4o", "scale"), ("anthropic", "claude-sonnet-4-5", "batch"),
             ("gemini", "gemini-2.5-flash", "batch")]  # fmt: skip
    log_dir = write(
        tmp_path,
        *(dict(prompt_tokens=100_000, completion_tokens=10_000, api_type=api, model=model,
               service_tier=tier, labels={"case": tier or "none"}, ts=at("2026-11-20"))
          for api, model, tier in calls),
    )  # fmt: skip
    rows = summary.breakdown(summary.Query(log_dir=log_dir), "case")["rows"]
    by_tier = {k: (r["cost_usd"], r["unpriced_tokens"]) for k, r in rows.items()}
    assert by_tier == {
        "none": (0.35, 0),  # 100k * $2.50/M + 10k * $10/M
        "default": (0.35, 0),
        "flex": (0.175, 0),
        "priority": (round(100_000 * 4.25 / m + 10_000 * 17 / m, 6), 0),
        "scale": (0.0, 110_000),
        "batch": (round((0.3 + 0.15) / 2 + (100_000 * 0.30 / m + 10_000 * 2.50 / m) / 2, 6), 0),
    }
    assert [cost for _, cost in csv_costs(log_dir)] == [
        "0.35000000", "0.35000000", "0.17500000", "0.59500000", "", "0.22500000", "0.02750000"
    ]  # fmt: skip
    report = summary.summary(summary.Query(log_dir=log_dir))
    assert report["unpriced_models"] == ["gpt-4o"]  # its scale-tier call


def test_prices_lists_every_tier_rule_with_its_source() -> None:
    result = run_cli("prices", "gpt-4o", "--json")
    rules = json.loads(result.stdout)["tier_rules"]
    assert [(r["provider"], r["tier"], r["multiplier"]) for r in rules] == [
        ("openai", "flex", 0.5), ("openai", "batch", 0.5), ("anthropic", "batch", 0.5),
        ("gemini", "batch", 0.5), ("anthropic", "1-hour cache write", 2.0),
    ]  # fmt: skip
    assert all(r["source"].startswith("https://") and r["read_on"] for r in rules)
