"""`asynctokens reconcile` against local servers that answer in the providers' documented
shapes (OpenAI's organization usage and costs, Anthropic's usage and cost reports), and
against the same replies saved: exact rows, verdicts, causes and exit codes. No test opens
a connection beyond 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asynctokens import TokenTracker, cli

D1, D2, D3, D4, D5 = (f"2026-11-{d}" for d in (10, 11, 12, 13, 14))
SNAPSHOT, MINI = "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"


Route = Callable[[str, dict[str, list[str]]], tuple[int, dict[str, str], Any]]


def epoch(day: str) -> int:
    return int(dt.datetime.fromisoformat(day + "T00:00:00+00:00").timestamp())


class Provider(http.server.ThreadingHTTPServer):
    """Answers GETs from ``route(path, query)`` -> (status, headers, body); keeps each
    request's path, query and headers."""

    def __init__(
        self, route: Callable[[str, dict[str, list[str]]], tuple[int, dict[str, str], Any]]
    ):
        self.route = route
        self.seen: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                server: Provider = self.server  # type: ignore[assignment]
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.seen.append((url.path, query, headers))
                status, headers, body = server.route(url.path, query)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {"content-type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve() -> Iterator[Callable[..., Provider]]:
    servers: list[Provider] = []

    def start(route: Callable[..., tuple[int, dict[str, str], Any]]) -> Provider:
        server = Provider(route)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def log(log_dir: Path, *calls: tuple[str, str, int, int, int]) -> None:
    """(day, model, prompt, cached, completion) per call, at noon UTC; a call of no tokens
    is a failed request (a 429 the SDK retried)."""
    tracker = TokenTracker(log_dir)
    for day, model, prompt, cached, completion in calls:
        failed = prompt == completion == 0
        tracker.log(prompt, completion, "openai", model, not failed,
                    "429 rate_limit_exceeded: slow down" if failed else None,
                    cached_tokens=cached,
                    ts=dt.datetime.fromisoformat(day + "T12:00:00+00:00"))  # fmt: skip
    tracker.close()


def usage(model: str, requests: int, prompt: int, cached: int, output: int) -> dict[str, Any]:
    return {"object": "organization.usage.completions.result", "input_tokens": prompt,
            "output_tokens": output, "input_cached_tokens": cached, "input_audio_tokens": 0,
            "output_audio_tokens": 0, "num_model_requests": requests, "project_id": None,
            "user_id": None, "api_key_id": None, "model": model, "batch": None,
            "service_tier": None}  # fmt: skip


def bucket(day: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "bucket", "start_time": epoch(day), "end_time": epoch(day) + 86_400,
            "results": results}  # fmt: skip


def cost(item: str, value: float) -> dict[str, Any]:
    return {"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"},
            "line_item": item, "project_id": None}  # fmt: skip


# D1 agrees (its two failed 429s are no requests the provider counts); D2 gpt-4o: the
# provider counts 300 cached tokens the logs do not; D2 mini: only in the logs; D3 o3: only
# at the provider; D4: an empty day; D5: tokens agree, cost doubled.
# gpt-4o: $2.50 input, $1.25 cached, $10 output per million.
USAGE_PAGES = [
    {"object": "page", "data": [bucket(D1, [usage(SNAPSHOT, 3, 3000, 600, 300)]),
                                bucket(D2, [usage(SNAPSHOT, 2, 2000, 300, 100)])],
     "has_more": True, "next_page": "page_2"},
    {"object": "page", "data": [bucket(D3, [usage("o3-2025-04-16", 4, 4000, 0, 400)]),
                                bucket(D4, []),
                                bucket(D5, [usage(SNAPSHOT, 1, 1000, 0, 100)])],
     "has_more": False, "next_page": None},
]  # fmt: skip
COST_PAGES = [
    {"object": "page", "data": [
        bucket(D1, [cost(f"{SNAPSHOT}, input", 0.00675), cost(f"{SNAPSHOT}, output", 0.003)]),
        bucket(D2, [cost(f"{SNAPSHOT}, input", 0.004625), cost(f"{SNAPSHOT}, output", 0.001)]),
        bucket(D3, [cost("o3-2025-04-16, input", 0.008), cost("o3-2025-04-16, output", 0.0032)]),
        bucket(D5, [cost(f"{SNAPSHOT}, input", 0.005), cost(f"{SNAPSHOT}, output", 0.002)]),
    ], "has_more": False, "next_page": None},
]  # fmt: skip


