"""render/: one way to show a number, money and a rate in every renderer; any Console."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from asynctokens import TokenTracker, cli, summary
from asynctokens.pricing import load_prices
from asynctokens.reader import get_timezone as reader_tz
from asynctokens.render import csv as csv_export
from asynctokens.render import html, terminal, text
from asynctokens.render._numbers import success_rate, usd


def test_money_and_rates_read_the_same_everywhere() -> None:
    assert [usd(v) for v in (None, 0.0, 0.0000075, 0.00025, 0.01, 1234.5)] == [
        "n/a", "$0.00", "<$0.0001", "$0.0003", "$0.01", "$1,234.50",
    ]  # fmt: skip
    assert success_rate({"success_rate": 0.0, "total_requests": 0}) == "-"
    assert success_rate({"success_rate": 66.666, "total_requests": 3}) == "66.7%"


@pytest.fixture
def cheap_dir(tmp_path: Path) -> Path:
    """One call costing $0.000625 (gpt-4o-mini: 1,000 in at $0.15/M, 1,000 out at $0.60/M
    on 2026-11-20) and a model with no price."""
    import datetime as dt

    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    at = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    tracker.log(1_000, 1_000, "openai", "gpt-4o-mini", ts=at)
    tracker.log(5, 5, "local", "my-llama", ts=at)
    assert tracker.close()
    return log_dir


def test_every_renderer_shows_the_same_cost(cheap_dir: Path) -> None:
    query = summary.Query(log_dir=cheap_dir, prices=load_prices(()))
    out = io.StringIO()
    terminal.breakdown(summary.breakdown(query, "model"), terminal.console(out, width=120))
    page = html.render(summary.full_report(query))
    assert "$0.0008" in out.getvalue()  # 1,000 x 0.15/M + 1,000 x 0.60/M = $0.00075
    assert '<td data-label="Cost">$0.0008</td>' in page
    # the total is the priced part, marked, beside the tokens no price covers
    assert '<td id="cost">$0.0008*</td>' in page and '<td id="unpriced">10</td>' in page
    assert "n/a" in out.getvalue() and '<td data-label="Cost">n/a</td>' in page


def test_reports_render_into_any_console_at_its_width(cheap_dir: Path) -> None:
    query = summary.Query(log_dir=cheap_dir, prices=load_prices(()))
    report = summary.summary(query)
    narrow, wide = io.StringIO(), io.StringIO()
    terminal.summary(report, terminal.console(narrow, width=40))
    terminal.summary(report, terminal.console(wide, width=200))
    assert max(len(line) for line in narrow.getvalue().splitlines()) <= 40
    assert "│ Total tokens        │    2,010 │" in wide.getvalue()


def test_columns_is_honoured_off_a_terminal(
    cheap_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    assert cli.main(["models", "--log-dir", str(cheap_dir)]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 50
    monkeypatch.delenv("COLUMNS")
    assert cli.main(["models", "--log-dir", str(cheap_dir)]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) > 80


def test_print_summary_text_uses_the_same_figures(capsys: pytest.CaptureFixture[str]) -> None:
    row = {"total_prompt_tokens": 1_000, "total_completion_tokens": 2, "total_tokens": 1_002,
           "total_requests": 0, "success_rate": 0.0}  # fmt: skip
    totals = {"total_cached_tokens": 0, "total_cache_write_tokens": 0, "total_reasoning_tokens": 0,
              "successful_requests": 0,
              "failed_requests": 0}  # fmt: skip
    shown = text.render_summary({**row, **totals, "by_model": {"m\x1b[31m": row}, "by_api": {}})
    assert "(0 ok, 0 failed, - success)" in shown
    assert "m\\x1b[31m" in shown and "\x1b" not in shown


def test_csv_cells_that_spreadsheets_would_run_are_neutralised_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracker = TokenTracker(tmp_path)
    tracker.log(1, 1, "openai", "=HYPERLINK(\"http://x\")", success=False,
                error_message="-1+1", request_id="@SUM(A1)")  # fmt: skip
    tracker.log(2, 2, "openai", "gpt-4o", error_message=None)
    assert tracker.close()
    assert cli.main(["export", "--format", "csv", "-o", "-", "--log-dir", str(tmp_path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["model"], r["error_message"], r["request_id"]) for r in rows] == [
        ("'=HYPERLINK(\"http://x\")", "'-1+1", "'@SUM(A1)"), ("gpt-4o", "", ""),
    ]  # fmt: skip
    assert [r["prompt_tokens"] for r in rows] == ["1", "2"]
    argv = ["export", "--format", "csv", "-o", "-", "--csv-raw", "--log-dir", str(tmp_path)]
    assert cli.main(argv) == 0
    raw = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert raw[0]["model"] == '=HYPERLINK("http://x")'
    assert csv_export.COLUMNS[-3:] == ("cost_usd", "unpriced_tokens", "price_source")
    assert [r["price_source"] for r in rows] == ["", "genai-prices 0.2.3"]


def test_the_dashboard_survives_a_failed_action(
    cheap_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    answers = iter(["6", str(tmp_path / "no" / "such" / "dir.csv"), "1", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert cli.main(["dashboard", "--log-dir", str(cheap_dir)]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("asynctokens: error: [Errno 2] No such file or directory")
    assert "Total tokens" in out  # the action after the failed one ran


def test_the_live_state_counts_today_in_its_zone_and_starts_again_at_midnight() -> None:
    import datetime as dt

    from asynctokens.render import live

    tz = reader_tz("Asia/Kolkata")  # +5:30: 18:30 UTC is local midnight
    now = dt.datetime(2026, 11, 24, 18, 0, tzinfo=dt.UTC)  # 23:30 local
    state = live.LiveState(load_prices(()), tz, now)

    def event(ts: str, model: str, ok: bool = True) -> dict[str, object]:
        return {"ts": ts, "api_type": "openai", "model": model, "prompt_tokens": 2_000,
                "completion_tokens": 1_000, "cached_tokens": 0, "cache_write_tokens": 0,
                "reasoning_tokens": 0, "success": ok, "error_message": None if ok else "500 x",
                "event_id": ts}  # fmt: skip

    state.add(event("2026-11-23T18:29:00+00:00", "gpt-4o-mini"))  # yesterday, local
    state.add(event("2026-11-24T17:59:00+00:00", "gpt-4o-mini"))
    state.add(event("2026-11-24T17:59:30+00:00", "my-llama", ok=False))
    assert (state.total.requests, state.total.failed, state.total.tokens) == (2, 1, 6_000)
    out = io.StringIO()
    terminal.console(out, width=120).print(live.view(state, "logs"))
    text = out.getvalue()
    # gpt-4o-mini: 2,000 x $0.15/M + 1,000 x $0.60/M; my-llama has no price
    assert "Requests 2   Tokens 6,000   Cost $0.0009*   Errors 1 (50.0%)" in text
    assert "Last error: 23:29:30 my-llama: 500 x" in text
    state.tick(dt.datetime(2026, 11, 24, 18, 31, tzinfo=dt.UTC))  # 00:01 local, a new day
    assert (state.total.requests, state.models) == (0, {})
    assert len(state.last_calls) == 3


def test_the_live_state_says_calls_whose_counts_are_unknown() -> None:
    import datetime as dt

    from asynctokens.render import live

    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    state = live.LiveState(load_prices(()), dt.UTC, now)
    line: dict[str, object] = {
        "ts": "2026-11-24T11:00:00+00:00",
        "api_type": "openai",
        "model": "gpt-4o-mini",
        "prompt_tokens": 2_000,
        "completion_tokens": 1_000,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "success": True,
        "error_message": None,
    }
    state.add(line)
    state.add({**line, "prompt_tokens": 0, "completion_tokens": 0, "counts_unknown": True})
    assert (state.total.requests, state.total.unknown, state.models["gpt-4o-mini"].unknown) == (
        2, 1, 1)  # fmt: skip
    out = io.StringIO()
    terminal.console(out, width=140).print(live.view(state, "logs"))
    text = out.getvalue()
    assert "Requests 2 (1 counts unknown: a lower bound)   Tokens 3,000" in text
    assert text.count("ok (counts unknown)") == 1


def test_the_live_state_by_a_label_key_and_by_provider() -> None:
    import datetime as dt

    from asynctokens.render import live

    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)

    def event(model: str, labels: dict[str, str] | None) -> dict[str, object]:
        line: dict[str, object] = {
            "ts": "2026-11-24T11:00:00+00:00", "api_type": "openai", "model": model,
            "prompt_tokens": 100, "completion_tokens": 10, "cached_tokens": 0,
            "cache_write_tokens": 0, "reasoning_tokens": 0, "success": True,
            "error_message": None}  # fmt: skip
        if labels is not None:
            line["labels"] = labels
        return line

    calls = [("gpt-4o", {"customer": "acme"}), ("gpt-4o-mini", {"customer": "acme"}),
             ("gpt-4o", {"customer": "globex"}), ("gpt-4o", None)]  # fmt: skip
    by_customer = live.LiveState(load_prices(()), dt.UTC, now, by="customer")
    by_api = live.LiveState(load_prices(()), dt.UTC, now, by="api")
    for model, labels in calls:
        by_customer.add(event(model, labels))
        by_api.add(event(model, labels))
    assert {k: r.requests for k, r in by_customer.models.items()} == {
        "acme": 2, "globex": 1, "(none)": 1}  # fmt: skip
    assert {k: r.tokens for k, r in by_api.models.items()} == {"openai": 440}
    out = io.StringIO()
    terminal.console(out, width=120).print(live.view(by_customer, "logs"))
    assert "By customer today" in out.getvalue()
