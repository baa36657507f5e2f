"""A billed call whose counts are not all known is a line marked ``counts_unknown``: its
counts are 0, and every report counts such calls and says its totals are a lower bound,
from the stats as from the lines (never a silent 0 or $0)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from asynctokens import TokenTracker
from tests.conftest import cli_in_process, read_lines

LABELS_FILE = "token_stats_{}.labels.json"
DAMAGED = "failed its checks"
NOTE = (
    "* 2 requests were billed with counts their provider did not report or that could not"
    " be read, logged as 0: the tokens and cost shown are a lower bound"
)


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:20:00+00:00")


def run(log_dir: Path, *args: str, json_out: bool = True) -> tuple[Any, str]:
    """``asynctokens ARGS`` as a user runs it: (its output, parsed with ``--json``, and
    what it said on stderr)."""
    out, err = cli_in_process(log_dir, *args, *(["--json"] if json_out else []))
    return (json.loads(out) if json_out else out), err


@pytest.fixture
def marked(tmp_path: Path) -> Path:
    """Four calls in November 2026, two of them with their counts unknown (one per model,
    one per customer): 10,000 tokens in and 2,000 out for each known one."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir, host="h")
    acme, globex = {"customer": "acme"}, {"customer": "globex"}
    tracker.log(10_000, 2_000, "openai", "gpt-4o", ts=at("2026-11-02"), labels=acme)
    tracker.log(0, 0, "openai", "gpt-4o", ts=at("2026-11-02", 13), labels=acme,
                counts_unknown=True)  # fmt: skip
    tracker.log(0, 0, "anthropic", "claude-sonnet-4-5", ts=at("2026-11-03"), labels=globex,
                counts_unknown=True, request_id="req_b")  # fmt: skip
    tracker.log(10_000, 2_000, "anthropic", "claude-sonnet-4-5", ts=at("2026-11-03", 14))
    assert tracker.close() is True
    return log_dir


def test_only_a_marked_line_carries_the_field(marked: Path) -> None:
    lines = read_lines(marked)
    assert [line.get("counts_unknown") for line in lines] == [None, True, True, None]
    assert [(line["prompt_tokens"], line["completion_tokens"]) for line in lines] == [
        (10_000, 2_000), (0, 0), (0, 0), (10_000, 2_000)
    ]  # fmt: skip


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_mark_that_is_not_a_bool_is_refused_at_the_call(tmp_path: Path, value: Any) -> None:
    tracker = TokenTracker(tmp_path)
    with pytest.raises(TypeError, match="counts_unknown must be True or False, got"):
        tracker.log(0, 0, model="gpt-4o", counts_unknown=value)
    assert tracker.close() is True
    assert read_lines(tmp_path) == []


def unknown_by(report: dict[str, Any]) -> dict[str, int]:
    return {name: r["requests_with_unknown_counts"] for name, r in report["rows"].items()}


def test_reports_count_the_calls_whose_counts_are_unknown_from_stats_and_lines(
    marked: Path,
) -> None:
    summary, said = run(marked, "summary")
    assert said == "" and summary["totals"]["requests_with_unknown_counts"] == 2
    assert summary["totals"]["total_requests"] == 4
    for extra in ((), ("--exact",)):  # the stats, then the lines
        by_model, said = run(marked, "summary", "--by", "model", *extra)
        assert said == ""
        assert unknown_by(by_model) == {"claude-sonnet-4-5": 1, "gpt-4o": 1}
        by_customer, _ = run(marked, "summary", "--by", "customer", *extra)
        assert unknown_by(by_customer) == {"(none)": 0, "acme": 1, "globex": 1}
        daily, _ = run(marked, "daily", *extra)
        assert unknown_by(daily) == {"2026-11-02": 1, "2026-11-03": 1}
    # a month's totals file (the labelled cells summed over the month) keeps the mark too:
    # it passes its checks, and answers alone
    (marked / LABELS_FILE.format("2026-11")).unlink()
    by_customer, said = run(marked, "summary", "--by", "customer")
    assert said == "" and unknown_by(by_customer) == {"(none)": 0, "acme": 1, "globex": 1}


def test_the_terminal_says_the_totals_are_a_lower_bound_and_recent_marks_the_calls(
    marked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a terminal wide enough for a row on one line
    text, _ = run(marked, "summary", json_out=False)
    assert NOTE in " ".join(text.split())
    assert "Requests, counts unknown" in text
    by_model, _ = run(marked, "summary", "--by", "model", json_out=False)
    assert NOTE in " ".join(by_model.split())
    recent, _ = run(marked, "recent", json_out=False)
    assert recent.count("ok (counts unknown)") == 2
    known, _ = run(marked, "summary", "--model", "gpt-4o", "--api", "anthropic", json_out=False)
    assert "counts unknown" not in known  # no such call in the report: no note


def test_the_csv_and_html_exports_mark_them(marked: Path, tmp_path: Path) -> None:
    out = tmp_path / "calls.csv"
    run(marked, "export", "--format", "csv", "-o", str(out), json_out=False)
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["counts_unknown"]) for r in rows] == [
        ("gpt-4o", "false"), ("gpt-4o", "true"), ("claude-sonnet-4-5", "true"),
        ("claude-sonnet-4-5", "false"),
    ]  # fmt: skip
    page = tmp_path / "report.html"
    run(marked, "export", "--format", "html", "-o", str(page), json_out=False)
    html = page.read_text()
    assert "id='counts-unknown'>* 2 requests were billed with counts" in html


def test_a_hand_edited_mark_of_another_type_is_a_bad_line(marked: Path) -> None:
    """Only ``true`` marks a line (the writer writes nothing else); ``"yes"`` or ``1`` is
    a line no writer wrote: skipped and counted, as any bad line."""
    day = marked / "tokens_2026-11-03.jsonl"
    lines = day.read_bytes().splitlines()
    edited = orjson.loads(lines[1])
    edited["counts_unknown"] = "yes"
    day.write_bytes(b"\n".join([lines[0], orjson.dumps(edited)]) + b"\n")
    (marked / "token_stats.json").unlink()  # the lines are read again
    summary, _ = run(marked, "summary", "--exact")
    assert summary["bad_lines"] == 1
    assert summary["totals"]["total_requests"] == 3
    assert summary["totals"]["requests_with_unknown_counts"] == 2


def test_the_sql_view_has_the_mark_false_where_a_line_leaves_it_out(marked: Path) -> None:
    pytest.importorskip("duckdb")
    rows, _ = run(marked, "sql", "SELECT model, counts_unknown FROM tokens ORDER BY ts")
    assert rows == [
        {"model": "gpt-4o", "counts_unknown": False},
        {"model": "gpt-4o", "counts_unknown": True},
        {"model": "claude-sonnet-4-5", "counts_unknown": True},
        {"model": "claude-sonnet-4-5", "counts_unknown": False},
    ]