def openai_route(limited: list[int]) -> Callable[..., tuple[int, dict[str, str], Any]]:
    """Usage in two pages, the second refused once with 429 and Retry-After; costs in one."""

    def route(path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        if path == "/v1/organization/usage/completions":
            if query.get("page") == ["page_2"]:
                if not limited:
                    limited.append(1)
                    return 429, {"retry-after": "0"}, {"error": {"message": "slow down"}}
                return 200, {}, USAGE_PAGES[1]
            return 200, {}, USAGE_PAGES[0]
        if path == "/v1/organization/costs":
            return 200, {}, COST_PAGES[0]
        return 404, {}, {"error": {"message": "no such path"}}

    return route


@pytest.fixture
def openai_logs(tmp_path: Path) -> Path:
    log_dir = tmp_path / "logs"
    log(log_dir,
        *[(D1, SNAPSHOT, 1000, 200, 100)] * 3, *[(D1, SNAPSHOT, 0, 0, 0)] * 2,
        *[(D2, SNAPSHOT, 1000, 0, 50)] * 2, (D2, MINI, 500, 0, 20),
        (D5, SNAPSHOT, 1000, 0, 100))  # fmt: skip
    return log_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["reconcile", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows_of(report: dict[str, Any]) -> list[tuple[str, str, str, list[str]]]:
    return [(r["day"], r["model"], r["verdict"], r["outside"]) for r in report["rows"]]


def test_openai_usage_and_costs_are_compared_per_day_and_model(
    serve: Callable[..., Provider], openai_logs: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    limited: list[int] = []
    server = serve(openai_route(limited))
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-test-0000")
    args = ["openai", "--log-dir", str(openai_logs), "--since", D1, "--until", D5,
            "--base-url", server.url]  # fmt: skip
    code, out, err = run(capsys, *args, "--json", "--save", str(tmp_path / "saved.json"))
    assert code == 1, err
    report = json.loads(out)
    assert rows_of(report) == [
        (D1, SNAPSHOT, "ok", []),
        (D2, SNAPSHOT, "differs", ["fresh_input", "cache_read", "cost_usd"]),
        (D2, MINI, "not at the provider", ["requests", "fresh_input", "output", "cost_usd"]),
        (D3, "o3-2025-04-16", "missing from the logs",
         ["requests", "fresh_input", "output", "cost_usd"]),
        (D5, SNAPSHOT, "differs", ["cost_usd"]),
    ]  # fmt: skip
    d1, d2, _, _, d5 = report["rows"]
    assert d1["measures"]["cost_usd"] == {"logged": 0.00975, "provider": 0.00975, "diff": 0.0,
                                          "pct": 0.0}  # fmt: skip
    assert d2["measures"]["cache_read"] == {"logged": 0, "provider": 300, "diff": -300,
                                            "pct": -100.0}  # fmt: skip
    assert d2["causes"] == ["requests agree but fresh input, cache read differ: token accounting"
                            " (how cached input or cache writes are reported)"]  # fmt: skip
    assert d5["causes"] == [
        "tokens agree but cost differs: a price or tier is wrong (the logs imply $3.1818 per"
        " million tokens, the provider $6.3636; check `asynctokens prices` and the service"
        " tier)"
    ]
    assert report["totals"]["provider"]["requests"] == 10
    assert report["totals"]["logged"]["requests"] == 7
    # every page read, the 429 retried once, the key sent as a bearer token, by UTC days
    paths = [(p, q.get("page")) for p, q, _ in server.seen]
    assert paths == [
        ("/v1/organization/usage/completions", None),
        ("/v1/organization/usage/completions", ["page_2"]),
        ("/v1/organization/usage/completions", ["page_2"]),
        ("/v1/organization/costs", None),
    ]
    _, query, headers = server.seen[0]
    assert headers["authorization"] == "Bearer sk-admin-test-0000"
    assert query["start_time"] == [str(epoch(D1))]
    assert query["end_time"] == [str(epoch(D5) + 86_400)]
    assert query["bucket_width"] == ["1d"] and query["group_by"] == ["model"]
    assert "sk-admin-test-0000" not in out + err + (tmp_path / "saved.json").read_text()
    # the same replies, saved: the same comparison, offline
    saved_code, saved_out, _ = run(capsys, "openai", "--log-dir", str(openai_logs), "--since",
                                   D1, "--until", D5, "--from", str(tmp_path / "saved.json"),
                                   "--json")  # fmt: skip
    assert (saved_code, json.loads(saved_out)["rows"]) == (1, report["rows"])
    assert len(server.seen) == 4


def test_the_terminal_table_and_a_day_within_tolerance_exits_0(
    serve: Callable[..., Provider], openai_logs: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    server = serve(openai_route([1]))
    monkeypatch.setenv("MY_KEY", "sk-admin-x")
    monkeypatch.setenv("COLUMNS", "200")
    args = ["--since", D1, "--until", D1, "--base-url", server.url, "--key-env", "MY_KEY"]
    code, out, err = run(capsys, "openai", "--log-dir", str(openai_logs), *args)
    assert (code, err) == (0, "")
    assert f"openai: logged / provider, {D1} to {D1} (UTC days), tolerance 1%" in out
    row = next(line for line in out.splitlines() if D1 in line and SNAPSHOT in line)
    assert [c.strip() for c in row.strip("│ ").split("│")] == [
        D1,
        SNAPSHOT,
        "3",
        "2,400",
        "600",
        "0",
        "300",
        "$0.0097",
        "+0.00%",
        "ok",
    ]
    assert "All 1 rows within 1%." in out


def test_a_day_with_requests_of_unknown_counts_names_them_first_among_its_causes(
    serve: Callable[..., Provider], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The provider billed 3 requests; the logs hold 3, one of them a reply without counts
    (logged as 0, marked): the tokens fall short, and the row says why."""
    log_dir = tmp_path / "logs"
    log(log_dir, *[(D1, SNAPSHOT, 1000, 200, 100)] * 2)
    tracker = TokenTracker(log_dir)
    tracker.log(0, 0, "openai", SNAPSHOT, ts=dt.datetime.fromisoformat(D1 + "T13:00:00+00:00"),
                counts_unknown=True)  # fmt: skip
    assert tracker.close()
    server = serve(openai_route([1]))
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-test-0000")
    code, out, err = run(capsys, "openai", "--log-dir", str(log_dir), "--since", D1, "--until",
                         D1, "--base-url", server.url, "--json")  # fmt: skip
    assert code == 1, err
    [row] = json.loads(out)["rows"]
    assert (row["verdict"], row["outside"], row["requests_with_unknown_counts"]) == (
        "differs", ["fresh_input", "cache_read", "output", "cost_usd"], 1)  # fmt: skip
    assert row["measures"]["requests"] == {"logged": 3, "provider": 3, "diff": 0, "pct": 0.0}
    assert row["causes"][0] == (
        "1 logged requests have their counts unknown (the reply reported none, or one could"
        " not be read; logged as 0): the logged tokens and cost are a lower bound"
    )


def test_anthropic_reports_with_cache_writes_and_costs_in_cents(
    serve: Callable[..., Provider], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    # claude-sonnet-4-5: $3 input, $0.30 cache read, $3.75 cache write, $15 output
    tracker.log(
        3_600,
        500,
        "anthropic",
        "claude-sonnet-4-5-20250929",
        cached_tokens=2_000,
        cache_write_tokens=600,
        ts=dt.datetime.fromisoformat(D1 + "T08:00:00+00:00"),
    )
    assert tracker.close()
    cost_cents = (1_000 * 3 + 2_000 * 0.3 + 600 * 3.75 + 500 * 15) / 1_000_000 * 100

    def route(path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        start = D1 + "T00:00:00Z"
        if path == "/v1/organizations/usage_report/messages":
            return 200, {}, {"data": [{"starting_at": start, "ending_at": D2 + "T00:00:00Z",
                "results": [{"uncached_input_tokens": 1_000, "cache_read_input_tokens": 2_000,
                             "cache_creation": {"ephemeral_5m_input_tokens": 400,
                                                "ephemeral_1h_input_tokens": 200},
                             "output_tokens": 500, "server_tool_use": None,
                             "api_key_id": None, "workspace_id": None,
                             "model": "claude-sonnet-4-5-20250929", "service_tier": "standard",
                             "context_window": "0-200k"}]}],
                "has_more": False, "next_page": None}  # fmt: skip
        return 200, {}, {"data": [{"starting_at": start, "ending_at": D2 + "T00:00:00Z",
            "results": [{"currency": "USD", "amount": f"{cost_cents:.4f}",
                         "workspace_id": None, "description": "Claude Sonnet 4.5 Usage",
                         "cost_type": "tokens", "context_window": "0-200k",
                         "model": "claude-sonnet-4-5-20250929", "service_tier": "standard",
                         "token_type": "uncached_input_tokens"}]}],
            "has_more": False, "next_page": None}  # fmt: skip

    server = serve(route)
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin-test")
    code, out, err = run(capsys, "anthropic", "--log-dir", str(log_dir), "--since", D1,
                         "--until", D1, "--base-url", server.url, "--json")  # fmt: skip
    assert (code, err) == (0, "")
    [row] = json.loads(out)["rows"]
    assert (row["verdict"], "requests" in row["measures"]) == ("ok", False)
    assert row["measures"]["cache_write"] == {"logged": 600, "provider": 600, "diff": 0,
                                              "pct": 0.0}  # fmt: skip
    assert row["measures"]["cost_usd"]["provider"] == round(cost_cents / 100, 6)
    _, query, headers = server.seen[0]
    assert (headers["x-api-key"], headers["anthropic-version"]) == ("sk-ant-admin-test",
                                                                    "2023-06-01")  # fmt: skip
    assert query["starting_at"] == [D1 + "T00:00:00Z"] and query["group_by[]"] == ["model"]


def test_a_missing_or_refused_key_is_one_line_and_exit_2(
    serve: Callable[..., Provider], openai_logs: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    code, _, err = run(capsys, "openai", "--log-dir", str(openai_logs), "--until", D1)
    assert code == 2
    assert err.startswith("asynctokens: error: no admin key in the environment variable"
                          " OPENAI_ADMIN_KEY: an OpenAI admin key is needed")  # fmt: skip
    server = serve(lambda path, query: (401, {}, {"error": {"message": "bad key"}}))
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-wrong")
    code, _, err = run(capsys, "openai", "--log-dir", str(openai_logs), "--until", D1,
                       "--base-url", server.url)  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert f"127.0.0.1:{server.server_address[1]} refused the key (HTTP 401)" in err
    assert "sk-wrong" not in err


_HEADER = ("Billing account name", "Billing account ID", "Project name", "Project ID",
           "Service description", "Service ID", "SKU description", "SKU ID", "Cost type",
           "Usage start date", "Usage end date", "Usage amount", "Usage unit",
           "Unrounded cost ($)", "Cost ($)")  # fmt: skip


def _sku(service: str, sku: str, day: str, amount: str, unit: str, cost: str) -> str:
    end = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    rounded = f"{round(float(cost), 2):.2f}"
    return ",".join(
        (
            "Main",
            "01",
            "app",
            "app-1",
            service,
            "AB",
            sku,
            "S1",
            "Usage",
            f"{day}T00:00:00Z",
            f"{end}T00:00:00Z",
            amount,
            unit,
            cost,
            rounded,
        )
    )


BILLING_CSV = "\n".join([
    ",".join(_HEADER),
    _sku("Gemini API", "Gemini 2.5 Flash Input Text Tokens", D1, "3000", "count", "0.0009"),
    _sku("Gemini API", "Gemini 2.5 Flash Output Text Tokens", D1, "900", "count", "0.00225"),
    _sku("Gemini API", "Gemini 2.5 Flash Cached Input Text Tokens", D1, "999", "count",
         "0.00002997"),
    _sku("Compute Engine", "N1 Predefined Instance Core", D1, "24", "hour", "0.76"),
    _sku("Gemini API", "Gemini 2.5 Pro Input Text Tokens", D2, "10000", "count", "0.0125"),
]) + "\n"  # fmt: skip


def test_google_is_reconciled_from_a_cloud_billing_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Gemini API has no usage API: the cost table's CSV says what was billed, per SKU.
    gemini-2.5-flash: $0.30 input, $0.03 cached, $2.50 output per million."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    for _ in range(3):  # 1,000 prompt (of which 333 cached, once 334) and 300 output each
        tracker.log(1_333, 300, "gemini", "gemini-2.5-flash", cached_tokens=333,
                    ts=dt.datetime.fromisoformat(D1 + "T09:00:00+00:00"))  # fmt: skip
    assert tracker.close()
    export = tmp_path / "billing.csv"
    export.write_text(BILLING_CSV)
    code, out, err = run(capsys, "google", "--log-dir", str(log_dir), "--since", D1,
                         "--until", D2, "--billing-export", str(export), "--json")  # fmt: skip
    assert code == 1, err
    report = json.loads(out)
    assert rows_of(report) == [
        (D1, "gemini-2.5-flash", "ok", []),
        (D2, "gemini-2.5-pro", "missing from the logs", ["fresh_input", "cost_usd"]),
    ]
    flash = report["rows"][0]["measures"]
    assert [flash[m]["provider"] for m in ("fresh_input", "cache_read", "output")] == [
        3_000, 999, 900]  # fmt: skip
    # the Compute Engine row is not Gemini's; the Pro row's cost is the unrounded one
    assert report["rows"][1]["measures"]["cost_usd"]["provider"] == 0.0125
    assert report["totals"]["provider"]["cost_usd"] == round(0.0009 + 0.00225 + 0.00002997
                                                             + 0.0125, 6)  # fmt: skip


def test_google_without_a_usable_billing_export_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "google", "--log-dir", str(tmp_path), "--until", D1)
    assert (code, err) == (2, "asynctokens: error: the Gemini API has no usage API: pass"
                              " --billing-export FILE, a Cloud Billing export (the cost table as"
                              " CSV, or the BigQuery standard usage cost table)\n")  # fmt: skip
    other = tmp_path / "other.csv"
    other.write_text("name,amount\nx,1\n")
    code, _, err = run(capsys, "google", "--log-dir", str(tmp_path), "--until", D1,
                       "--billing-export", str(other))  # fmt: skip
    assert code == 2
    assert err == (f"asynctokens: error: {str(other)!r} is no Cloud Billing export: no service,"
                   " sku, start, cost column (export the cost table as CSV, or the BigQuery"
                   " standard usage cost table)\n")  # fmt: skip


def test_by_tier_keeps_each_service_tier_of_a_model_apart_on_both_sides(
    serve: Callable[..., Provider], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A standard and a flex call of one model on one day are two rows with --by-tier, each
    priced at its tier's rate on both sides (flex at half the list price): they agree; a
    provider that billed flex at the list price shows in the flex row alone."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    noon = dt.datetime.fromisoformat(D1 + "T12:00:00+00:00")
    tracker.log(1_000, 100, "openai", SNAPSHOT, ts=noon)
    tracker.log(1_000, 100, "openai", SNAPSHOT, ts=noon, service_tier="flex")
    assert tracker.close()
    standard = usage(SNAPSHOT, 1, 1_000, 0, 100)
    flex = {**usage(SNAPSHOT, 1, 1_000, 0, 100), "service_tier": "flex"}
    pages = {"usage": [{"data": [bucket(D1, [standard, flex])], "has_more": False}],
             "costs": [{"data": [bucket(D1, [cost(f"{SNAPSHOT}, input", 0.0025),
                                             cost(f"{SNAPSHOT}, output", 0.001),
                                             cost(f"{SNAPSHOT}, input (flex)", 0.00125),
                                             cost(f"{SNAPSHOT}, output (flex)", 0.0005)])],
                        "has_more": False}]}  # fmt: skip
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(pages))
    args = ["openai", "--log-dir", str(log_dir), "--since", D1, "--until", D1, "--json"]
    code, out, _ = run(capsys, *args, "--from", str(saved), "--by-tier")
    assert (code, rows_of(json.loads(out))) == (0, [
        (D1, SNAPSHOT, "ok", []), (D1, f"{SNAPSHOT} (flex)", "ok", [])])  # fmt: skip
    # without it, one row for the model, both tiers summed on both sides
    code, out, _ = run(capsys, *args, "--from", str(saved))
    assert rows_of(json.loads(out)) == [(D1, SNAPSHOT, "ok", [])]
    # a bill with the flex call at the list price: the flex row says where
    listed = [cost(f"{SNAPSHOT}, input (flex)", 0.0025), cost(f"{SNAPSHOT}, output (flex)", 0.001)]
    pages["costs"][0]["data"][0]["results"][2:] = listed
    saved.write_text(json.dumps(pages))
    code, out, _ = run(capsys, *args, "--from", str(saved), "--by-tier")
    report = json.loads(out)
    assert (code, rows_of(report)) == (1, [
        (D1, SNAPSHOT, "ok", []), (D1, f"{SNAPSHOT} (flex)", "differs", ["cost_usd"])])  # fmt: skip
    assert report["rows"][1]["measures"]["cost_usd"] == {
        "logged": 0.00175, "provider": 0.0035, "diff": -0.00175, "pct": -50.0}  # fmt: skip
    # asked of the provider: usage grouped by model, service tier and batch
    server = serve(lambda path, query: (200, {}, {"data": [], "has_more": False}))
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-test")
    run(capsys, *args, "--base-url", server.url, "--by-tier")
    assert server.seen[0][1]["group_by"] == ["model", "service_tier", "batch"]
