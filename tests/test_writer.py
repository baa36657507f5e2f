"""The batch writer on its own: one bad record never costs the rest of its batch."""

from __future__ import annotations

from pathlib import Path

from asynctokens._event import build_record
from asynctokens._writer import BatchWriter
from tests.conftest import read_lines


def test_a_record_no_file_can_hold_is_skipped_alone_and_counted(tmp_path: Path) -> None:
    good = build_record(3, 2, "openai", "gpt-4o", True, None, 0, 0, 0, None, None, None, None,
                        1_767_225_600.0)  # fmt: skip
    beyond = (300_000_000_000 * 10**9, *good[1:])  # year 11476: only a bug gets it past the checks
    writer = BatchWriter(tmp_path, file_mode=0o600, dir_mode=0o700)
    writer.add_batch([good, beyond, good])
    assert writer.write_pending() == 2
    assert writer.rejected == 1
    lines = read_lines(tmp_path)
    assert [line["event_id"].rsplit("-", 1)[1] for line in lines] == ["0", "2"]
    debug = (tmp_path / "token_debug.log").read_text()
    assert "has a time no file can hold (300000000000000000000 ns)" in debug
