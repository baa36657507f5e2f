"""The examples run as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FASTAPI_CLIENT = """
from fastapi.testclient import TestClient
from examples.fastapi_usage import app

with TestClient(app) as client:
    for _ in range(3):
        reply = client.post("/chat", params={"prompt_tokens": 100, "completion_tokens": 10})
        assert reply.json() == {"ok": True}
    from asynctokens import get_tracker
    assert get_tracker().flush_sync()
    totals = client.get("/usage").json()["totals"]
    print(totals["total_requests"], totals["total_tokens"])
    rows = client.get("/usage", params={"by": "model"}).json()["rows"]
    print(list(rows), rows["gpt-4o-mini"]["total_prompt_tokens"])
"""


def test_the_fastapi_example_logs_and_reports_usage(tmp_path: Path) -> None:
    """Run in a fresh interpreter, as a service starts: the default tracker, its own log dir."""
    result = subprocess.run(
        [sys.executable, "-c", FASTAPI_CLIENT], cwd=REPO, capture_output=True, text=True,
        timeout=60, check=False,
        env={**os.environ, "ASYNCTOKENS_LOG_DIR": str(tmp_path / "logs")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3 330\n['gpt-4o-mini'] 300\n"
