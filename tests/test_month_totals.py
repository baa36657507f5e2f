"""A report by a label over whole months is answered from each month's totals file (the
labelled cells summed over the month), exactly as from the hours: priced alike, checked, and
left for the hours wherever a day or a price within the month matters.

Which file answered is shown by taking one away: without its labels file (the hours), a
month the totals answer needs nothing else; a report that needs the hours says the stats
failed their checks and reads the lines."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from asynctokens import TokenTracker
from tests.conftest import cli_in_process

LABELS_FILE = "token_stats_{}.labels.json"
TOTALS_FILE = "token_stats_{}.totals.json"
DAMAGED = "failed its checks"


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:20:00+00:00")


def run(log_dir: Path, *args: str) -> tuple[dict[str, Any], str]:
    """``asynctokens ARGS --json`` as a user runs it: (the report, what it said on stderr)."""
    out, err = cli_in_process(log_dir, *args, "--json")
    doc: dict[str, Any] = json.loads(out)
    return doc, err


def rows_of(report: dict[str, Any]) -> dict[str, Any]:
    """Each row (and row of its breakdown) as (requests, prompt, completion, cost)."""
    out: dict[str, Any] = {}
    for name, row in report["rows"].items():
        out[name] = (
            row["total_requests"],
            row["total_prompt_tokens"],
            row["total_completion_tokens"],
            round(row["cost_usd"], 9),
        )
        for inner, r in row.get("breakdown", {}).items():
            out[f"{name}/{inner}"] = (
                r["total_requests"], r["total_prompt_tokens"], r["total_completion_tokens"],
                round(r["cost_usd"], 9),
            )  # fmt: skip
    return out


@pytest.fixture
def two_months(tmp_path: Path) -> Path:
    """October and November 2026: acme and globex on gpt-4o and claude-sonnet-4-5, each call
    10,000 tokens in and 2,000 out ($0.045 and $0.06), and calls with no label."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir, host="h")
    calls = [
        ("2026-10-03", "acme", "openai", "gpt-4o"),
        ("2026-10-28", "acme", "openai", "gpt-4o"),
        ("2026-10-28", "globex", "anthropic", "claude-sonnet-4-5"),
        ("2026-11-02", "acme", "anthropic", "claude-sonnet-4-5"),
        ("2026-11-02", None, "openai", "gpt-4o"),
        ("2026-11-30", "globex", "openai", "gpt-4o"),
    ]
    for day, customer, api, model in calls:
        own = {"customer": customer} if customer else None
        tracker.log(10_000, 2_000, api, model, ts=at(day), labels=own)
    assert tracker.close()
    return log_dir


def test_summary_by_a_label_over_whole_months_is_the_totals(two_months: Path) -> None:
    log_dir = two_months
    expected = {
        "(none)": (1, 10_000, 2_000, 0.045),
        "(none)/gpt-4o": (1, 10_000, 2_000, 0.045),
        "acme": (3, 30_000, 6_000, 0.15),
        "acme/claude-sonnet-4-5": (1, 10_000, 2_000, 0.06),
        "acme/gpt-4o": (2, 20_000, 4_000, 0.09),
        "globex": (2, 20_000, 4_000, 0.105),
        "globex/claude-sonnet-4-5": (1, 10_000, 2_000, 0.06),
        "globex/gpt-4o": (1, 10_000, 2_000, 0.045),
    }
    args = ("summary", "--by", "customer", "--by", "model")
    report, said = run(log_dir, *args)
    assert rows_of(report) == expected and said == ""
    exact, _ = run(log_dir, *args, "--exact")
    assert rows_of(exact) == expected
    for month in ("2026-10", "2026-11"):  # the hours are not needed
        (log_dir / LABELS_FILE.format(month)).unlink()
    report, said = run(log_dir, *args)
    assert rows_of(report) == expected and said == ""
    where, said = run(log_dir, "summary", "--where", "customer=acme")
    assert where["totals"]["total_requests"] == 3 and said == ""
    assert round(where["totals"]["cost_usd"], 9) == 0.15
    # monthly in UTC (each hour of a month is in its month) takes the totals too
    monthly, said = run(log_dir, "monthly", "--by", "customer")
    assert said == ""
    assert {m: {c: r["total_requests"] for c, r in row["breakdown"].items()}
            for m, row in monthly["rows"].items()} == {
        "2026-10": {"acme": 2, "globex": 1}, "2026-11": {"(none)": 1, "acme": 1, "globex": 1}
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "hours"),
    [
        (("daily", "--by", "customer"), False),  # UTC days
        (("weekly", "--by", "customer", "--week-start", "sunday"), False),
        (("daily", "--by", "customer", "--since", "2026-10-28"), False),  # whole days
        (("summary", "--by", "customer", "--since", "2026-10-02"), False),  # by day, then
        (("summary", "--by", "customer", "--until", "2026-11-29"), False),
        (("daily", "--by", "customer", "--timezone", "America/New_York"), True),
        (("daily", "--by", "customer", "--timezone", "Asia/Kolkata"), True),
        (("monthly", "--by", "customer", "--timezone", "America/New_York"), True),
        (("summary", "--by", "customer", "--since", "2026-10-28T06:00:00+00:00"), True),
    ],
)
def test_a_report_takes_the_hours_only_where_a_day_begins_inside_one(
    two_months: Path, args: tuple[str, ...], hours: bool
) -> None:
    """The totals keep UTC days: a report whose days, or range, begin inside a UTC day
    reads the hours. Shown by the labels file taken away: a report that needs it says so
    and reads the lines; one that does not is the same without it."""
    log_dir = two_months
    before, said = run(log_dir, *args)
    assert said == ""
    (log_dir / LABELS_FILE.format("2026-10")).unlink()
    (log_dir / LABELS_FILE.format("2026-11")).unlink()
    after, said = run(log_dir, *args)
    assert (DAMAGED in said) is hours, said
    assert after["rows"] == before["rows"]
    exact, _ = run(log_dir, *args, "--exact")
    assert exact["rows"] == before["rows"]


