"""Promises that only real processes can show: exit drains, several writers, fork, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import read_lines, read_stats, run_script, sigterm_when_ready, sums


def test_script_that_never_closes_is_drained_at_exit(tmp_path: Path) -> None:
    result = run_script(
        """
        from asynctokens import configure, log_tokens
        configure(flush_interval_s=3600, stats_interval_s=3600)
        for i in range(20_000):
            log_tokens(100, 200, model="gemini-2.5-flash")
        """,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stderr) == (0, "")
    log_dir = tmp_path / "logs" / "tokens"
    assert sums(read_lines(log_dir)) == (20_000, 2_000_000, 4_000_000)
    assert read_stats(log_dir)["total_tokens"] == 6_000_000


def test_default_tracker_honours_the_log_dir_environment_variable(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    result = run_script(
        "from asynctokens import log_tokens\nlog_tokens(1, 2)\n",
        cwd=tmp_path,
        env={"ASYNCTOKENS_LOG_DIR": str(target)},
    )
    assert result.returncode == 0, result.stderr
    assert sums(read_lines(target)) == (1, 1, 2)
    assert not (tmp_path / "logs").exists()


def test_several_processes_share_one_directory_exactly(tmp_path: Path) -> None:
    log_dir = tmp_path / "shared"
    code = textwrap.dedent(
        """
        import sys
        from asynctokens import TokenTracker
        n = int(sys.argv[1])
        tracker = TokenTracker(sys.argv[2], batch_size=257, stats_interval_s=0.01)
        for i in range(5_000):
            tracker.log(n, i % 11, model=f"model-{n % 2}", api_type="openai")
        tracker.close()
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(n), str(log_dir)], stderr=subprocess.PIPE, text=True
        )
        for n in range(1, 7)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert (p.returncode, err) == (0, "")
    events = read_lines(log_dir)  # json.loads of every line: no partial or interleaved line
    expected_prompt = sum(n * 5_000 for n in range(1, 7))
    expected_completion = 6 * sum(i % 11 for i in range(5_000))
    assert sums(events) == (30_000, expected_prompt, expected_completion)
    assert len({e["event_id"] for e in events}) == 30_000
    assert len({e["pid"] for e in events}) == 6
    stats = read_stats(log_dir)
    assert (
        stats["total_requests"],
        stats["total_prompt_tokens"],
        stats["total_completion_tokens"],
        stats["invalid_lines"],
    ) == (
        30_000,
        expected_prompt,
        expected_completion,
        0,
    )
    assert stats["by_model"]["model-0"]["total_requests"] == 15_000


def test_fork_child_starts_with_a_fresh_queue(tmp_path: Path) -> None:
    result = run_script(
        """
        import os
        from asynctokens import configure, log_tokens, get_tracker
        configure(flush_interval_s=3600)
        for _ in range(10):
            log_tokens(1, 0, model="parent")
        pid = os.fork()
        if pid == 0:
            for _ in range(5):
                log_tokens(0, 1, model="child")
            get_tracker().close()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        for _ in range(10):
            log_tokens(1, 0, model="parent")
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    events = read_lines(tmp_path / "logs" / "tokens")
    assert sums(events) == (25, 20, 5)
    assert len({e["event_id"] for e in events}) == 25
    by_model = read_stats(tmp_path / "logs" / "tokens")["by_model"]
    assert (by_model["parent"]["total_requests"], by_model["child"]["total_requests"]) == (20, 5)


def test_sigterm_drains_what_was_logged(tmp_path: Path) -> None:
    result = sigterm_when_ready(
        """
        import sys, time
        from asynctokens import configure, log_tokens
        configure(flush_interval_s=3600, stats_interval_s=3600)
        for _ in range(3_000):
            log_tokens(2, 3)
        print("ready", flush=True)
        time.sleep(60)
        """,
        cwd=tmp_path,
        ready="ready",
    )
    assert (result.returncode, result.stderr) == (128 + signal.SIGTERM, "")
    log_dir = tmp_path / "logs" / "tokens"
    assert sums(read_lines(log_dir)) == (3_000, 6_000, 9_000)
    assert read_stats(log_dir)["total_requests"] == 3_000


def test_app_sigterm_handler_is_left_alone(tmp_path: Path) -> None:
    result = run_script(
        """
        import os, signal
        seen = []
        signal.signal(signal.SIGTERM, lambda *a: seen.append("app"))
        from asynctokens import log_tokens
        log_tokens(1, 1)
        os.kill(os.getpid(), signal.SIGTERM)
        assert seen == ["app"], seen
        print("handled by the app")
        """,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stdout) == (0, "handled by the app\n"), result.stderr
    assert len(read_lines(tmp_path / "logs" / "tokens")) == 1


def test_ctrl_c_in_a_script_keeps_what_was_logged(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(
            """
            import time
            from asynctokens import configure, log_tokens
            configure(flush_interval_s=3600, stats_interval_s=3600)
            for _ in range(2_000):
                log_tokens(1, 1)
            print("ready", flush=True)
            time.sleep(60)
            """
        )],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT  # Python re-raises an unhandled Ctrl-C at exit
    assert "KeyboardInterrupt" in err
    assert sums(read_lines(tmp_path / "logs" / "tokens")) == (2_000, 2_000, 2_000)


ASYNC_APP = """
import asyncio, signal, sys
from asynctokens import TokenTracker

async def main():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)   # what uvicorn-style servers do
    async with TokenTracker(sys.argv[1], flush_interval_s=3600, stats_interval_s=3600) as t:
        for _ in range(3_000):
            t.log(2, 1, model="app")
        print("ready", flush=True)
        await stop.wait()

asyncio.run(main())
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_asyncio_app_stopped_by_a_signal_keeps_what_was_logged(tmp_path: Path, sig: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", ASYNC_APP, str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (0, "")
    assert sums(read_lines(tmp_path)) == (3_000, 6_000, 3_000)
    assert read_stats(tmp_path)["total_requests"] == 3_000
