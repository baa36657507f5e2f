"""``label_keys``: the label keys the stats keep as report dimensions; reports by any other
key read the lines, and are as exact.

A label that carries an id (a request or user id) has as many values as calls: kept in the
stats, it would make them as large as the lines. A writer told ``label_keys=["customer"]``
keeps that key in its cells and leaves the others to the lines.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from asynctokens import TokenTracker, reader, summary

DAY = dt.datetime(2026, 11, 5, 9, tzinfo=dt.UTC)
MONTH_FILE = "token_stats_2026-11.json"
LABELS_FILE = "token_stats_2026-11.labels.json"


def log_calls(log_dir: Path, first: int, n: int, **options: object) -> None:
    tracker = TokenTracker(log_dir, host="h", **options)  # type: ignore[arg-type]
    for i in range(first, first + n):
        tracker.log(100 + i, 10, "openai", "gpt-4o", ts=DAY + dt.timedelta(minutes=i),
                    labels={"customer": f"c{i % 3}", "request": f"r{i}",
                            "feature": "search" if i % 2 else "chat"})  # fmt: skip
    assert tracker.close()


def requests_by(log_dir: Path, key: str) -> dict[str, int]:
    rows = summary.breakdown(summary.Query(log_dir=log_dir), key)["rows"]
    return {value: row["total_requests"] for value, row in rows.items()}


def lines_read(log_dir: Path, *keys: str) -> int:
    read = reader.ReadReport()
    reader.aggregate(log_dir, report=read, labels=frozenset(keys))
    return read.lines_read


def test_declared_keys_are_in_the_stats_the_others_read_from_the_lines(tmp_path: Path) -> None:
    log_calls(tmp_path, 0, 30, label_keys=["customer"])
    assert json.loads((tmp_path / MONTH_FILE).read_text())["label_keys"] == ["customer"]
    doc = json.loads((tmp_path / LABELS_FILE).read_text())
    assert {key[4] for key in doc["keys"]} == {f'{{"l":{{"customer":"c{i}"}}}}' for i in range(3)}
    assert requests_by(tmp_path, "customer") == {"c0": 10, "c1": 10, "c2": 10}
    assert lines_read(tmp_path, "customer") == 0  # from the stats
    assert requests_by(tmp_path, "request") == {f"r{i}": 1 for i in range(30)}
    assert lines_read(tmp_path, "request") == 30  # from the lines
    assert requests_by(tmp_path, "feature") == {"chat": 15, "search": 15}
    where = summary.summary(summary.Query(log_dir=tmp_path, where={"request": "r7"}))
    assert where["totals"]["total_prompt_tokens"] == 107


def test_a_key_one_writer_left_out_is_read_from_the_lines(tmp_path: Path) -> None:
    """Writers of one directory told different keys: the stats keep what all of them kept."""
    log_calls(tmp_path, 0, 20, label_keys=["customer", "feature"])
    log_calls(tmp_path, 20, 10, label_keys=["customer"])
    log_calls(tmp_path, 30, 10)  # every key: it adds none back
    doc = json.loads((tmp_path / MONTH_FILE).read_text())
    assert doc["label_keys"] == ["customer"]
    assert requests_by(tmp_path, "feature") == {"chat": 20, "search": 20}
    assert lines_read(tmp_path, "feature") == 40
    assert requests_by(tmp_path, "customer") == {"c0": 14, "c1": 13, "c2": 13}
    assert lines_read(tmp_path, "customer") == 0


def test_no_label_keys_keeps_no_label_and_reports_stay_exact(tmp_path: Path) -> None:
    log_calls(tmp_path, 0, 12, label_keys=[])
    doc = json.loads((tmp_path / MONTH_FILE).read_text())
    assert (doc["label_keys"], {key[4] for key in doc["keys"]}) == ([], {""})
    assert not (tmp_path / LABELS_FILE).exists()
    assert requests_by(tmp_path, "customer") == {"c0": 4, "c1": 4, "c2": 4}
    assert summary.summary(summary.Query(log_dir=tmp_path))["totals"]["total_requests"] == 12


@pytest.mark.parametrize("bad", ["customer", ["model"], ["bad key"], [1]])
def test_label_keys_that_are_no_label_keys_are_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match="label_keys must be a list of label keys"):
        TokenTracker(tmp_path, label_keys=bad)  # type: ignore[arg-type]
