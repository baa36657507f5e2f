"""deploy/: the recording rules in Debian's Prometheus, scraping a real application's endpoint,
equal the files; the Grafana dashboard queries only what the rules record.

The application (tests/prometheus_app.py) logs every call before Prometheus first scrapes it,
which is the case ``increase()`` gets wrong (it counts only what a series gains after its
first sample): the test shows that loss, and that the rules have none.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import read_lines, system_tool, wait_until

from asynctokens.pricing import load_prices
from asynctokens.sinks.otel import provider_name

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "asynctokens.rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "asynctokens.json"
PROMETHEUS, _needs_prometheus = system_tool("prometheus")
PROMTOOL, _needs_promtool = system_tool("promtool")


def recorded_names() -> set[str]:
    return set(re.findall(r"^\s*- record: (\S+)", RULES.read_text(), re.MULTILINE))


@_needs_promtool
def test_promtool_accepts_the_rules() -> None:
    assert PROMTOOL is not None
    out = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(recorded_names())} rules found" in out.stdout


def test_the_dashboard_queries_only_recorded_series() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"asynctokens:[A-Za-z0-9_:]+", expr)}
    assert used and used <= recorded_names(), used - recorded_names()
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for subject in ("cost", "tokens", "error", "latency", "top models", "top customers"):
        assert subject in titles


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The test application: its endpoint's port, and its log directory once it has closed
    its tracker (every call written and recorded)."""
    log_dir = tmp_path / "logs"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "prometheus_app.py"),
                             str(log_dir)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline()), log_dir
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.mark.slow
@_needs_prometheus
def test_the_rules_over_a_real_scrape_equal_the_files(
    app: tuple[int, Path], tmp_path: Path
) -> None:
    assert PROMETHEUS is not None
    app_port, log_dir = app
    # the rules as shipped, evaluated every second instead of every 15 for the test
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.read_text().replace("interval: 15s", "interval: 1s"))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{rules}]\n"
        "scrape_configs:\n"
        f"  - {{job_name: app, static_configs: [{{targets: ['127.0.0.1:{app_port}']}}]}}\n"
    )
    port = free_port()
    server = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def query(expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                return json.load(reply)["data"]["result"]  # type: ignore[no-any-return]
        except OSError:
            return []  # not up yet

    try:
        # the files: tokens per (provider, model, type), cost per model, tokens per customer
        lines = read_lines(log_dir)
        prices = load_prices()
        tokens: dict[tuple[str, str, str], int] = {}
        cost: dict[str, float] = {}
        by_customer: dict[tuple[str, str], int] = {}
        for line in lines:
            if not (line["success"] or line["prompt_tokens"] or line["completion_tokens"]):
                continue  # a failure with no counts records no tokens, as the sink says
            for kind, field in (("input", "prompt_tokens"), ("output", "completion_tokens")):
                key = (provider_name(line["api_type"]), line["model"], kind)
                tokens[key] = tokens.get(key, 0) + line[field]
                customer = (line.get("labels") or {}).get("customer")
                if customer:
                    by_customer[customer, kind] = by_customer.get((customer, kind), 0) + line[field]
            cost[line["model"]] = cost.get(line["model"], 0.0) + (prices.event_cost(line) or 0.0)

        def rows(expr: str, *labels: str) -> dict[tuple[str, ...], float]:
            return {tuple(r["metric"].get(k, "") for k in labels): float(r["value"][1])
                    for r in query(expr)}  # fmt: skip

        per = ("gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type")
        # the 1-hour rule needs the raw series' first samples, then one evaluation after them
        wait_until(lambda: len(rows("asynctokens:tokens:increase1h", *per)) == len(tokens), 60)
        for rule in ("asynctokens:tokens:sum", "asynctokens:tokens:increase1h",
                     "asynctokens:tokens:increase1d"):  # fmt: skip
            got = {k: int(v) for k, v in rows(f"sum by ({','.join(per)}) ({rule})", *per).items()}
            assert got == tokens, rule
        assert tokens[("openai", "gpt-4o", "input")] == 40 * 1200 + sum(range(40)) * 2
        for rule in ("asynctokens:cost_usd:sum", "asynctokens:cost_usd:increase1d"):
            got_cost = rows(f"sum by (gen_ai_request_model) ({rule})", "gen_ai_request_model")
            assert got_cost == {(m,): pytest.approx(c, rel=1e-12) for m, c in cost.items()}
        customers = rows("asynctokens:tokens_by_customer:sum", "asynctokens_label_customer",
                         "gen_ai_token_type")  # fmt: skip
        assert {k: int(v) for k, v in customers.items() if k[0]} == by_customer
        # what the rules protect: increase() lost every call logged before the first scrape
        lost = rows('sum(increase(gen_ai_client_token_usage_sum{gen_ai_token_type="input"}[1h]))')
        total_input = sum(v for (_, _, kind), v in tokens.items() if kind == "input")
        assert sum(lost.values()) < total_input
    finally:
        server.kill()
        server.wait()
