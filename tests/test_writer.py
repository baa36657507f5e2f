"""The batch writer on its own: one bad record never costs the rest of its batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from asynctokens.record._event import build_record, key_suffix
from asynctokens.writer._batch import BatchWriter
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


def test_the_line_template_writes_what_orjson_writes_for_the_dict_byte_for_byte(
    tmp_path: Path,
) -> None:
    import random

    rng = random.Random(7)
    latencies = [None, 0.0, 1e-4, 5.0, 812.5, 0.1, 1e16 * 0.999, 1e-5, 1e16, 2.5e17]
    latencies += [rng.random() * 10 ** rng.uniform(-6, 18) for _ in range(300)]
    texts = [None, "req_1", 'q"uote\\back', "é中😀", "tab\tnew\nline\x00", "</script>"]
    records = []
    for i, latency in enumerate(latencies):
        error = texts[i % len(texts)]
        records.append(build_record(
            i + 10, 3, "openai", 'gpt-"4o"', error is None, error, 2, 1, 1, latency,
            None if i % 3 else f"sk-{texts[(i + 1) % len(texts)]}-00000000000{i % 10}",
            texts[(i + 2) % len(texts)], None, 1_767_225_600.0 + i,
        ))  # fmt: skip
    writer = BatchWriter(tmp_path, file_mode=0o600, dir_mode=0o700)
    writer.add_batch(records)
    writer.write_pending()
    raw = b"".join(path.read_bytes() for path in sorted(tmp_path.glob("tokens_*.jsonl")))
    lines = raw.splitlines(keepends=True)
    assert len(lines) == len(records)
    for line, record in zip(lines, records, strict=True):
        written = orjson.loads(line)
        expected = {
            "event_id": written["event_id"], "ts": written["ts"], "api_type": record[3],
            "model": record[4], "prompt_tokens": record[1], "completion_tokens": record[2],
            "total_tokens": record[1] + record[2], "cached_tokens": record[7],
            "cache_write_tokens": record[8], "reasoning_tokens": record[9],
            "success": record[5], "error_message": record[6], "latency_ms": record[10],
            "api_key_suffix": key_suffix(record[11]), "request_id": record[12], "metadata": {},
            "pid": written["pid"],
        }  # fmt: skip
        assert line == orjson.dumps(expected, option=orjson.OPT_APPEND_NEWLINE)


def test_realistic_records_take_the_template_not_the_dict_path(
    tmp_path: Path, monkeypatch: Any
) -> None:
    dict_path: list[object] = []
    real = BatchWriter._encode

    def spy(self: BatchWriter, event: dict[str, object]) -> str | None:
        dict_path.append(event["event_id"])
        return real(self, event)

    monkeypatch.setattr(BatchWriter, "_encode", spy)
    writer = BatchWriter(tmp_path, file_mode=0o600, dir_mode=0o700)
    realistic = build_record(1200, 300, "openai", "gpt-4o", True, None, 1024, 0, 128, 812.5,
                             "sk-test-0000000000000000abcd", "req_1", None, None)  # fmt: skip
    failed = build_record(0, 0, "gemini", "gemini-2.5-flash", False, "429 quota exceeded",
                          0, 0, 0, 95.0, None, None, None, None)  # fmt: skip
    with_metadata = build_record(1, 1, "openai", "gpt-4o", True, None, 0, 0, 0, None, None,
                                 None, {"job": 7}, None)  # fmt: skip
    writer.add_batch([realistic, failed, with_metadata])
    assert len(dict_path) == 1  # only the record with metadata
    assert writer.write_pending() == 3


def test_a_bare_record_writes_the_line_of_the_full_record_with_defaults(tmp_path: Path) -> None:
    """The bare call queues 5 values; its line is the checked path's, field for field."""
    full = build_record(120, 30, "openai", "gpt-4o", True, None, 0, 0, 0, None, None, None, None,
                        1_767_225_600.5)  # fmt: skip
    bare = full[:5]
    assert len(bare) == 5
    writer = BatchWriter(tmp_path, file_mode=0o600, dir_mode=0o700, host="h1")
    writer.add_batch([full, bare])
    assert writer.write_pending() == 2
    (path,) = tmp_path.glob("tokens_*.jsonl")
    first, second = path.read_bytes().splitlines()
    # the same bytes but for the event id's counter
    assert first.replace(b'-0"', b'-N"') == second.replace(b'-1"', b'-N"')
    pid = str(writer.pid).encode()
    assert first.endswith(b'"total_tokens":150,"cached_tokens":0,"cache_write_tokens":0,'
                          b'"reasoning_tokens":0,"success":true,"error_message":null,'
                          b'"latency_ms":null,"api_key_suffix":null,"request_id":null,'
                          b'"metadata":{},"pid":' + pid + b',"host":"h1"}')  # fmt: skip


def call_at(ts: float, model: str) -> Any:
    return build_record(5, 1, "openai", model, True, None, 0, 0, 0, None, None, None, None, ts)


def test_the_writer_says_which_bytes_hold_each_hours_lines(tmp_path: Path) -> None:
    """The stats' spans from the writer's own appends: exact byte ranges, non-ASCII too."""
    at = 1_767_261_600.0  # 2026-01-01T10:00:00Z
    hours = [0, 0, 1, 1, 0, 2]  # an hour's turn, a late line of hour 10, then hour 12
    models = ["gpt-4o", "modèle-é"]
    records = [call_at(at + 3600 * h + i, models[i % 2]) for i, h in enumerate(hours)]
    writer = BatchWriter(tmp_path, file_mode=0o600, dir_mode=0o700)
    writer.add_batch(records)
    assert writer.write_pending() == 6
    writer.update_stats()  # from what it appended: nothing is read back
    month = orjson.loads((tmp_path / "token_stats_2026-01.json").read_bytes())
    data = (tmp_path / "tokens_2026-01-01.jsonl").read_bytes()
    ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    starts = [0, *ends[:-1]]
    assert month["spans"]["tokens_2026-01-01.jsonl"] == {
        "2026-01-01T10": [starts[0], ends[4]],  # lines 0, 1 and the late line 4
        "2026-01-01T11": [starts[2], ends[3]],
        "2026-01-01T12": [starts[5], ends[5]],
    }
