"""Shared fixtures: a tracker factory that always closes, and helpers that read real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asynctokens import TokenTracker

REPO = Path(__file__).resolve().parents[1]


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


def read_stats(log_dir: Path) -> dict[str, Any]:
    return json.loads((log_dir / "token_stats.json").read_text())  # type: ignore[no-any-return]


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


def sums(events: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(requests, prompt tokens, completion tokens) over parsed lines."""
    return (
        len(events),
        sum(e["prompt_tokens"] for e in events),
        sum(e["completion_tokens"] for e in events),
    )
