"""The asynctokens command, run as a real subprocess: each report, exports and error exits."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import read_lines

from asynctokens import TokenTracker


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asynctokens", *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
        # a table's width is the terminal's: fixed here, so no row is cut differently on a
        # machine (or a worker process) whose terminal is narrower
        env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=cwd,
    )  # fmt: skip


def table_rows(out: str) -> dict[str, list[str]]:
    """Rows of a rich table keyed by their first cell."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) > 2:
            rows[cells[0]] = cells[1:]
    return rows


def test_summary_shows_totals_and_unpriced_models(fixture_dir: Path) -> None:
    result = run_cli("summary", "--log-dir", str(fixture_dir))
    assert (result.returncode, result.stderr) == (0, "")
    out = result.stdout
    for label, value in (("Input tokens (all)", "6,150,100"), ("  uncached", "4,250,100"),
                         ("  cache read", "1,400,000"), ("  cache write", "500,000"),
                         ("Output tokens (all)", "1,620,100"), ("  reasoning", "100,000"),
                         ("Total tokens", "7,770,200"), ("Requests", "6"), ("Failed", "1"),
                         ("Success rate", "83.3%"), ("Cost (USD)", "$32.30*"),
                         ("  unpriced tokens", "200")):  # fmt: skip
        assert f"│ {label}" in out and f"{value} │" in out.split(f"│ {label}")[1].splitlines()[0]
    # one unpriced model never blanks the known cost: the priced part, marked, and what is not
    assert "* The cost shown is that of the priced tokens ($32.30 in all); no price for:" in out
    assert "my-local-llama (200 tokens)" in out


def test_models_table_rows(fixture_dir: Path) -> None:
    result = run_cli("models", "--log-dir", str(fixture_dir))
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    # uncached input, cache read, cache write, output, reasoning, total, requests, success,
    # cost, unpriced tokens (shown since one model has no price; empty for gpt-4o, and
    # table_rows drops an empty last cell)
    assert rows["gpt-4o"] == ["600,000", "400,000", "0", "200,000", "0", "1,200,000", "1",
                              "100.0%", "$4.00"]  # fmt: skip
    assert rows["claude-sonnet-4-5"][8] == "$26.85"  # past the 200k tier
    assert rows["my-local-llama"][-2:] == ["n/a", "200"]
    assert rows["Total"] == ["4,250,100", "1,400,000", "500,000", "1,620,100", "100,000",
                             "7,770,200", "6", "83.3%", "$32.30*", "200"]  # fmt: skip


