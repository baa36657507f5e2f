"""Safe by default: no full key on disk, owner-only files, symlinks handled as documented."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import read_stats

KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789wxyz"


def every_byte_written(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_no_file_ever_holds_more_than_the_last_four_characters_of_a_key(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    tracker.log(1, 1, api_key=KEY)
    tracker.log(1, 1, api_key=KEY, success=False, error_message="401 invalid key")
    tracker.close()
    data = every_byte_written(log_dir)
    assert data.count(b'"api_key_suffix":"wxyz"') == 2
    for size in range(5, len(KEY) + 1):  # no run of 5+ characters of the key, anywhere
        assert all(KEY[i : i + size].encode() not in data for i in range(len(KEY) - size + 1))


def test_directory_and_files_are_owner_only_whatever_the_umask(
    make_tracker: Any, log_dir: Path
) -> None:
    old = os.umask(0)
    try:
        tracker = make_tracker()
        tracker.log(1, 1)
        tracker.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in log_dir.iterdir()} == {
        name: 0o600 for name in (p.name for p in log_dir.iterdir())
    }


def test_symlinked_log_directory_is_followed(make_tracker: Any, tmp_path: Path) -> None:
    real = tmp_path / "volume"
    real.mkdir()
    link = tmp_path / "tokens"
    link.symlink_to(real, target_is_directory=True)
    tracker = make_tracker(log_dir=link)
    tracker.log(3, 4)
    tracker.close()
    assert len(list(real.glob("tokens_*.jsonl"))) == 1
    assert link.is_symlink()


def test_a_planted_symlink_in_place_of_a_daily_file_is_refused(
    make_tracker: Any, log_dir: Path, tmp_path: Path
) -> None:
    import datetime as dt

    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch\n")
    log_dir.mkdir(parents=True)
    (log_dir / "tokens_2026-01-02.jsonl").symlink_to(victim)
    tracker = make_tracker()
    tracker.log(1, 1, ts=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert tracker.flush_sync(timeout=0.5) is False
    while tracker.health().write_errors == 0:  # the worker's first attempt, however late
        time.sleep(0.01)
    closed = tracker.close(timeout=0.2)
    health = tracker.health()
    assert closed is False, health  # the event cannot be written there
    # and a close never claims success once a loss was said, whoever gave up first: the
    # waiter at its deadline, or the worker at the same deadline
    while tracker.health().state != "closed":  # the worker gives up too, however late
        time.sleep(0.01)
    assert tracker.close() is False
    assert victim.read_text() == "do not touch\n"
    assert health.last_error is not None and "Too many levels of symbolic links" in (
        health.last_error
    ), health  # (failed twice in a full run under load, never alone: the health says why)


def test_existing_file_permissions_are_left_as_the_user_set_them(
    make_tracker: Any, log_dir: Path
) -> None:
    import datetime as dt

    log_dir.mkdir(parents=True)
    existing = log_dir / "tokens_2026-01-03.jsonl"
    existing.write_text("")
    existing.chmod(0o640)  # e.g. readable by a log shipper's group
    tracker = make_tracker()
    tracker.log(1, 1, ts=dt.datetime(2026, 1, 3, tzinfo=dt.UTC))
    tracker.close()
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
    assert existing.read_text().count("\n") == 1


@pytest.mark.parametrize("field", ["prompt", "response", "messages", "content"])
def test_prompt_and_response_text_are_not_accepted(make_tracker: Any, field: str) -> None:
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{field}'"):
        make_tracker().log(1, 1, **{field: "secret text"})


def test_planted_symlinks_at_the_stats_temporaries_and_lock_are_never_followed(
    make_tracker: Any, log_dir: Path, tmp_path: Path
) -> None:
    """The names an earlier writer used for its temporaries (``.NAME.PID.tmp``) and the lock
    file, planted as symlinks by someone sharing the directory: no target is written or made."""
    import datetime as dt
    import os

    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch\n")
    log_dir.mkdir(parents=True)
    for name in ("token_stats.json", "token_stats_2026-01.json", "token_stats_2026-01.quarters"):
        (log_dir / f".{name}.{os.getpid()}.tmp").symlink_to(victim)
    made_by_lock = tmp_path / "made-by-the-lock"
    (log_dir / ".token_stats.lock").symlink_to(made_by_lock)
    tracker = make_tracker()
    tracker.log(3, 2, "openai", "gpt-4o", ts=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert tracker.flush_sync() is False  # the line is written; the stats cannot be locked
    assert tracker.close() is True
    assert victim.read_text() == "do not touch\n"
    assert not made_by_lock.exists()
    health = tracker.health()
    assert health.stats_errors >= 1 and health.written == 1
    assert "Too many levels of symbolic links" in (log_dir / "token_debug.log").read_text()
    # the lock's symlink removed, the next writer's stats are right
    (log_dir / ".token_stats.lock").unlink()
    again = make_tracker()
    again.log(1, 1, "openai", "gpt-4o", ts=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert again.close() is True
    assert read_stats(log_dir)["total_requests"] == 2
    assert victim.read_text() == "do not touch\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file of another user needs root")
def test_a_daily_file_another_user_made_is_refused_and_said(
    make_tracker: Any, log_dir: Path
) -> None:
    import datetime as dt

    log_dir.mkdir(parents=True)
    planted = log_dir / "tokens_2026-01-04.jsonl"
    planted.write_text("")
    os.chown(planted, 12345, 12345)
    tracker = make_tracker()
    tracker.log(1, 1, ts=dt.datetime(2026, 1, 4, tzinfo=dt.UTC))
    assert tracker.close(timeout=0.5) is False  # the event is not written into that file
    assert planted.read_text() == ""
    last = tracker.health().last_error
    assert last is not None and "belongs to uid 12345" in last
