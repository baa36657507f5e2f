"""Budgets and alerts that act: held by the tracker's own thread against the directory's
totals, fired once per threshold and period for every process of the directory, said by a
callback, token_debug.log, health() and a webhook, and enforced before a request is sent."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asynctokens import Alert, Budget, BudgetEvent, BudgetExceededError, TokenTracker, labels
from tests.conftest import read_lines
from tests.sdk_replies import Replies, openai_chat, openai_client

# gpt-4o: $2.50 in / $10 out per million: 100k in + 10k out is $0.35
CALL = (100_000, 10_000, "openai", "gpt-4o")


def wait_for(test: Callable[[], bool], what: str) -> None:
    """Until ``test()`` holds (the watcher runs on its own thread); a bound, not a timing."""
    deadline = time.monotonic() + 30
    while not test():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def tracker_with(log_dir: Path, got: list[BudgetEvent], **options: Any) -> TokenTracker:
    return TokenTracker(log_dir, on_budget=got.append, stats_interval_s=0.05,
                        budget_interval_s=0.05, **options)  # fmt: skip


def test_each_threshold_fires_once_with_the_spend_and_is_said_everywhere(tmp_path: Path) -> None:
    got: list[BudgetEvent] = []
    tracker = tracker_with(tmp_path, got, budgets=[Budget(usd=1.0, warn_at=(0.5,), name="daily")])
    tracker.log(*CALL)
    tracker.log(*CALL)  # $0.70: past half
    wait_for(lambda: len(got) == 1, "the 50 % warning")
    tracker.log(*CALL)  # $1.05: past the budget
    wait_for(lambda: len(got) == 2, "the budget passed")
    tracker.log(*CALL)  # more spend in the same period fires nothing new
    assert tracker.close()
    assert [(e.kind, e.name, e.threshold, e.spent_usd, e.limit_usd) for e in got] == [
        ("budget", "daily", 0.5, 0.7, 1.0),
        ("budget", "daily", 1.0, 1.05, 1.0),
    ]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert got[1].message == (
        f"budget daily passed: $1.05 spent of $1.00 per day (since {today}T00:00:00+00:00)"
    )
    debug = (tmp_path / "token_debug.log").read_text()
    assert debug.count("budget daily") == 2 and got[1].message in debug
    assert [e.threshold for e in tracker.health().budget_events] == [0.5, 1.0]


def test_a_budget_crossed_by_two_processes_together_fires_once(tmp_path: Path) -> None:
    """Two processes each spend $0.70 of a $1 budget at once: the 50 % warning and the pass
    fire once for the directory, in whichever process saw them first."""
    script = textwrap.dedent(f"""
        import sys
        from asynctokens import Budget, TokenTracker
        sys.stdin.readline()  # both start logging together
        t = TokenTracker({str(tmp_path)!r}, budgets=[Budget(usd=1.0, warn_at=(0.5,), name="b")],
                         on_budget=lambda e: print("FIRED", e.threshold, flush=True),
                         stats_interval_s=0.02, budget_interval_s=0.02)
        for _ in range(2):
            t.log(*{CALL!r})
        t.close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    outs = [p.communicate("go\n", timeout=120)[0] for p in procs]
    fired = sorted(line for out in outs for line in out.splitlines() if line.startswith("FIRED"))
    assert fired == ["FIRED 0.5", "FIRED 1.0"]
    assert len(read_lines(tmp_path)) == 4


def test_an_enforced_budget_refuses_calls_before_the_transport_sees_them(tmp_path: Path) -> None:
    got: list[BudgetEvent] = []
    tracker = tracker_with(
        tmp_path, got, budgets=[Budget(usd=0.5, where={"customer": "acme"}, enforce=True)]
    )
    replies = Replies(openai_chat(), openai_chat())
    client = tracker.instrument(openai_client(replies))
    with labels(customer="acme"):
        tracker.log(200_000, 0, "openai", "gpt-4o")  # $0.50: spent
    wait_for(lambda: bool(tracker.health().budgets_spent), "the budget spent")
    with labels(customer="acme"):
        with pytest.raises(BudgetExceededError, match=r"is spent: \$0.50 of \$0.50 per day"):
            client.chat.completions.create(model="gpt-4o", messages=[])
        with pytest.raises(BudgetExceededError), tracker.track(api_type="openai", model="gpt-4o"):
            pass
        tracker.log(*CALL)  # plain log_tokens never raises for it: the bill already exists
    assert replies.bodies == []  # nothing was sent
    with labels(customer="globex"):  # another customer's calls are not this budget's
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert len(replies.bodies) == 1
    assert tracker.close()
    assert len(read_lines(tmp_path)) == 3