def test_apis_json_is_the_same_numbers(fixture_dir: Path) -> None:
    result = run_cli("apis", "--log-dir", str(fixture_dir), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {a: r["total_tokens"] for a, r in report["rows"].items()} == {
        "anthropic": 3_600_000, "gemini": 470_000, "local": 200, "openai": 3_700_000,
    }  # fmt: skip


def test_daily_chart_and_timezone(fixture_dir: Path) -> None:
    utc = table_rows(run_cli("daily", "--log-dir", str(fixture_dir)).stdout)
    assert [utc[d][6] for d in ("2026-11-20", "2026-11-21", "2026-11-22")] == ["3", "2", "1"]
    assert utc["2026-11-20"][-1] == "█" * 30  # the biggest day fills the bar
    ny = table_rows(
        run_cli("daily", "--log-dir", str(fixture_dir), "--timezone", "America/New_York").stdout
    )
    assert [ny[d][6] for d in ("2026-11-20", "2026-11-21", "2026-11-22")] == ["4", "1", "1"]
    monthly = table_rows(run_cli("monthly", "--log-dir", str(fixture_dir), "--chart",
                                 "cost").stdout)  # fmt: skip
    assert monthly["2026-11"][6] == "6"


def test_recent_reads_the_newest_calls(fixture_dir: Path) -> None:
    result = run_cli("recent", "-n", "2", "--log-dir", str(fixture_dir), "--json")
    events = json.loads(result.stdout)["events"]
    assert [e["model"] for e in events] == ["my-local-llama", "gemini-2.5-flash"]
    table = run_cli("recent", "--log-dir", str(fixture_dir), "--api", "gemini").stdout
    assert "FAILED 429 quota exceeded" in table
    assert "gpt-4o" not in table


def test_env_var_selects_the_log_dir(fixture_dir: Path) -> None:
    result = run_cli("summary", "--json", env={"ASYNCTOKENS_LOG_DIR": str(fixture_dir)})
    assert json.loads(result.stdout)["totals"]["total_requests"] == 6


def test_csv_export_round_trips_every_call(fixture_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "calls.csv"
    result = run_cli("export", "--format", "csv", "-o", str(out), "--log-dir", str(fixture_dir))
    assert (result.returncode, result.stderr) == (0, f"wrote 6 calls to {out}\n")
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    lines = read_lines(fixture_dir)
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in lines]
    assert list(rows[0]) == [
        "event_id", "ts", "api_type", "model", "prompt_tokens", "completion_tokens",
        "total_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens", "success",
        "error_message", "latency_ms", "api_key_suffix", "request_id", "metadata", "pid",
        "host", "response_model", "service_tier", "labels", "cache_write_1h_tokens",
        "counts_unknown", "cost_usd", "unpriced_tokens", "price_source",
    ]  # fmt: skip
    for row, line in zip(rows, lines, strict=True):
        assert int(row["prompt_tokens"]) == line["prompt_tokens"]
        assert int(row["completion_tokens"]) == line["completion_tokens"]
        assert row["success"] == ("true" if line["success"] else "false")
        assert row["counts_unknown"] == "false"
        assert json.loads(row["metadata"]) == line["metadata"]
        assert row["ts"] == line["ts"]
        assert row["host"] == line["host"] == socket.gethostname()
    assert rows[0]["cost_usd"] == "4.00000000"
    assert rows[0]["latency_ms"] == "812.5"
    assert rows[3]["error_message"] == "429 quota exceeded"
    assert (rows[0]["cost_usd"], rows[0]["unpriced_tokens"]) == ("4.00000000", "0")
    assert (rows[5]["cost_usd"], rows[5]["unpriced_tokens"]) == ("", "200")  # never $0


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: dict[str, str] = {}
        self._id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._id = dict(attrs).get("id")

    def handle_data(self, data: str) -> None:
        if self._id:
            self.cells[self._id] = data
            self._id = None


def test_html_export_is_self_contained_with_chart_and_numbers(
    fixture_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    result = run_cli("export", "--format", "html", "-o", str(out), "--log-dir", str(fixture_dir))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    page = _Collect()
    page.feed(text)
    assert page.tags.count("svg") == 1
    assert page.tags.count("rect") == 5  # a bar per model and day with tokens: 3 + 1 + 1
    assert page.cells == {"input": "6,150,100", "uncached": "4,250,100",
                          "cache-read": "1,400,000", "cache-write": "500,000",
                          "output": "1,620,100", "reasoning": "100,000", "total": "7,770,200",
                          "requests": "6", "failed": "1", "cost": "$32.30*",
                          "unpriced": "200"}  # fmt: skip
    assert "no price for: my-local-llama (200 tokens)" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<script" not in text


def test_json_export_holds_every_report(fixture_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert run_cli("export", "--format", "json", "-o", str(out), "--log-dir",
                   str(fixture_dir)).returncode == 0  # fmt: skip
    doc = json.loads(out.read_text())
    assert doc["summary"]["totals"]["total_tokens"] == 7_770_200
    assert list(doc["daily"]) == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert doc["by_model"]["gpt-4o"]["cost_usd"] == 4.0


def test_bad_lines_are_a_warning_not_a_crash(fixture_dir: Path) -> None:
    with (fixture_dir / "tokens_2026-11-22.jsonl").open("ab") as f:
        f.write(b'garbage\n{"torn')
    result = run_cli("models", "--log-dir", str(fixture_dir))
    assert result.returncode == 0
    # the stats path and a scan judge alike: the ended garbage line is bad,
    # the torn tail is not a line yet, and is said to be there
    unfinished = (
        "asynctokens: warning: tokens_2026-11-22.jsonl end(s) in a write cut short by a"
        " crash: not counted until a writer appends to the file again, which makes it one"
        " bad line\n"
    )
    assert result.stderr == "asynctokens: warning: skipped 1 bad line(s)\n" + unfinished
    lisbon = run_cli("models", "--log-dir", str(fixture_dir), "--timezone", "Europe/Lisbon")
    assert lisbon.stderr == result.stderr  # whole-hour offsets: from the hourly stats too
    # an instant inside an hour: that hour's lines are read, the rest from the stats
    cut = run_cli("models", "--log-dir", str(fixture_dir), "--since", "2026-11-01T00:00:01Z")
    assert cut.stderr == result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "--log-dir", "/nonexistent/dir"],
         "asynctokens: error: log directory '/nonexistent/dir' does not exist"),
        (["summary", "--since", "2026-02-30"],
         "asynctokens: error: bad date '2026-02-30': use YYYY-MM-DD"),
        (["export", "--format", "xml", "-o", "x"],
         "asynctokens export: error: argument --format: invalid choice: 'xml'"),
        (["daily", "--timezone", "Nowhere/City"],
         "asynctokens: error: unknown time zone 'Nowhere/City'"),
        (["summary", "--pricing", "/nonexistent.json"],
         "asynctokens: error: cannot read pricing file '/nonexistent.json'"),
        (["frobnicate"], "asynctokens: error: argument command: invalid choice: 'frobnicate'"),
        # a flag the command would ignore is refused, not accepted in silence
        (["export", "--format", "csv", "-o", "x", "--json"],
         "asynctokens: error: unrecognized arguments: --json"),
        (["dashboard", "--json"], "asynctokens: error: unrecognized arguments: --json"),
        (["recent", "--chart", "cost"], "asynctokens: error: unrecognized arguments: --chart"),
    ],
)  # fmt: skip
def test_errors_are_one_line_and_exit_2(fixture_dir: Path, args: list[str], message: str) -> None:
    if "--log-dir" not in args and args[0] != "frobnicate":
        args = [*args, "--log-dir", str(fixture_dir)]
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_empty_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("summary", "--log-dir", str(tmp_path))
    assert result.returncode == 2
    assert "no tokens_YYYY-MM-DD.jsonl files in" in result.stderr


