"""Text from the logs is data: shown literally in the terminal, escaped in HTML, never run."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import orjson
from test_cli import run_cli


def line(**fields: Any) -> bytes:
    event = {
        "event_id": "x-1", "ts": "2026-11-20T10:00:00.000000+00:00", "api_type": "openai",
        "model": "gpt-4o", "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
        "cached_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "success": True,
        "error_message": None, "latency_ms": 12.5, "api_key_suffix": None, "request_id": None,
        "metadata": {}, "pid": 1,
    }  # fmt: skip
    event.update(fields)
    return orjson.dumps(event) + b"\n"


def logs(tmp_path: Path, *lines: bytes, day: str = "2026-11-20") -> Path:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / f"tokens_{day}.jsonl").write_bytes(b"".join(lines))
    return log_dir


def test_provider_wording_and_markup_lookalikes_are_shown_as_they_are(tmp_path: Path) -> None:
    log_dir = logs(
        tmp_path,
        line(model="llama-3[bold red]-70b :smile:", api_type="local"),
        line(success=False, error_message="400 Invalid value at [/messages/0/content]"),
    )
    recent = run_cli("recent", "--log-dir", str(log_dir), env={"COLUMNS": "200"})
    assert recent.returncode == 0, recent.stderr
    assert "FAILED 400 Invalid value at [/messages/0/content]" in recent.stdout
    assert "llama-3[bold red]-70b :smile:" in recent.stdout
    models = run_cli("models", "--log-dir", str(log_dir))
    assert models.returncode == 0, models.stderr
    assert "│ llama-3[bold red]-70b :smile: │" in models.stdout


def test_control_characters_are_made_visible_and_never_reach_the_terminal(
    tmp_path: Path,
) -> None:
    log_dir = logs(
        tmp_path,
        line(model="evil\x1b]0;pwned\x07model", success=False,
             error_message="boom\x1b[2J\r\nnext\u202eline"),
    )  # fmt: skip
    for command in ("recent", "models", "summary"):
        result = run_cli(command, "--log-dir", str(log_dir), env={"COLUMNS": "200"})
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    recent = run_cli("recent", "--log-dir", str(log_dir), env={"COLUMNS": "200"}).stdout
    assert "evil\\x1b]0;pwned\\x07model" in recent
    assert "FAILED boom\\x1b[2J\\r\\nnext\\u202eline" in recent


def test_html_escapes_every_outside_text_and_forbids_scripts(tmp_path: Path) -> None:
    attack = "<script>alert(1)</script>"
    log_dir = logs(
        tmp_path,
        line(model=attack, api_type="<img src=x onerror=alert(2)>", success=False,
             error_message=attack),
        # a ts no parser reads: its day label comes from the text itself
        line(ts="<svg onload=alert(3)>xx", model="gpt-4o"),
    )  # fmt: skip
    out = tmp_path / "report.html"
    for extra in ([], ["--timezone", "Europe/Lisbon"]):
        result = run_cli("export", "--format", "html", "-o", str(out), "--log-dir", str(log_dir),
                         *extra)  # fmt: skip
        assert result.returncode == 0, result.stderr
        page = out.read_text()
        assert "<script" not in page and "<img" not in page and "<svg onload" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert (
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';'
            " style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">"
        ) in page


def test_exports_are_owner_only_like_the_logs(tmp_path: Path) -> None:
    log_dir = logs(tmp_path, line())
    for fmt in ("csv", "json", "html"):
        out = tmp_path / f"out.{fmt}"
        out.write_text("old")
        out.chmod(0o644)  # an existing file too: it now holds the logs' content
        result = run_cli("export", "--format", fmt, "-o", str(out), "--log-dir", str(log_dir))
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        assert out.read_text() != "old"


def test_version_and_columns(tmp_path: Path) -> None:
    version = run_cli("--version")
    assert (version.returncode, version.stdout) == (0, "asynctokens 0.1.0\n")
    log_dir = logs(tmp_path, line())
    narrow = run_cli("models", "--log-dir", str(log_dir), env={"COLUMNS": "70"})
    assert max(len(row) for row in narrow.stdout.splitlines()) <= 70
    wide = run_cli("models", "--log-dir", str(log_dir), env={"COLUMNS": ""})
    assert wide.returncode == 0
