"""asynctokens sql and parquet export on DuckDB: the reader's rules, each event once."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import duckdb
import orjson
import pytest
from conftest import read_lines
from test_hosts import fleet_host

from asynctokens import cli, reader, sql


@pytest.fixture
def fleet(tmp_path: Path) -> list[Path]:
    dirs = [fleet_host(tmp_path / "fleet", h, 100, s) for h, s in (("web-1", 0), ("web-2", 7))]
    day_file = sorted(dirs[1].glob("tokens_*.jsonl"))[0]
    with day_file.open("ab") as f:  # lines the reader does not count: DuckDB must not either
        good = orjson.loads(day_file.read_bytes().splitlines()[0])
        f.write(b"garbage\n")
        f.write(orjson.dumps({**good, "event_id": "neg", "prompt_tokens": -1}) + b"\n")
        f.write(orjson.dumps({**good, "event_id": "far", "ts": "2031-01-01T00:00:00+00:00"})
                + b"\n")  # fmt: skip
        f.write(orjson.dumps({**good, "event_id": "nomodel", "model": None}) + b"\n")
    shutil.copytree(dirs[0], tmp_path / "archive")  # a copy: counted once
    return [*dirs, tmp_path / "archive"]


def test_the_tokens_view_agrees_with_the_reader(fleet: list[Path]) -> None:
    by_model = reader.aggregate(fleet).by("model")
    con = sql.connect(fleet)
    rows = con.execute(
        "SELECT model, count(*), sum(prompt_tokens), sum(completion_tokens) FROM tokens"
        " GROUP BY model ORDER BY model"
    ).fetchall()
    assert rows == [
        (m, r["total_requests"], r["total_prompt_tokens"], r["total_completion_tokens"])
        for m, r in by_model.items()
    ]
    assert sum(r[1] for r in rows) == 200
    hosts = con.execute("SELECT host, count(*) FROM tokens GROUP BY 1 ORDER BY 1").fetchall()
    assert hosts == [("web-1", 100), ("web-2", 100)]
    assert con.execute("SELECT typeof(metadata), typeof(ts) FROM tokens LIMIT 1").fetchone() == (
        "JSON", "TIMESTAMP WITH TIME ZONE",
    )  # fmt: skip
    con.close()


def test_sql_command_prints_rows_and_says_a_bad_query_in_one_line(
    fleet: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = [a for d in fleet for a in ("--log-dir", str(d))]
    query = "SELECT host, count(*) AS calls FROM tokens GROUP BY host ORDER BY host"
    assert cli.main(["sql", query, *dirs, "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out) == [
        {"host": "web-1", "calls": 100}, {"host": "web-2", "calls": 100},
    ]  # fmt: skip
    assert cli.main(["sql", query, *dirs]) == 0
    out = capsys.readouterr().out
    assert "2 row(s)" in out and "│ web-2 │   100 │" in out
    assert cli.main(["sql", "SELEC 1", *dirs]) == 2
    err = capsys.readouterr().err
    assert err.startswith("asynctokens: error: SQL: Parser Error") and err.count("\n") == 1


def test_parquet_export_holds_every_event_owner_only(
    fleet: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calls.parquet"
    argv = ["export", "--format", "parquet", "-o", str(out), "--log-dir", str(fleet[0]),
            "--model", "gpt-4o"]  # fmt: skip
    assert cli.main(argv) == 0
    assert capsys.readouterr().err == f"wrote 50 calls to {out}\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = [e for e in read_lines(fleet[0]) if e["model"] == "gpt-4o"]
    got = duckdb.sql(
        f"SELECT event_id, prompt_tokens, host, metadata FROM read_parquet('{out}') ORDER BY ts"
    ).fetchall()
    assert [(g[0], g[1], g[2]) for g in got] == [
        (e["event_id"], e["prompt_tokens"], "web-1") for e in lines
    ]
    assert got[0][3] == "{}"
    assert cli.main(["export", "--format", "parquet", "-o", "-", "--log-dir", str(fleet[0])]) == 2
    assert "give -o FILE" in capsys.readouterr().err


def _hostile(log_dir: Path, outside: Path) -> list[str]:
    """Statements that would write a file, read one the logs are not, or undo the locks."""
    day_file = sorted(log_dir.glob("tokens_*.jsonl"))[0]
    return [
        f"COPY (SELECT * FROM tokens) TO '{log_dir}/tokens_2031-01-01.jsonl'",  # a fake day
        f"COPY (SELECT 1) TO '{outside}/x.csv'",
        f"SELECT * FROM read_csv('{outside}/secret.txt')",
        f"SELECT * FROM read_text('{outside}/secret.txt')",
        f"SELECT * FROM glob('{outside}/*')",
        f"ATTACH '{outside}/db.duckdb'",
        f"EXPORT DATABASE '{outside}/dump'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "LOAD httpfs",
        f"SELECT 1; COPY (SELECT 1) TO '{outside}/y.csv'",
        f"CREATE TABLE t AS SELECT * FROM read_text('{day_file}')",
    ]


def test_sql_reads_the_logs_and_nothing_else_and_writes_nothing(
    fleet: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("root:x:0:0\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for statement in _hostile(fleet[0], outside):
        assert cli.main(["sql", statement, "--log-dir", str(fleet[0])]) == 2, statement
        err = capsys.readouterr().err
        assert err.startswith("asynctokens: error: ") and err.count("\n") == 1, err
        assert "root:x" not in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    # the logs themselves are read as before: a query over them still answers
    assert cli.main(["sql", "SELECT count(*) AS n FROM tokens", "--log-dir", str(fleet[0]),
                     "--json"]) == 0  # fmt: skip
    assert orjson.loads(capsys.readouterr().out) == [{"n": 100}]


def test_the_lock_is_duckdbs_own_not_only_the_statement_check(
    fleet: list[Path], tmp_path: Path
) -> None:
    """A reading statement cannot reach other files either: the connection refuses it."""
    (tmp_path / "secret.txt").write_text("root:x:0:0\n")
    con = sql.connect(fleet[0])
    try:
        for statement in (f"SELECT * FROM read_text('{tmp_path}/secret.txt')",
                          f"COPY (SELECT 1) TO '{tmp_path}/z.csv'",
                          "SET lock_configuration = false"):  # fmt: skip
            with pytest.raises(duckdb.Error):
                con.execute(statement)
        assert con.execute("SELECT count(*) FROM tokens").fetchone() == (100,)
    finally:
        con.close()
    assert not (tmp_path / "z.csv").exists()


def test_the_view_and_the_parquet_export_carry_each_calls_cost(
    tmp_path: Path, fleet: list[Path]
) -> None:
    """cost_usd per call, by the CSV export's pricer: summed by model it is the models
    report's cost; a model no source prices is NULL, never 0."""
    from asynctokens import TokenTracker, summary

    extra = tmp_path / "extra"
    tracker = TokenTracker(extra)
    tracker.log(1_000_000, 0, "vllm", "my-llama")  # no price anywhere
    tracker.log(1_000_000, 1_000_000, "openai", "gpt-4o")  # $2.50 + $10.00
    assert tracker.close() is True
    dirs = [*fleet, extra]
    report = summary.breakdown(summary.Query(log_dir=dirs), "model")["rows"]
    con = sql.connect(dirs)
    rows = con.execute(
        "SELECT model, round(sum(cost_usd), 6), count(cost_usd), count(*) FROM tokens"
        " GROUP BY model ORDER BY model"
    ).fetchall()
    con.close()
    for model, cost, priced, calls in rows:
        if model == "my-llama":
            assert (cost, priced, calls) == (None, 0, 1)
        else:
            assert (cost, priced) == (report[model]["cost_usd"], calls), model
    assert ("gpt-4o", round(report["gpt-4o"]["cost_usd"], 6)) in [(r[0], r[1]) for r in rows]
    out = tmp_path / "calls.parquet"
    assert sql.export_parquet(dirs, out) == 202
    check = duckdb.connect()
    costs = check.execute(
        f"SELECT model, cost_usd FROM read_parquet('{out}') WHERE host IS NOT NULL AND"
        " model IN ('gpt-4o', 'my-llama') AND prompt_tokens = 1000000"
    ).fetchall()
    check.close()
    assert sorted(costs, key=str) == [("gpt-4o", 12.5), ("my-llama", None)]


