"""Children of multiprocessing that log through the default tracker: every event on disk.

Pool and executor workers leave through ``os._exit`` (atexit never runs there) and ``with
Pool()`` ends its workers with SIGTERM; each start method is tried with each shape.
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, read_lines, read_stats

SCRIPT = """
import faulthandler, multiprocessing, signal, sys
# a hang is explained, not just timed out: the test sends SIGUSR1 to every process here
faulthandler.register(signal.SIGUSR1, all_threads=True)
from concurrent.futures import ProcessPoolExecutor
from asynctokens import log_tokens

EVENTS = 200

def work(n):
    for i in range(EVENTS):
        log_tokens(1, 2, "pool", f"task-{n}")
    return n

def main(method, shape):
    ctx = multiprocessing.get_context(method)
    if shape == "process":
        procs = [ctx.Process(target=work, args=(n,)) for n in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    elif shape == "pool":
        with ctx.Pool(2) as pool:  # __exit__ terminates the workers with SIGTERM
            assert sorted(pool.map(work, range(4))) == [0, 1, 2, 3]
    elif shape == "pool-close":
        pool = ctx.Pool(2, maxtasksperchild=1)
        pool.map(work, range(4))
        pool.close()
        pool.join()
    else:
        with ProcessPoolExecutor(2, mp_context=ctx) as executor:
            assert sorted(executor.map(work, range(4))) == [0, 1, 2, 3]
    print("ok")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""


#: In the default run: the shapes that lost events, each under a start method; the whole
#: matrix under ``-m slow``.
QUICK = {("fork", "pool"), ("forkserver", "pool"), ("spawn", "executor"), ("fork", "executor")}
CASES = [
    pytest.param(method, shape, marks=() if (method, shape) in QUICK else pytest.mark.slow)
    for method in ("fork", "forkserver", "spawn")
    for shape in ("process", "pool", "pool-close", "executor")
]


@pytest.mark.parametrize(("method", "shape"), CASES)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork with threads
def test_every_event_of_every_child_is_written(tmp_path: Path, method: str, shape: str) -> None:
    import subprocess
    import sys

    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, str(script), method, shape],
        cwd=tmp_path,
        env={**os.environ, "ASYNCTOKENS_LOG_DIR": str(out), "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the pool's workers with it
    )
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        # every process's threads print where they are, then all of them go
        os.killpg(proc.pid, signal.SIGUSR1)
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{method}/{shape} hung; the stacks of its processes:\n{stderr[-12000:]}")
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr[-3000:]
    lines = read_lines(out)
    assert len(lines) == 800
    assert len({line["event_id"] for line in lines}) == 800
    assert read_stats(out)["total_requests"] == 800
