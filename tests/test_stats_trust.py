"""The stats are believed only when they are the fold of the lines: an update's files are all
or nothing as readers see them, and every number read from them is checked first.

A kill between two of an update's renames leaves, on disk, the files of two updates side by
side (each rename is atomic): those states are built here from two real updates' files, one
for each point a kill can land, and so is an index restored from a backup."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import cli_in_process, read_lines, read_stats

from asynctokens import TokenTracker

DAY = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
MONTH_FILE = "token_stats_2026-11.json"
QUARTERS_FILE = "token_stats_2026-11.quarters"
STATS = ("token_stats.json", MONTH_FILE, QUARTERS_FILE)


def log(log_dir: Path, n: int, first: int) -> None:
    tracker = TokenTracker(log_dir)
    for i in range(first, first + n):
        tracker.log(100 + i % 7, 10, "openai", "gpt-4o", ts=DAY + dt.timedelta(seconds=i))
    assert tracker.close() is True


def summary(log_dir: Path) -> tuple[dict[str, Any], str]:
    """``asynctokens summary --json`` as a user runs it: (totals, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "asynctokens", "summary", "--json", "--log-dir", str(log_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["totals"], result.stderr


def cli_json(log_dir: Path, *args: str, said: str = "") -> dict[str, Any]:
    """``asynctokens ARGS --json`` over the directory (in this process), parsed; what it
    says on stderr must hold ``said``."""
    out, err = cli_in_process(log_dir, *args, "--json")
    assert said in err and (said or not err), err
    doc: dict[str, Any] = json.loads(out)
    return doc


def fold(log_dir: Path) -> tuple[int, int]:
    """(requests, prompt tokens) summed over the lines, independently of our reader."""
    lines = read_lines(log_dir)
    return len(lines), sum(line["prompt_tokens"] for line in lines)


@pytest.fixture
def two_updates(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A directory after two updates (1,500 lines, then 500 more), and the stats files of
    each update kept aside."""
    log_dir = tmp_path / "logs"
    log(log_dir, 1_500, 0)
    first = tmp_path / "first"
    first.mkdir()
    for name in STATS:
        shutil.copy2(log_dir / name, first / name)
    log(log_dir, 500, 1_500)
    second = tmp_path / "second"
    second.mkdir()
    for name in STATS:
        shutil.copy2(log_dir / name, second / name)
    return log_dir, first, second


# what each rename of the second update had replaced when a kill landed (quarters, then the
# month file, then the index), and an older index restored over the finished update
KILLED = {
    "after the quarters rename": {QUARTERS_FILE: "second", MONTH_FILE: "first",
                                  "token_stats.json": "first"},
    "after the month file's rename": {QUARTERS_FILE: "second", MONTH_FILE: "second",
                                      "token_stats.json": "first"},
    "an older index restored from a backup": {QUARTERS_FILE: "second", MONTH_FILE: "second",
                                              "token_stats.json": "first"},
    "an older month restored from a backup": {QUARTERS_FILE: "first", MONTH_FILE: "first",
                                              "token_stats.json": "second"},
}  # fmt: skip


#: Run by default (the rest under ``-m slow``): a kill between two renames.
_QUICK_STATE = "after the quarters rename"


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(s, marks=[] if s == _QUICK_STATE else [pytest.mark.slow])
        for s in sorted(KILLED)
    ],
)
def test_stats_files_of_two_updates_are_never_believed_together(
    two_updates: tuple[Path, Path, Path], state: str
) -> None:
    log_dir, first, second = two_updates
    for name, source in KILLED[state].items():
        shutil.copy2((first if source == "first" else second) / name, log_dir / name)
    assert fold(log_dir) == (2_000, 2_000 * 100 + sum(i % 7 for i in range(2_000)))
    totals, err = summary(log_dir)
    assert (totals["total_requests"], totals["total_prompt_tokens"]) == fold(log_dir)
    if MONTH_FILE in err or "token_stats.json" in err:  # said when a file was not believed
        assert "failed its checks" in err
    # the next writer saves the fold of the lines, not 2,000 more than it
    log(log_dir, 1, 2_000)
    assert read_stats(log_dir)["total_requests"] == 2_001
    assert summary(log_dir)[0]["total_requests"] == 2_001


def corrupt_month(log_dir: Path, edit: Any) -> None:
    path = log_dir / MONTH_FILE
    doc = json.loads(path.read_text())
    edit(doc["columns"][0])  # the first key's [start hour, requests, successes, prompt, ...]
    path.write_text(json.dumps(doc))


CORRUPT = {
    "successes above requests": lambda col: col[2].__setitem__(0, col[1][0] + 4_000),
    "a negative count": lambda col: col[3].__setitem__(0, -4_000),
    "a bool for a count": lambda col: col[1].__setitem__(0, True),
    "a float for a count": lambda col: col[3].__setitem__(0, 100.0),
    "2**64 - 1": lambda col: col[3].__setitem__(0, 2**64 - 1),
    "a requests column of 999,999": lambda col: col[1].__setitem__(0, 999_999),
    "cache reads above the prompt": lambda col: col[5].__setitem__(0, col[3][0] + 1),
}


#: Run by default (the rest under ``-m slow``): a count of the wrong sign, of the wrong type,
#: and one that breaks a rule between columns.
_QUICK_DAMAGE = ("a negative count", "a float for a count", "successes above requests")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(d, marks=[] if d in _QUICK_DAMAGE else [pytest.mark.slow])
        for d in sorted(CORRUPT)
    ],
)
def test_a_damaged_month_file_is_read_around_said_and_rewritten(
    tmp_path: Path, damage: str
) -> None:
    log_dir = tmp_path / "logs"
    log(log_dir, 300, 0)
    corrupt_month(log_dir, CORRUPT[damage])
    totals, err = summary(log_dir)
    assert (totals["total_requests"], totals["total_prompt_tokens"]) == fold(log_dir)
    assert totals["failed_requests"] == 0
    assert f"{MONTH_FILE} failed its checks" in err and err.count("\n") == 1
    log(log_dir, 1, 300)  # the next writer rebuilds the stats from the lines, and says so
    assert read_stats(log_dir)["total_requests"] == 301
    assert "failed its checks" in (log_dir / "token_debug.log").read_text()
    totals, err = summary(log_dir)
    assert (totals["total_requests"], err) == (301, "")


def test_a_key_called_hours_apart_is_kept_in_entries_without_the_hours_between(
    tmp_path: Path,
) -> None:
    """Stats grow with the calls, not with keys x hours: one call a day for a month under
    each of 40 labels is 40 x 30 one-hour entries, and every report still equals the lines."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    for day in range(30):
        for customer in range(40):
            ts = dt.datetime(2026, 11, 1 + day, 12, tzinfo=dt.UTC)
            tracker.log(100 + customer, 10, "openai", "gpt-4o", ts=ts,
                        labels={"customer": f"c{customer:02d}"})  # fmt: skip
    assert tracker.close()
    doc = json.loads((log_dir / "token_stats_2026-11.labels.json").read_text())
    assert len(doc["keys"]) == 40 * 30
    assert {len(col[1]) for col in doc["columns"]} == {1}  # no hour of zeros stored
    # and the month file has the same cells without their labels: one key, an entry a day
    doc = json.loads((log_dir / MONTH_FILE).read_text())
    assert [key[4] for key in doc["keys"]] == [""] * 30
    assert (log_dir / QUARTERS_FILE).stat().st_size == 12 + (40 * 30 + 30) * 16 * 8
    totals, err = summary(log_dir)
    assert (totals["total_requests"], totals["total_prompt_tokens"], err) == (
        1200, 30 * sum(100 + c for c in range(40)), "")  # fmt: skip


@pytest.mark.parametrize("damage", ["entries out of order", "an entry over the last one's hours",
                                    "keys out of order"])  # fmt: skip
def test_entries_out_of_order_or_over_each_other_are_damage(tmp_path: Path, damage: str) -> None:
    """A key's entries must follow each other, each after the last one's hours, and keys in
    order: else an hour could be counted under two entries or taken from the wrong one.
    Each edit keeps the month's totals, so only these checks can see it."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    for day in range(6):
        for model in ("gpt-4o", "o3"):
            ts = dt.datetime(2026, 11, 1 + day, 12, tzinfo=dt.UTC)
            tracker.log(100 + day, 10, "openai", model, ts=ts)
    assert tracker.close()
    path = log_dir / MONTH_FILE
    doc = json.loads(path.read_text())
    keys, columns = doc["keys"], doc["columns"]
    assert len(columns) == 12  # a one-hour entry a day for each model
    if damage == "entries out of order":
        columns[0], columns[1] = columns[1], columns[0]
    elif damage == "an entry over the last one's hours":
        columns[1][0] = columns[0][0]
    else:  # one model's entries, then the other's, interleaved: each model's still in order
        order = [i for pair in zip(range(6), range(6, 12), strict=True) for i in pair]
        doc["keys"], doc["columns"] = [keys[i] for i in order], [columns[i] for i in order]
    path.write_text(json.dumps(doc))
    totals, err = summary(log_dir)
    assert (totals["total_requests"], totals["total_prompt_tokens"]) == fold(log_dir)
    assert f"{MONTH_FILE} failed its checks" in err


def test_a_report_by_no_label_reads_the_cells_without_labels(tmp_path: Path) -> None:
    """A label of many values multiplies the cells (13x the time of every report with 50
    customers): the month file keeps the cells without labels, the labels file those with
    them, which only a report by or filtered on a label reads. Shown by a month file edited
    to name the model differently from its labels file, both with the same totals."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir, host="h")
    for customer in ("acme", "initech"):
        for hour in (1, 9, 17):
            ts = dt.datetime(2026, 11, 3, hour, 40, tzinfo=dt.UTC)
            tracker.log(1000, 10, "openai", "gpt-4o", ts=ts, labels={"customer": customer})
    assert tracker.close()
    path = log_dir / MONTH_FILE
    doc = json.loads(path.read_text())
    for key in doc["keys"]:
        key[1] = "gpt-4o (plain)"
    path.write_text(json.dumps(doc))
    models = cli_json(log_dir, "models")
    assert {name: row["total_requests"] for name, row in models["rows"].items()} == {
        "gpt-4o (plain)": 6}  # fmt: skip
    # from the labels file's hours: a range of whole UTC days would read the totals
    # (tests/test_month_totals.py), which this edit makes disagree
    until = ("--until", "2026-11-03T23:00:00+00:00")  # within the day of the calls
    by_customer = cli_json(log_dir, "summary", "--by", "customer", "--by", "model", *until)
    assert {c: {m: r["total_requests"] for m, r in row["breakdown"].items()}
            for c, row in by_customer["rows"].items()} == {
        "acme": {"gpt-4o": 3}, "initech": {"gpt-4o": 3}}  # fmt: skip
    only_acme = cli_json(log_dir, "models", "--where", "customer=acme", *until)
    assert list(only_acme["rows"]) == ["gpt-4o"]
    # Asia/Kolkata cuts each hour at :30: its early counters come from the same block
    kolkata = cli_json(log_dir, "daily", "--timezone", "Asia/Kolkata")
    assert kolkata["rows"]["2026-11-03"]["total_requests"] == 6
    # cells that do not sum to the month's totals are damage: the lines decide
    doc["columns"][0][1][0] += 1
    path.write_text(json.dumps(doc))
    models = cli_json(log_dir, "models", said="failed its checks")
    assert {name: row["total_requests"] for name, row in models["rows"].items()} == {"gpt-4o": 6}
    # and a labels file of another update, or gone, is damage to the reports by label
    labels = log_dir / "token_stats_2026-11.labels.json"
    other = json.loads(labels.read_text())
    other["quarters"] = "00" * 8
    labels.write_text(json.dumps(other))
    rows = cli_json(
        log_dir, "daily", "--by", "customer", "--timezone", "Asia/Kolkata", said="failed its checks"
    )["rows"]["2026-11-03"]["breakdown"]
    assert {c: row["total_requests"] for c, row in rows.items()} == {"acme": 3, "initech": 3}


@pytest.mark.parametrize("bad", [-5, 2**64 - 1, True, "12"])
def test_a_damaged_index_is_rebuilt_for_the_writers_own_summary(tmp_path: Path, bad: Any) -> None:
    log_dir = tmp_path / "logs"
    log(log_dir, 200, 0)
    index = json.loads((log_dir / "token_stats.json").read_text())
    index["months"]["2026-11"]["rows"]["model"]["gpt-4o"][0] = bad
    (log_dir / "token_stats.json").write_text(json.dumps(index))
    tracker = TokenTracker(log_dir)
    assert tracker.get_summary()["total_requests"] == 200
    tracker.log(1, 1, "openai", "gpt-4o", ts=DAY)
    assert tracker.close() is True
    assert read_stats(log_dir)["total_requests"] == 201
    assert "token_stats.json failed its checks" in (log_dir / "token_debug.log").read_text()


def test_a_directory_in_place_of_the_index_makes_reports_read_the_lines(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log(log_dir, 50, 0)
    (log_dir / "token_stats.json").unlink()
    (log_dir / "token_stats.json").mkdir()
    totals, err = summary(log_dir)
    assert (totals["total_requests"], totals["total_prompt_tokens"]) == fold(log_dir)
    assert "token_stats.json failed its checks" in err


def test_todays_file_moved_away_while_the_writer_runs_is_counted_as_it_now_is(
    tmp_path: Path,
) -> None:
    """Reports and the stats count the file under the name now, from its first byte: the
    old file's offset is never applied to the new one."""
    log_dir = tmp_path / "logs"
    tracker = TokenTracker(log_dir)
    for i in range(500):
        tracker.log(10, 1, "openai", "gpt-4o", ts=DAY + dt.timedelta(seconds=i))
    assert tracker.flush_sync() is True
    (log_dir / "tokens_2026-11-20.jsonl").rename(tmp_path / "shipped.jsonl")
    for i in range(600):
        tracker.log(100, 1, "openai", "gpt-4o", ts=DAY + dt.timedelta(seconds=600 + i))
    assert tracker.close() is True
    assert fold(log_dir) == (600, 60_000)
    totals, err = summary(log_dir)
    assert (totals["total_requests"], totals["total_prompt_tokens"], err) == (600, 60_000, "")
    assert read_stats(log_dir)["total_prompt_tokens"] == 60_000


# A second update over two months renames five files: November's quarters and month file,
# December's, then the index. A real SIGKILL lands before the first and after each.
KILL_SCRIPT = """
import datetime as dt, os, signal, sys
from asynctokens import TokenTracker
from asynctokens.record import _files

kill_after = int(sys.argv[1])
nov, dec = dt.datetime(2026, 11, 30, 23, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, 1, tzinfo=dt.UTC)
first = TokenTracker("logs")
for i in range(1_500):
    first.log(100 + i % 7, 10, "openai", "gpt-4o", ts=nov + dt.timedelta(seconds=i))
assert first.close() is True

renames = 0
real_commit = _files.commit_temp

def rename_then_maybe_die(written, path):
    global renames
    if renames == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
    real_commit(written, path)
    renames += 1

_files.commit_temp = rename_then_maybe_die
second = TokenTracker("logs")
for i in range(500):
    second.log(100 + i % 7, 10, "openai", "gpt-4o", ts=nov + dt.timedelta(seconds=1_800 + i))
    second.log(200 + i % 5, 10, "openai", "gpt-4o", ts=dec + dt.timedelta(seconds=i))
second.close()
print("no kill", renames)
"""


@pytest.mark.parametrize(
    "kill_after",
    [pytest.param(k, marks=[] if k in (2, 4) else [pytest.mark.slow]) for k in range(6)],
)
def test_a_sigkill_at_any_point_of_a_stats_update_never_counts_a_line_twice(
    tmp_path: Path, kill_after: int
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(kill_after)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if kill_after < 5:
        assert result.returncode == -9, result.stdout + result.stderr
    else:  # five renames, then the update is done and the writer closes
        assert (result.returncode, result.stdout) == (0, "no kill 5\n"), result.stderr
    log_dir = tmp_path / "logs"
    november = 2_000 * 100 + sum(i % 7 for i in range(1_500)) + sum(i % 7 for i in range(500))
    expected = (2_500, november + 500 * 200 + sum(i % 5 for i in range(500)))
    assert fold(log_dir) == expected
    totals, err = summary(log_dir)
    assert (totals["total_requests"], totals["total_prompt_tokens"]) == expected
    if kill_after in (0, 5):  # before any rename, or after the last: nothing is apart
        assert err == ""
    else:  # November's files and the index are of two updates: not believed, and said
        assert "token_stats_2026-11" in err and "failed its checks" in err
    # the next writer saves the fold of the lines, whichever files the kill left
    log(log_dir, 1, 0)
    assert read_stats(log_dir)["total_requests"] == 2_501
    assert summary(log_dir)[0]["total_requests"] == 2_501


_UPDATING_WRITER = """
import sys, time
from asynctokens import TokenTracker
tracker = TokenTracker(sys.argv[1], stats_interval_s=0.02, flush_interval_s=0.005)
print("ready", flush=True)
i = 0
while i < 2_000_000:  # until the test kills it
    for _ in range(100):
        tracker.log(100, 10, "openai", "gpt-4o", labels={"customer": f"c{i % 30}"})
        i += 1
    time.sleep(0.005)
"""


@pytest.mark.slow  # 80 reports against a writer updating its stats 50 times a second
def test_reports_while_a_writer_renames_its_stats_files_never_call_them_damaged(
    tmp_path: Path,
) -> None:
    """A writer's update renames a month's files one at a time (quarters, labels, month,
    index): a report reading between two renames finds files of two updates. It reads
    again instead of saying they failed their checks (before: 1 report in 15 said so; then,
    under load, 1 in 200: an index rewritten in one clock tick looked unchanged)."""
    writer = subprocess.Popen([sys.executable, "-c", _UPDATING_WRITER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        time.sleep(0.5)
        said = 0
        for _ in range(40):  # counted, not timed: a loaded machine makes each report longer
            for args in (["summary"], ["summary", "--by", "customer"]):
                _out, err = cli_in_process(tmp_path, *args, "--json")
                said += "failed its checks" in err
        assert writer.poll() is None  # the writer updated its stats all along
        assert said == 0
    finally:
        writer.kill()
        writer.communicate()


def _rewriting_reads(tmp_path: Path, updates: int) -> tuple[Any, list[int]]:
    """A ``read_stats`` whose first ``updates`` reads each meet a writer's update that
    rewrites the index in place: the same inode, size and mtime, other bytes."""
    import os

    index = tmp_path / "token_stats.json"
    index.write_bytes(b'{"generation": 1}')
    stamp = index.stat().st_mtime_ns
    reads: list[int] = []

    def read_stats(report: Any) -> None:
        reads.append(1)
        if len(reads) <= updates:
            with index.open("r+b") as f:
                f.write(b'{"generation": %d}' % (len(reads) + 1))
            os.utime(index, ns=(stamp, stamp))
            report.stale_stats.append(str(tmp_path / "token_stats_2026-11.json"))
        return None

    return read_stats, reads


def test_an_index_rewritten_within_one_clock_tick_is_still_seen_as_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer updating 50 times a second can leave the index with the inode it freed, the
    same size and the same coarse mtime: only its bytes tell the update happened. A report
    whose reads keep meeting a writer's updates reads again, and says no damage."""
    from asynctokens.record._lines import ReadReport
    from asynctokens.stats import _plan

    monkeypatch.setattr(_plan, "STATS_SETTLE_S", 3600.0)  # counted reads, not a deadline
    read_stats, reads = _rewriting_reads(tmp_path, updates=3)
    report = ReadReport()
    _plan.settled([tmp_path], report, read_stats)
    assert len(reads) == 4 and report.stale_stats == []


def test_stats_still_rewritten_when_the_settle_time_runs_out_are_busy_not_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asynctokens.record._lines import ReadReport
    from asynctokens.stats import _plan

    monkeypatch.setattr(_plan, "STATS_SETTLE_S", -1.0)  # the first read ends the wait
    read_stats, reads = _rewriting_reads(tmp_path, updates=1)
    report = ReadReport()
    _plan.settled([tmp_path], report, read_stats)
    assert len(reads) == 1 and report.stale_stats == []


def test_a_report_reads_the_stats_files_as_they_were_when_it_began(tmp_path: Path) -> None:
    """What a writer renames over the stats files while a report reads them does not reach
    that read: its files are opened together first, one update's."""
    from asynctokens.stats._pinned import pinned, read_bytes

    index, month = tmp_path / "token_stats.json", tmp_path / "token_stats_2026-11.json"
    index.write_bytes(b"index 1")
    month.write_bytes(b"month 1")
    with pinned([tmp_path]):
        for path, data in ((month, b"month 2"), (index, b"index 2")):  # an update's renames
            (tmp_path / "next").write_bytes(data)
            (tmp_path / "next").replace(path)
        (tmp_path / "token_stats_2026-12.json").write_bytes(b"a month of the next update")
        assert (read_bytes(index), read_bytes(month)) == (b"index 1", b"month 1")
        with pytest.raises(FileNotFoundError):
            read_bytes(tmp_path / "token_stats_2026-12.json")
    assert (read_bytes(index), read_bytes(month)) == (b"index 2", b"month 2")
