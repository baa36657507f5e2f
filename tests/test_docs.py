"""The documentation's code runs as written: every Python block of README.md and docs/*.md
compiles, and the blocks marked ``<!-- test: run -->`` run as pasted into a fresh
interpreter, in an empty directory; those marked ``<!-- test: run, logs -->`` must also leave
their calls in ``logs/tokens`` there, where the docs say they go."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

RUN_MARKS = {"<!-- test: run -->": "run", "<!-- test: run, logs -->": "logs"}
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def python_blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """(line, code, how: None, "run" or "logs") of each ```python block of ``page``."""
    text = page.read_text()
    blocks = []
    for found in FENCE.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        before = text[: found.start()].rstrip("\n").rsplit("\n", 1)[-1]
        blocks.append((line, found.group(1), RUN_MARKS.get(before.strip())))
    return blocks


BLOCKS = [
    pytest.param(page, line, code, how, id=f"{page.relative_to(REPO)}:{line}")
    for page in PAGES
    for line, code, how in python_blocks(page)
]


def test_the_readme_has_a_runnable_quick_start() -> None:
    runnable = [b for b in python_blocks(REPO / "README.md") if b[2] == "logs"]
    assert len(runnable) >= 2
    assert len((REPO / "README.md").read_text().splitlines()) <= 300


@pytest.mark.parametrize(("page", "line", "code", "how"), BLOCKS)
def test_a_documented_python_block_compiles_and_runs_if_marked(
    page: Path, line: int, code: str, how: str | None, tmp_path: Path
) -> None:
    compile(code, f"{page.name}:{line}", "exec")
    if how is None:
        return
    env = {k: v for k, v in os.environ.items() if k != "ASYNCTOKENS_LOG_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, f"{page.name}:{line} failed:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    if how == "logs":  # what the block logged is on disk, where the docs say it goes
        assert list((tmp_path / "logs" / "tokens").glob("tokens_*.jsonl")), result.stdout