def test_dashboard_with_piped_stdin_runs_reports_and_quits(
    fixture_dir: Path, tmp_path: Path
) -> None:
    result = run_cli("dashboard", "--log-dir", str(fixture_dir), stdin="1\n3\n9\n6\n\nq\n",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "│ Total tokens        │ 7,770,200 │" in result.stdout
    assert "Token usage by model" in result.stdout
    assert "unknown choice '9': type 1-6 or q" in result.stdout
    assert (tmp_path / "tokens_export.csv").read_text().count("\n") == 7


def test_dashboard_exits_cleanly_on_eof(fixture_dir: Path) -> None:
    result = run_cli("dashboard", "--log-dir", str(fixture_dir), stdin="2\n")
    assert (result.returncode, result.stderr) == (0, "")
    assert "Token usage by provider" in result.stdout


def test_dashboard_in_a_real_terminal_exits_on_ctrl_c(fixture_dir: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command in a pseudo-terminal
        os.execv(sys.executable, [sys.executable, "-m", "asynctokens", "dashboard",
                                  "--log-dir", str(fixture_dir)])  # fmt: skip
    output = b""

    def read_until(marker: bytes, timeout: float = 30) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while marker not in output and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    break

    read_until(b"choice> ")
    os.write(fd, b"1\r")
    read_until(b"Total tokens")
    os.write(fd, b"\x03")  # Ctrl-C
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"7,770,200" in output


def test_running_a_report_loads_no_writer_module(fixture_dir: Path) -> None:
    code = (
        "import sys, asynctokens.cli as c\n"
        f"c.main(['summary', '--json', '--log-dir', {str(fixture_dir)!r}])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('asynctokens.writer',"
        " 'asynctokens.integrations._instrument', 'anyio'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "--model", "gpt-4.1"],
         "asynctokens: no calls with --model 'gpt-4.1' in this range: the logs hold 'gpt-4o',"
         " 'gpt-4o-mini' (of 5)\n"),
        (["summary", "--model", "gpt-4o-2024"],
         "asynctokens: no calls with --model 'gpt-4o-2024' in this range: the logs hold"
         " 'gpt-4o', 'gpt-4o-mini' (of 5)\n"),
        (["recent", "--api", "mistral"],
         "asynctokens: no calls with --api 'mistral' in this range: the logs hold 'anthropic',"
         " 'gemini', 'local', 'openai'\n"),
        (["export", "--format", "csv", "-o", "-", "--model", "gemini-2.5-flash", "--since",
          "2026-11-22"],
         "asynctokens: no calls with --model 'gemini-2.5-flash' in this range: the logs hold"
         " 'my-local-llama'\n"),
    ],
)  # fmt: skip
def test_a_filter_that_matches_nothing_says_so_and_exits_1(
    fixture_dir: Path, args: list[str], message: str
) -> None:
    result = run_cli(*args, "--log-dir", str(fixture_dir))
    assert (result.returncode, result.stderr, result.stdout) == (1, message, "")


