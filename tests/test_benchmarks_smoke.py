"""The benchmark harness still runs (tiny N; no timing is asserted: benchmarks are not tests)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow  # a few seconds of subprocesses: with the long variants (CI runs them)
def test_harness_runs_and_reports_every_line_on_disk() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--events", "3000", "--calls", "3000", "--rounds",
         "1", "--skip-extras", "--only", "asynctokens-thread", "asynctokens-trio", "floor",
         "stdlib-queue"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 4
    by_name = {row.split(" | ")[0][2:]: row for row in rows}
    for name in ("asynctokens (thread worker)", "asynctokens (trio task)",
                 "stdlib QueueHandler + QueueListener"):  # fmt: skip
        assert by_name[name].endswith("| 0 / 0 / 0 |"), by_name[name]


@pytest.mark.slow  # the SDKs' clients start: with the long variants (CI runs them)
def test_ops_benchmark_counts_what_instrumenting_adds(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import ops_bench

    assert ops_bench.main(["--chunks", "2", "--top", "3"]) == 0
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0][2:]: line for line in out.splitlines() if line.startswith("| ")}
    for shape in ("whole reply", "stream of 2 chunks"):
        counts = [int(cell.replace(",", "")) for cell in rows[shape].strip("| ").split(" | ")[1:]]
        assert len(counts) == 3 and all(n > 0 for n in counts), rows[shape]
    assert "- stream of 2 chunks, anthropic: " in out


@pytest.mark.slow  # 2 s of fixture writing and CLI processes
def test_reader_benchmark_runs_on_a_small_directory() -> None:
    from benchmarks import reader_bench

    result = reader_bench.measure(events=2_000, rounds=1)
    assert result["scanned"] == 2_000
    assert "| `asynctokens daily` (token_stats.json) |" in reader_bench.render(result)


@pytest.mark.slow  # the SDKs' clients start: with the long variants (CI runs them)
def test_sdk_benchmark_runs_with_tiny_counts() -> None:
    from benchmarks import sdk_bench

    log_response = sdk_bench.measure_log_response(calls=200, rounds=1)
    instrumented = sdk_bench.measure_instrumented(sdk_calls=40, rounds=1)
    wrapper = sdk_bench.measure_wrapper(rounds=1, block=10)
    streams = sdk_bench.measure_streams(streams=6, rounds=1, chunks=5)
    stream_wrapper = sdk_bench.measure_stream_wrapper(rounds=1, chunks=3, block=2)
    floor = sdk_bench.measure_stream_floor(rounds=1, chunks=3, block=2)
    table = sdk_bench.render(log_response, instrumented, wrapper, streams, stream_wrapper, floor)
    assert [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| o")] == [
        "| openai",
        "| openai",
        "| openai",
        "| openai",
        "| openai",
        "| openai",
    ]
    assert "| the least a stream wrapper does" in table
    assert sorted(wrapper) == ["anthropic", "gemini", "openai"]
    assert instrumented["gemini"]["calls"] == 40
    assert {row["chunks"] for row in streams.values()} == {5}


@pytest.mark.slow  # 2 s of fixture writing and CLI processes
def test_pricing_benchmark_runs_on_a_small_directory() -> None:
    from benchmarks import pricing_bench

    result = pricing_bench.measure(events=400, rounds=1)
    assert result["events"] == 400 and result["csv_unpriced_s"] > 0
    assert "| what pricing adds |" in pricing_bench.render(result)


@pytest.mark.slow  # 11 report processes over a tiny fleet
def test_year_benchmark_runs_and_checks_its_reports_exact() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.year_bench", "--events", "3000", "--hosts", "2",
         "--days", "3", "--models", "3", "--rounds", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]  # a report off the lines exits 1
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == 11


@pytest.mark.slow  # two CLI processes
def test_models_benchmark_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.models_bench", "--models", "300"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "300 model names: writer drained" in result.stdout
    assert "asynctokens models:" in result.stdout


@pytest.mark.slow  # a process killed half a second in
def test_kill_benchmark_counts_what_a_kill_left_on_disk() -> None:
    from benchmarks import kill_bench

    logged, written = kill_bench.one_kill(0.5)
    assert 0 <= written <= logged + 1  # + 1: logged, its count not printed before the kill
