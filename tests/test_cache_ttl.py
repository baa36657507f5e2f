"""Anthropic's 1-hour cache writes: captured from the reply, kept apart, priced at their rate.

Anthropic bills a cache write kept 5 minutes at 1.25x the input rate and one kept an hour
at 2x. claude-opus-4-5 in genai-prices: input $5, output $25, cache read $0.50 and cache
write (5-minute) $6.25 per million; a 1-hour write costs $10 per million. The call here:
30,000 fresh + 10,000 cache-read + 60,000 cache-written input (20,000 for 5 minutes, 40,000
for an hour), 1,000 output:

    30,000 x $5 + 10,000 x $0.50 + 20,000 x $6.25 + 40,000 x $10 + 1,000 x $25  (per million)
    = $0.15 + $0.005 + $0.125 + $0.40 + $0.025 = $0.705

where pricing every write at the 5-minute rate would say $0.555 (21 % under the bill).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import read_lines

from asynctokens import TokenTracker, reader, summary, usage_from
from asynctokens.pricing._tiers import describe
from asynctokens.render import csv as csv_export
from tests.sdk_replies import Replies, anthropic_client, sse

USAGE = {
    "input_tokens": 30_000,
    "cache_read_input_tokens": 10_000,
    "cache_creation_input_tokens": 60_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 20_000, "ephemeral_1h_input_tokens": 40_000},
    "output_tokens": 1_000,
}
ARGS: dict[str, Any] = {
    "model": "claude-opus-4-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Hi"}],
}
COUNTS = dict(prompt_tokens=100_000, completion_tokens=1_000, api_type="anthropic",
              model="claude-opus-4-5", cached_tokens=10_000, cache_write_tokens=60_000)  # fmt: skip


def message(usage: dict[str, Any]) -> httpx2.Response:
    return httpx2.Response(200, headers={"request-id": "req_ttl"}, json={
        "id": "msg_ttl", "type": "message", "role": "assistant", "model": "claude-opus-4-5",
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": usage})  # fmt: skip


def stream(usage: dict[str, Any]) -> httpx2.Response:
    start = {"id": "msg_ttl", "type": "message", "role": "assistant", "model": "claude-opus-4-5",
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**usage, "output_tokens": 1}}  # fmt: skip
    reply = sse([
        ("message_start", {"type": "message_start", "message": start}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": usage["output_tokens"]}}),
        ("message_stop", {"type": "message_stop"}),
    ])  # fmt: skip
    reply.headers["request-id"] = "req_ttl"
    return reply


def total_cost(log_dir: Path, **query: Any) -> float:
    report = summary.summary(summary.Query(log_dir=log_dir, **query))
    assert report["unpriced_models"] == []
    cost: float = report["totals"]["cost_usd"]
    return cost


def csv_cost(log_dir: Path) -> str:
    q = summary.Query(log_dir=log_dir)
    out = io.StringIO()
    csv_export.write(summary.iter_filtered(q, reader.ReadReport()), out, q.prices)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert row["cache_write_1h_tokens"] == "40000"
    return row["cost_usd"]


@pytest.mark.parametrize("shape", ["message", "stream"])
def test_the_sdk_reply_s_1_hour_writes_are_logged_and_priced(tmp_path: Path, shape: str) -> None:
    tracker = TokenTracker(tmp_path)
    reply = message(USAGE) if shape == "message" else stream(USAGE)
    client = tracker.instrument(anthropic_client(Replies(reply)))
    if shape == "message":
        client.messages.create(**ARGS)
    else:
        for _ in client.messages.create(**ARGS, stream=True):
            pass
    assert tracker.close()
    (line,) = read_lines(tmp_path)
    assert (line["prompt_tokens"], line["cache_write_tokens"], line["cache_write_1h_tokens"]) == (
        100_000, 60_000, 40_000)  # fmt: skip
    assert total_cost(tmp_path) == pytest.approx(0.705, abs=1e-12)  # from the stats
    assert total_cost(tmp_path, exact=True) == pytest.approx(0.705, abs=1e-12)  # the lines
    assert csv_cost(tmp_path) == "0.70500000"
    totals = summary.summary(summary.Query(log_dir=tmp_path))["totals"]
    assert totals["total_cache_write_1h_tokens"] == 40_000


def test_usage_from_reads_them_and_a_reply_without_them_has_none() -> None:
    usage = usage_from(anthropic_client(Replies(message(USAGE))).messages.create(**ARGS))
    assert usage is not None and usage.cache_write_1h_tokens == 40_000
    plain = {k: v for k, v in USAGE.items() if k != "cache_creation"}
    usage = usage_from(anthropic_client(Replies(message(plain))).messages.create(**ARGS))
    assert usage is not None and (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (
        60_000, 0)  # fmt: skip


def test_logged_by_hand_at_the_batch_tier_both_halve(tmp_path: Path) -> None:
    tracker = TokenTracker(tmp_path)
    tracker.log(**COUNTS, cache_write_1h_tokens=40_000)
    tracker.log(**COUNTS, cache_write_1h_tokens=40_000, service_tier="batch")
    tracker.log(**COUNTS)  # every write for 5 minutes: 60,000 x $6.25
    assert tracker.close()
    report = summary.breakdown(summary.Query(log_dir=tmp_path), "service-tier")
    costs = {tier: row["cost_usd"] for tier, row in report["rows"].items()}
    assert costs == pytest.approx({"standard": 0.705 + 0.555, "batch": 0.3525}, abs=1e-12)


def test_more_1_hour_writes_than_writes_is_refused_at_the_call(tmp_path: Path) -> None:
    tracker = TokenTracker(tmp_path)
    with pytest.raises(ValueError, match=r"cache_write_1h_tokens \(70000\) cannot exceed"):
        tracker.log(**COUNTS, cache_write_1h_tokens=70_000)
    with pytest.raises(TypeError, match="cache_write_1h_tokens must be an int"):
        tracker.log(**COUNTS, cache_write_1h_tokens="40000")  # type: ignore[arg-type]
    assert tracker.close()


def test_a_line_edited_to_more_1_hour_writes_than_writes_is_a_bad_line(tmp_path: Path) -> None:
    tracker = TokenTracker(tmp_path)
    tracker.log(**COUNTS, cache_write_1h_tokens=40_000)
    assert tracker.close()
    (path,) = tmp_path.glob("tokens_*.jsonl")
    good = json.loads(path.read_text())
    with path.open("a") as f:
        f.write(json.dumps({**good, "event_id": "x", "cache_write_1h_tokens": 60_001}) + "\n")
        f.write(json.dumps({**good, "event_id": "y", "cache_write_1h_tokens": "1"}) + "\n")
    report = summary.summary(summary.Query(log_dir=tmp_path))
    assert (report["totals"]["total_requests"], report["bad_lines"]) == (1, 2)


def test_asynctokens_prices_names_the_rule_and_its_source() -> None:
    (rule,) = [r for r in describe() if r["tier"] == "1-hour cache write"]
    assert (rule["provider"], rule["multiplier"]) == ("anthropic", 2.0)
    assert str(rule["source"]).startswith("https://docs.anthropic.com/")


def test_the_sql_view_has_them_and_prices_them(tmp_path: Path) -> None:
    from asynctokens import sql

    tracker = TokenTracker(tmp_path)
    tracker.log(**COUNTS, cache_write_1h_tokens=40_000)
    tracker.log(**COUNTS)
    assert tracker.close()
    con = sql.connect(tmp_path)
    rows = con.execute(
        "SELECT cache_write_1h_tokens, cost_usd FROM tokens ORDER BY cost_usd DESC"
    ).fetchall()
    assert rows == [(40_000, pytest.approx(0.705, abs=1e-12)),
                    (0, pytest.approx(0.555, abs=1e-12))]  # fmt: skip