def test_the_error_rate_alert_fires_on_a_burst_of_429s_naming_the_top_error(
    tmp_path: Path,
) -> None:
    got: list[BudgetEvent] = []
    alert = Alert(error_rate=0.5, window=dt.timedelta(minutes=5), min_requests=10,
                  errors="429", name="throttled")  # fmt: skip
    tracker = tracker_with(tmp_path, got, alerts=[alert])
    for _ in range(6):
        tracker.log(10, 1, "openai", "gpt-4o")
    for _ in range(3):  # 9 calls: under min_requests, and 3 of 9 is under the rate
        tracker.log(0, 0, "openai", "gpt-4o", False, "429 insufficient_quota: quota exceeded")
    tracker.log(0, 0, "openai", "gpt-4o", False, "500 server_error: boom")  # not a 429
    assert tracker.flush_sync()
    watcher = tracker._watcher
    assert watcher is not None
    seen = watcher.checks
    watcher.poke()
    wait_for(lambda: watcher.checks >= seen + 2, "two checks of the 10 calls")  # a count
    assert got == []  # none fired on them
    for _ in range(6):
        tracker.log(0, 0, "openai", "gpt-4o", False, "429 rate_limit_exceeded: slow down")
    for _ in range(2):
        tracker.log(0, 0, "openai", "gpt-4o", False, "429 insufficient_quota: quota exceeded")
    wait_for(lambda: len(got) == 1, "the alert")
    assert tracker.close()
    [event] = got
    # 11 of 18 calls failed with a 429
    assert (event.kind, event.requests, event.error_rate, event.top_error) == (
        "alert",
        18,
        round(11 / 18, 4),
        "429 rate_limit_exceeded: slow down",
    )


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:  # the standard library's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_a_webhook_receives_each_event_as_json(
    tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = hook
    got: list[BudgetEvent] = []
    tracker = tracker_with(tmp_path, got, budgets=[Budget(usd=0.3, warn_at=(), name="w")],
                           budget_webhook=url)  # fmt: skip
    tracker.log(*CALL)
    assert tracker.close()
    assert [(r["kind"], r["name"], r["threshold"], r["spent_usd"]) for r in received] == [
        ("budget", "w", 1.0, 0.35)
    ]


@pytest.mark.slow  # the webhook's three attempts and their backoff: with the long variants
def test_a_dead_webhook_blocks_nothing_and_loses_no_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    got: list[BudgetEvent] = []
    tracker = tracker_with(tmp_path, got, budgets=[Budget(usd=0.3, warn_at=(), name="d")],
                           budget_webhook=dead)  # fmt: skip
    for _ in range(1_000):
        tracker.log(*CALL)
    assert tracker.close()
    assert len(read_lines(tmp_path)) == 1_000
    assert [e.threshold for e in got] == [1.0]  # the callback still ran
    debug = (tmp_path / "token_debug.log").read_text()
    assert f"webhook {dead}: not delivered after 3 attempts" in debug


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Budget(usd=0), "Budget usd must be a number > 0, got 0"),
        (lambda: Budget(usd=1, per="week"), "Budget per must be 'day', 'month' or a positive"),
        (lambda: Budget(usd=1, warn_at=(1.5,)), "warn_at must be fractions between 0 and 1"),
        (lambda: Budget(usd=1, where={"bad key": "x"}), "where key 'bad key' is neither"),
        (
            lambda: Budget(usd=1, where={"service-tier": "flex"}, enforce=True),
            "Budget\\(enforce=True\\) cannot hold a where on service-tier",
        ),
        (lambda: Alert(error_rate=0), "Alert error_rate must be in \\(0, 1\\], got 0"),
        (lambda: Alert(error_rate=0.2, errors="4xx"), "Alert errors must be 'any', '429'"),
        (lambda: TokenTracker(budget_webhook="ftp://x"), "budget_webhook must be an http"),
    ],
)
def test_a_budget_that_cannot_work_is_refused_where_it_is_written(
    make: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make()
