"""Shared fixtures: a tracker factory that always closes, and helpers that read real files."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from asynctokens import TokenTracker

REPO = Path(__file__).resolve().parents[1]

# The suite starts a few hundred Python processes (the command, children, processes it kills)
# and each worker imports the three provider SDKs. Where PYTHONDONTWRITEBYTECODE is set (some
# CI images set it) each of them compiles every module from source again: 40 s of CPU, the
# suite's whole minute on 2 cores. Compiled modules go to __pycache__, which git ignores.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "tokens"


@pytest.fixture
def make_tracker(log_dir: Path) -> Iterator[Any]:
    """Build trackers on ``log_dir`` (fast polling intervals) and close them all afterwards."""
    made: list[TokenTracker] = []

    def make(**options: Any) -> TokenTracker:
        options.setdefault("log_dir", log_dir)
        tracker = TokenTracker(**options)
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        tracker.close(timeout=5)


def read_lines(log_dir: Path) -> list[dict[str, Any]]:
    """Every line of every daily file, parsed with the stdlib (independent of our reader)."""
    return [
        json.loads(line)
        for path in sorted(log_dir.glob("tokens_*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def lines_by_day(
    dirs: list[Path], tz: Any, since: Any = None, until: Any = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(day in ``tz``, line) for every line of ``dirs`` whose instant is in [since, until)."""
    for log_dir in dirs:
        for line in read_lines(log_dir):
            instant = datetime.fromisoformat(line["ts"])
            if (since and instant < since) or (until and instant >= until):
                continue
            yield instant.astimezone(tz).date().isoformat(), line


def read_stats(log_dir: Path) -> dict[str, Any]:
    return json.loads((log_dir / "token_stats.json").read_text())  # type: ignore[no-any-return]


def cli_in_process(log_dir: Path, *args: str) -> tuple[str, str]:
    """``asynctokens ARGS --log-dir LOG_DIR`` run in this process, as a user runs it: what
    it printed on stdout and on stderr (its exit code 0 is asserted)."""
    import contextlib
    import io

    from asynctokens import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert cli.main([*args, "--log-dir", str(log_dir)]) == 0
    return out.getvalue(), err.getvalue()


def run_script(
    code: str, *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, as a user's script would run."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sigterm_when_ready(
    code: str, *, cwd: Path, ready: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, send it SIGTERM once it prints ``ready``, and wait.

    The script says when it has logged what the test needs, so the signal arrives at a
    known point instead of after a sleep.
    """
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if first == f"{ready}\n":
        proc.send_signal(signal.SIGTERM)
    else:
        proc.kill()
    out, err = proc.communicate(timeout=timeout)
    assert first == f"{ready}\n", f"the script did not get ready: {first!r}\n{err}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, first + out, err)


def sums(events: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(requests, prompt tokens, completion tokens) over parsed lines."""
    return (
        len(events),
        sum(e["prompt_tokens"] for e in events),
        sum(e["completion_tokens"] for e in events),
    )


def _utc(day: int, hour: int, minute: int = 0) -> Any:
    import datetime as dt

    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


#: The reading tests' directory: 3 UTC days, 3 providers, a failure, cached and cache-write
#: input, reasoning output and one model with no price. Expected figures are in the tests.
FIXTURE_CALLS: list[dict[str, Any]] = [
    dict(prompt_tokens=1_000_000, completion_tokens=200_000, api_type="openai", model="gpt-4o",
         cached_tokens=400_000, latency_ms=812.5, ts=_utc(20, 10)),
    dict(prompt_tokens=2_000_000, completion_tokens=500_000, api_type="openai",
         model="gpt-4o-mini", reasoning_tokens=100_000, ts=_utc(20, 12)),
    dict(prompt_tokens=3_000_000, completion_tokens=600_000, api_type="anthropic",
         model="claude-sonnet-4-5", cached_tokens=1_000_000, cache_write_tokens=500_000,
         ts=_utc(20, 23, 30)),
    dict(prompt_tokens=0, completion_tokens=0, api_type="gemini", model="gemini-2.5-flash",
         success=False, error_message="429 quota exceeded", ts=_utc(21, 0, 30)),
    dict(prompt_tokens=150_000, completion_tokens=320_000, api_type="gemini",
         model="gemini-2.5-flash", ts=_utc(21, 9)),
    dict(prompt_tokens=100, completion_tokens=100, api_type="local", model="my-local-llama",
         metadata={"article_id": 7}, ts=_utc(22, 15)),
]  # fmt: skip


@pytest.fixture
def fixture_dir(tmp_path: Path) -> Path:
    """A log directory written through the public API, closed, with its stats file."""
    log_dir = tmp_path / "fixture"
    tracker = TokenTracker(log_dir)
    for call in FIXTURE_CALLS:
        tracker.log(**call)
    assert tracker.close() is True
    return log_dir


#: Fields of a line that vary from run to run (time, process, ids the writer makes).
VOLATILE = ("event_id", "ts", "pid", "latency_ms")


def logged(tracker: TokenTracker, log_dir: Path) -> list[dict[str, Any]]:
    """Close ``tracker`` and return its lines without the fields that vary between runs.

    Each line's ``latency_ms`` is checked to be a number >= 0 before it is dropped.
    """
    assert tracker.close() is True
    lines = read_lines(log_dir)
    for line in lines:
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    return [{k: v for k, v in line.items() if k not in VOLATILE} for line in lines]


def event(**fields: Any) -> dict[str, Any]:
    """An expected line (volatile fields left out), defaults as the writer writes them."""
    line: dict[str, Any] = {
        "api_type": "unknown",
        "model": "unknown",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "success": True,
        "error_message": None,
        "api_key_suffix": None,
        "request_id": None,
        "metadata": {},
        "host": socket.gethostname(),
    }
    line.update(fields)
    line["total_tokens"] = line["prompt_tokens"] + line["completion_tokens"]
    return line


def system_tool(name: str) -> tuple[str | None, pytest.MarkDecorator]:
    """A Debian tool a test drives (chromium, tmux), and the marks of such a test: slow (it
    takes seconds; CI runs the long variants too), skipped where the tool is missing, except
    in CI, which installs it, so there a missing one is a failure."""
    path = shutil.which(name)
    if path is None and os.environ.get("CI"):
        raise RuntimeError(f"{name} is not installed: .ci/run installs Debian's {name}")
    return path, pytest.mark.skipif(path is None, reason=f"no {name} (apt install {name})")


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    """Return once ``condition()`` holds (polled every 10 ms); fail after ``timeout``, which
    only a broken promise reaches: it is no measure of speed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)


def asked(line: dict[str, Any], model: str) -> dict[str, Any]:
    """``line`` as a call that asked for ``model`` logs it: under that name, with the
    model the reply named as ``response_model`` when it differs."""
    out = {**line, "model": model}
    if line["model"] != model:
        out["response_model"] = line["model"]
    return out


def served(line: dict[str, Any]) -> dict[str, Any]:
    """``line`` (see :func:`asked`) as logged where the model asked for is not known (a reply
    passed to ``log_response``, a background job whose start was not seen): under the served
    name."""
    out = {k: v for k, v in line.items() if k != "response_model"}
    out["model"] = line.get("response_model", line["model"])
    return out
