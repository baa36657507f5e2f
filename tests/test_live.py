"""``asynctokens live`` in a real terminal (tmux): a new call shows within 2 s; q leaves."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import system_tool

from asynctokens import TokenTracker

TMUX, _needs_tmux = system_tool("tmux")
pytestmark = [pytest.mark.slow, _needs_tmux]


def tmux(*args: str) -> str:
    assert TMUX is not None
    return subprocess.run([TMUX, *args], capture_output=True, text=True, check=True).stdout


def wait_for(session: str, text: str, timeout: float) -> float:
    """Seconds until the pane shows ``text``; fails after ``timeout``."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if text in tmux("capture-pane", "-p", "-t", session):
            return time.perf_counter() - start
        time.sleep(0.05)
    pytest.fail(f"{text!r} not shown in {timeout} s:\n{tmux('capture-pane', '-p', '-t', session)}")


def test_live_shows_a_new_call_as_it_arrives_and_q_leaves(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    tracker.log(1_000, 200, "openai", "gpt-4o")
    assert tracker.close()
    session, done = f"live-{uuid.uuid4().hex[:8]}", tmp_path / "exit-code"
    command = (
        f"{shlex.quote(sys.executable)} -m asynctokens live --log-dir {shlex.quote(str(log_dir))};"
        f" echo $? > {shlex.quote(str(done))}"
    )
    tmux("new-session", "-d", "-s", session, "-x", "140", "-y", "45", command)
    try:
        wait_for(session, "Requests 1 ", timeout=20)  # started, today's call counted
        tracker = TokenTracker(log_dir)
        tracker.log(500, 50, "anthropic", "claude-opus-4-5", success=False,
                    error_message="529 overloaded_error: busy")  # fmt: skip
        assert tracker.close()
        wait_for(session, "Requests 2 ", timeout=20)  # the new call is shown
        screen = tmux("capture-pane", "-p", "-t", session)
        assert "Errors 1 (50.0%)" in screen
        assert "Last error:" in screen and "529 overloaded_error: busy" in screen
        tmux("send-keys", "-t", session, "q")
        deadline = time.perf_counter() + 10
        while not done.exists() and time.perf_counter() < deadline:
            time.sleep(0.05)
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run([TMUX or "tmux", "kill-session", "-t", session], capture_output=True,
                       check=False)  # fmt: skip
