"""`asynctokens budget`: spend today and this month against budgets, projected to each
period's end, with the exit codes cron and CI act on."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest

from asynctokens import TokenTracker, _cli_budget, cli, labels
from asynctokens.pricing import load_prices

NOON = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)  # half of the day, 19.5 / 30 of November


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """gpt-4o $2.50 + $10.00 on the 20th, $2.50 on the 5th; claude-sonnet-4-5 $0.30 on the
    20th."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    tracker.log(1_000_000, 1_000_000, "openai", "gpt-4o", ts=NOON - dt.timedelta(hours=1))
    tracker.log(1_000_000, 0, "openai", "gpt-4o", ts=NOON - dt.timedelta(days=15))
    tracker.log(100_000, 0, "anthropic", "claude-sonnet-4-5", ts=NOON - dt.timedelta(hours=2))
    assert tracker.close()
    return log_dir


def budget(log_dir: Path, *argv: str, now: dt.datetime = NOON) -> int:
    """The command as cron runs it, at ``now``; its JSON is on stdout."""
    parser = argparse.ArgumentParser()
    _cli_budget.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["budget", "--log-dir", str(log_dir), "--json", *argv])
    return _cli_budget.run(args, load_prices(), now=now)


def test_spend_is_projected_to_the_end_of_the_day_and_the_month(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = budget(logs, "--daily", "20", "--monthly", "30")
    doc = json.loads(capsys.readouterr().out)
    assert (code, doc["passed"]) == (0, False)
    day, month = doc["budgets"]
    # today: $12.80 by noon -> $25.60 by midnight, over the $20 budget
    today = (day["spent_usd"], day["projected_usd"], day["status"])
    assert today == (12.8, 25.6, "on track to pass")
    # November: $15.30 by the 20th at noon (19.5 of 30 days) -> $23.54, within $30
    assert (month["from"], month["spent_usd"], month["status"]) == ("2026-11-01", 15.3, "ok")
    assert month["projected_usd"] == round(15.3 / (19.5 / 30), 6)


def test_a_passed_budget_exits_3_per_group_and_where_narrows(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = budget(logs, "--daily", "10", "--by", "provider")
    doc = json.loads(capsys.readouterr().out)
    assert code == 3 and doc["passed"] is True
    assert [(r["group"], r["spent_usd"], r["status"]) for r in doc["budgets"]] == [
        ("anthropic", 0.3, "ok"), ("openai", 12.5, "passed")]  # fmt: skip
    code = budget(logs, "--daily", "10", "--where", "provider=anthropic")
    assert code == 0 and json.loads(capsys.readouterr().out)["budgets"][0]["spent_usd"] == 0.3
    # nothing spent yet by what --where names: $0, said on stderr, not an error
    code = budget(logs, "--daily", "10", "--where", "model=o3")
    out, err = capsys.readouterr()
    assert (code, json.loads(out)["budgets"][0]["spent_usd"]) == (0, 0.0)
    assert "no calls with --model 'o3'" in err


def test_spend_with_calls_of_unknown_counts_says_it_is_a_lower_bound(
    logs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = TokenTracker(logs)
    tracker.log(0, 0, "openai", "gpt-4o", ts=NOON - dt.timedelta(hours=3), counts_unknown=True)
    assert tracker.close()
    budget(logs, "--daily", "20", "--by", "provider")
    rows = json.loads(capsys.readouterr().out)["budgets"]
    assert [(r["group"], r["spent_usd"], r["requests_with_unknown_counts"]) for r in rows] == [
        ("anthropic", 0.3, 0), ("openai", 12.5, 1)]  # fmt: skip
    monkeypatch.setenv("COLUMNS", "200")
    parser = argparse.ArgumentParser()
    _cli_budget.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["budget", "--log-dir", str(logs), "--daily", "20"])
    assert _cli_budget.run(args, load_prices(), now=NOON) == 0
    assert "1 requests were billed with counts unknown (logged as 0): spend is a lower bound." in (
        " ".join(capsys.readouterr().out.split())
    )


def test_the_command_line_refuses_a_budget_it_cannot_hold(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["budget", "--log-dir", str(logs)]) == 2
    assert "give a budget: --daily USD and/or --monthly USD" in capsys.readouterr().err
    assert cli.main(["budget", "--log-dir", str(logs), "--daily", "-5"]) == 2
    assert "a budget must be a positive amount of USD, got -5" in capsys.readouterr().err
    assert cli.main(["budget", "--log-dir", str(logs), "--daily", "5", "--where", "team"]) == 2
    assert "bad --where 'team': use LABEL=VALUE, model=NAME, provider=NAME or host=NAME" in (
        capsys.readouterr().err)  # fmt: skip


def test_a_budget_per_label_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--by customer`` holds each customer to the budget; ``--where customer=`` one."""
    tracker = TokenTracker(tmp_path)
    with labels(customer="acme"):
        tracker.log(1_000_000, 100_000, "openai", "gpt-4o", ts=NOON - dt.timedelta(hours=1))
    with labels(customer="globex"):
        tracker.log(100_000, 0, "openai", "gpt-4o", ts=NOON - dt.timedelta(hours=1))
    assert tracker.close()
    assert budget(tmp_path, "--daily", "2", "--by", "customer", "--json") == 3
    rows = json.loads(capsys.readouterr().out)["budgets"]
    assert [(r["group"], r["spent_usd"], r["status"]) for r in rows] == [
        ("acme", 3.5, "passed"), ("globex", 0.25, "ok")
    ]  # fmt: skip
    assert budget(tmp_path, "--daily", "2", "--where", "customer=globex", "--json") == 0
    assert json.loads(capsys.readouterr().out)["budgets"][0]["spent_usd"] == 0.25