def test_view_sql_runs_on_a_connection_of_ones_own(fleet: list[Path]) -> None:
    """The lines' SELECT needs nothing of ours: every field, each event once (cost_usd is
    connect()'s, which has the pricing function)."""
    con = duckdb.connect()
    rows = con.execute(f"SELECT count(*), sum(prompt_tokens) FROM ({sql.view_sql(fleet)})")
    totals = reader.aggregate(fleet).summary()
    assert rows.fetchone() == (200, totals["total_prompt_tokens"])
    con.close()


def test_the_view_has_labels_the_served_model_and_the_tier_priced_by_them(tmp_path: Path) -> None:
    """``labels`` as JSON (``labels->>'customer'``), ``response_model`` and ``service_tier``
    as text; ``cost_usd`` prices the served model at its tier, as every report does."""
    from asynctokens import TokenTracker, labels

    tracker = TokenTracker(tmp_path)
    with labels(customer="acme"):
        tracker.log(1_000_000, 0, "openai", "my-gpt", response_model="gpt-4o-2024-08-06")
        tracker.log(1_000_000, 0, "openai", "gpt-4o", service_tier="flex")
    tracker.log(1_000_000, 0, "openai", "gpt-4o")
    assert tracker.close() is True
    con = sql.connect(tmp_path)
    rows = con.execute(
        "SELECT labels->>'customer' AS customer, model, response_model, service_tier, cost_usd"
        " FROM tokens ORDER BY cost_usd DESC, model"
    ).fetchall()
    by_customer = con.execute(
        "SELECT labels->>'customer', sum(cost_usd) FROM tokens GROUP BY 1 ORDER BY 1"
    ).fetchall()
    con.close()
    assert rows == [
        (None, "gpt-4o", None, None, 2.5),
        ("acme", "my-gpt", "gpt-4o-2024-08-06", None, 2.5),
        ("acme", "gpt-4o", None, "flex", 1.25),
    ]
    assert by_customer == [("acme", 3.75), (None, 2.5)]
