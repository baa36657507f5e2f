"""Real servers on 127.0.0.1: nothing lost when uvicorn, gunicorn or hypercorn stop, and
little to a hard kill. Each server runs as a subprocess; 3,000 requests each log one event;
then SIGTERM, as a deploy or Kubernetes sends it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import read_lines, read_stats

from asynctokens import reader
from benchmarks.kill_bench import CHILD

pytestmark = pytest.mark.slow  # servers start and stop: with the long variants (CI runs them)

APP = textwrap.dedent(
    """
    import os
    from contextlib import asynccontextmanager
    from fastapi import FastAPI
    from asynctokens import get_tracker, log_tokens

    @asynccontextmanager
    async def lifespan(app):
        yield
        if os.environ.get("DRAIN") == "1":
            await get_tracker().aclose()  # the recommended one-line drain

    app = FastAPI(lifespan=lifespan)

    @app.get("/call")
    async def call(i: int):
        log_tokens(100, 10, api_type="openai", model="gpt-4o", request_id=str(i))
        return {"ok": True}
    """
)
PLAIN = textwrap.dedent(
    """
    from fastapi import FastAPI
    app = FastAPI()

    @app.get("/call")
    async def call(i: int):
        return {"ok": True}
    """
)
BIN = Path(sys.executable).parent
SERVERS = {
    "uvicorn": ["uvicorn", "{module}:app", "--port", "{port}", "--log-level", "warning"],
    "uvicorn-2-workers": ["uvicorn", "{module}:app", "--port", "{port}", "--log-level",
                          "warning", "--workers", "2"],
    "gunicorn-uvicorn-workers": ["gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-w", "2",
                                 "-b", "127.0.0.1:{port}", "--log-level", "warning",
                                 "{module}:app"],
    "hypercorn": ["hypercorn", "{module}:app", "-b", "127.0.0.1:{port}", "--log-level",
                  "warning"],
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, i: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"/call?i={i}", headers={"Connection": "close"})
        response = conn.getresponse()
        assert response.status == 200
        response.read()
    finally:
        conn.close()


def serve(tmp_path: Path, server: str, module: str, requests: int, env: dict[str, str]) -> int:
    """Start the server, send ``requests`` requests, SIGTERM it; its exit code."""
    port = free_port()
    argv = [a.format(module=module, port=port) for a in SERVERS[server]]
    errors = tmp_path / f"{module}-{server}.stderr"
    with errors.open("wb") as err:
        proc = subprocess.Popen(
            [str(BIN / argv[0]), *argv[1:]], cwd=tmp_path, stdout=subprocess.DEVNULL,
            stderr=err, env={**os.environ, "PYTHONPATH": str(tmp_path), **env},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:  # ready once the first request is answered (and logged)
            try:
                get(port, 0)
                break
            except OSError:
                assert proc.poll() is None, errors.read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        for i in range(1, requests):
            get(port, i)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode


@pytest.mark.parametrize("drain", ["lifespan-drain", "no-drain"])
@pytest.mark.parametrize("server", list(SERVERS))
def test_sigterm_to_a_server_loses_nothing_and_keeps_its_exit_code(
    tmp_path: Path, server: str, drain: str
) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "plain.py").write_text(PLAIN)
    log_dir = tmp_path / "logs"
    env = {"ASYNCTOKENS_LOG_DIR": str(log_dir), "DRAIN": "1" if drain == "lifespan-drain" else ""}
    code = serve(tmp_path, server, "app", 3_000, env)
    lines = read_lines(log_dir)
    assert len(lines) == 3_000
    assert sorted(int(e["request_id"]) for e in lines) == list(range(3_000))
    totals = reader.aggregate(log_dir).totals()
    assert (totals["total_requests"], totals["total_tokens"]) == (3_000, 330_000)
    assert read_stats(log_dir)["total_requests"] == 3_000  # the stats file itself, exact
    # the server's own shutdown: the exit code it has with an app that logs nothing
    assert code == serve(tmp_path, server, "plain", 20, env)


@pytest.mark.parametrize("kill_at", [300, 454, 606])
def test_a_hard_kill_at_200_events_a_second_keeps_every_event_the_writer_wrote(
    tmp_path: Path, kill_at: int
) -> None:
    """Killed once it has logged ``kill_at`` events (counted, not timed): every event its
    writer had said was written is on disk, once, and nothing else is; the last line may
    be torn, and is then no event. How many a kill loses (the events still queued, about a
    flush interval's worth) is timed by ``python -m benchmarks.kill_bench``."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    logged = said_written = 0  # the child prints both after each event
    for line in proc.stdout:
        logged, said_written = map(int, line.split())
        if logged >= kill_at:
            break
    proc.kill()
    for line in proc.communicate()[0].splitlines():  # what it printed before the kill
        if len(line.split()) == 2:  # not a line the kill cut
            logged = int(line.split()[0])
    events = list(reader.iter_events(tmp_path))  # a torn last line is no event
    assert logged >= kill_at
    # + 1: an event logged (and maybe written) whose count the kill kept from being printed
    assert said_written <= len(events) <= logged + 1
    assert sorted(e["prompt_tokens"] for e in events) == list(range(len(events)))