def test_a_month_whose_price_changes_inside_is_priced_from_its_hours(tmp_path: Path) -> None:
    """o3 went from $10/$40 to $2/$8 per 1M tokens on 2025-06-10: a June call before it
    costs $0.18, one after it $0.036. Summed over the month and priced on one day, they
    would cost $0.072 (the last day's price) or $0.36 (the first's)."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    for day in ("2025-06-05", "2025-06-20", "2025-07-02"):
        tracker.log(10_000, 2_000, "openai", "o3", ts=at(day), labels={"customer": "acme"})
    assert tracker.close()
    report, said = run(log_dir, "summary", "--by", "customer")
    assert said == ""
    assert rows_of(report) == {"acme": (3, 30_000, 6_000, 0.252)}
    # June from its hours, July (one price) from its totals: without July's hours, the same
    (log_dir / LABELS_FILE.format("2025-07")).unlink()
    assert run(log_dir, "summary", "--by", "customer") == (report, "")
    (log_dir / LABELS_FILE.format("2025-06")).unlink()
    report, said = run(log_dir, "summary", "--by", "customer")
    assert DAMAGED in said and rows_of(report) == {"acme": (3, 30_000, 6_000, 0.252)}


def _edit_file(log_dir: Path, month: str, change: Any, name: str = "") -> None:
    path = log_dir / (name or TOTALS_FILE).format(month)
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc["counts"][0].__setitem__(0, doc["counts"][0][0] + 1),  # a request more
        lambda doc: doc["counts"][0].__setitem__(2, doc["counts"][0][2] - 1),  # a token less
        lambda doc: doc["keys"][0].__setitem__(1, "gpt-4o-mini"),  # another model
        lambda doc: doc["days"][0].__setitem__(1, 32),  # a day the month does not have
        lambda doc: doc["keys"].reverse(),  # out of order
        lambda doc: doc.pop("counts"),
    ],
)
def test_a_totals_file_that_is_not_the_months_cells_is_damage(
    two_months: Path, change: Any
) -> None:
    """Its counts must sum to the index's rows of the month (per model, provider and host):
    an edit (even one that keeps every count within its checks) is said and the lines
    answer."""
    log_dir = two_months
    _edit_file(log_dir, "2026-10", change)
    report, said = run(log_dir, "summary", "--by", "customer")
    assert DAMAGED in said and "token_stats_2026-10.json" in said
    assert rows_of(report) == {
        "(none)": (1, 10_000, 2_000, 0.045),
        "acme": (3, 30_000, 6_000, 0.15),
        "globex": (2, 20_000, 4_000, 0.105),
    }


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc["columns"][0][0].__setitem__(0, doc["columns"][0][0][0] + 1),  # requests
        lambda doc: doc["columns"][0][2].__setitem__(0, "10000"),  # a count as text
        lambda doc: doc["columns"][0][3].append(0),  # a day more than its span
        lambda doc: doc["columns"].pop(),  # an entry less
    ],
)
def test_a_days_file_that_does_not_sum_to_the_totals_is_damage(
    two_months: Path, change: Any
) -> None:
    """A report by day reads the days file too: each entry's days must sum to its totals
    (which a report by month alone reads, unharmed)."""
    log_dir = two_months
    _edit_file(log_dir, "2026-10", change, "token_stats_{}.days.json")
    assert run(log_dir, "summary", "--by", "customer")[1] == ""
    report, said = run(log_dir, "daily", "--by", "customer")
    assert DAMAGED in said and "token_stats_2026-10.json" in said
    assert {d: r["total_requests"] for d, r in report["rows"].items()} == {
        "2026-10-03": 1, "2026-10-28": 2, "2026-11-02": 2, "2026-11-30": 1}  # fmt: skip


@pytest.mark.parametrize("name", [TOTALS_FILE, "token_stats_{}.days.json"])
def test_a_totals_file_of_another_update_or_none_leaves_the_month_to_its_hours(
    two_months: Path, name: str
) -> None:
    """The index names the update whose totals a report may read: a file of another (a
    month whose labels a writer's ``label_keys`` took away keeps its last one), or none, is
    passed over without a word, and the hours answer. Shown by the labels file taken away
    as well: then the report has to say so."""
    log_dir = two_months
    _edit_file(log_dir, "2026-10", lambda doc: doc.__setitem__("quarters", "00" * 8), name)
    (log_dir / name.format("2026-11")).unlink()
    args = ("daily", "--by", "customer")
    before, said = run(log_dir, *args)
    assert said == ""
    assert {d: r["total_requests"] for d, r in before["rows"].items()} == {
        "2026-10-03": 1, "2026-10-28": 2, "2026-11-02": 2, "2026-11-30": 1}  # fmt: skip
    (log_dir / LABELS_FILE.format("2026-10")).unlink()
    after, said = run(log_dir, *args)
    assert DAMAGED in said and after["rows"] == before["rows"]
    tracker = TokenTracker(log_dir, host="h")  # the next writer's update writes them again
    tracker.log(1, 1, "openai", "gpt-4o", ts=at("2026-11-30"), labels={"customer": "acme"})
    assert tracker.close()
    assert (log_dir / name.format("2026-11")).exists()
    (log_dir / LABELS_FILE.format("2026-11")).unlink()  # November's totals answer alone
    report, said = run(log_dir, "summary", "--by", "customer", "--since", "2026-11-01")
    assert said == "" and report["rows"]["acme"]["total_requests"] == 2