def test_provider_filters_ignore_case(fixture_dir: Path) -> None:
    result = run_cli("summary", "--api", "OpenAI", "--json", "--log-dir", str(fixture_dir))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["total_tokens"] == 1_200_000 + 2_500_000


def test_recent_lists_calls_by_time_in_the_asked_zone(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    # logged out of time order (a batch written late, or an explicit ts)
    for hour, model in ((9, "gpt-4o"), (11, "gpt-4o-mini"), (10, "claude-sonnet-4-5")):
        tracker.log(100, 10, model=model, ts=dt.datetime(2026, 11, 20, hour, tzinfo=dt.UTC))
    assert tracker.close() is True
    report = json.loads(run_cli("recent", "--json", "--log-dir", str(log_dir)).stdout)
    assert [e["model"] for e in report["events"]] == ["gpt-4o-mini", "claude-sonnet-4-5", "gpt-4o"]
    table = run_cli("recent", "-n", "1", "--timezone", "Asia/Kolkata", "--log-dir", str(log_dir))
    assert "Time (Asia/Kolkata)" in table.stdout
    assert "2026-11-20 16:30:00" in table.stdout  # 11:00 UTC is 16:30 in Kolkata


def test_a_money_column_has_one_format(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    day = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    tracker.log(1_000_000, 0, "openai", "gpt-4o", ts=day)  # $2.50
    tracker.log(1_000, 0, "openai", "gpt-4o-mini", ts=day)  # $0.00015
    tracker.log(100, 0, "openai", "gpt-4o-mini", ts=day + dt.timedelta(days=1))  # $0.000015
    assert tracker.close() is True
    rows = table_rows(run_cli("models", "--log-dir", str(log_dir)).stdout)
    assert (rows["gpt-4o"][-1], rows["gpt-4o-mini"][-1]) == ("$2.5000", "$0.0002")
    daily = table_rows(run_cli("daily", "--log-dir", str(log_dir)).stdout)
    assert (daily["2026-11-20"][8], daily["2026-11-21"][8]) == ("$2.5002", "<$0.0001")


def test_models_table_shows_the_largest_rows_and_sums_the_rest(tmp_path: Path) -> None:
    """Thousands of fine-tune names: a terminal gets the 50 largest and one row for the rest;
    the unpriced note names 10 and counts the others; --json and --limit 0 keep every row."""
    tracker = TokenTracker(log_dir=tmp_path)
    tracker.log(1000, 100, "openai", "gpt-4o")  # priced: the largest by cost
    for i in range(60):  # 61-i tokens of input: ft-0 largest, ft-59 smallest
        tracker.log(61 - i, 1, "self-hosted", f"ft-{i}")
    tracker.close()
    result = run_cli("models", "--log-dir", str(tmp_path), env={"COLUMNS": "200"})
    assert (result.returncode, result.stderr) == (0, "")
    rows = table_rows(result.stdout)
    assert "gpt-4o" in rows and "ft-48" in rows and "ft-49" not in rows
    # ft-49..ft-59 are left: 11 rows, input 12+11+...+2 = 77, output 11
    assert rows["11 more (--limit 0 shows all)"][:5] == ["77", "0", "0", "11", "0"]
    assert rows["Total"][:5] == ["2,890", "0", "0", "160", "0"]
    note = result.stdout[result.stdout.index("no price for:") :]
    assert "ft-0 (62 tokens)" in note and "ft-9 (53 tokens)" in note and "ft-10 (" not in note
    assert "and 50 more models (1,375 tokens; --json lists them)" in " ".join(note.split())
    everything = table_rows(run_cli("models", "--log-dir", str(tmp_path), "--limit", "0",
                                    env={"COLUMNS": "200"}).stdout)  # fmt: skip
    assert len([k for k in everything if k.startswith("ft-")]) == 60
    as_json = json.loads(run_cli("models", "--log-dir", str(tmp_path), "--json").stdout)
    assert len(as_json["rows"]) == 61 and len(as_json["unpriced_tokens_by_model"]) == 60
    bad = run_cli("models", "--log-dir", str(tmp_path), "--limit", "-1")
    assert bad.returncode == 2 and "--limit: expected a whole number, 0 or more" in bad.stderr
