"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``, which
``.ci/run`` installs) renders it 400 px wide with no console error, the chart drawn."""

from __future__ import annotations

import datetime as dt
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import system_tool

from asynctokens import TokenTracker, cli

CHROMIUM, _needs_chromium = system_tool("chromium")
pytestmark = [pytest.mark.slow, _needs_chromium]

MODELS = (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("gemini", "gemini-2.5-flash"))


def shoot(page: Path, png: Path, width: int) -> list[str]:
    """Screenshot ``page`` at ``width`` px; return the console messages Chromium logged."""
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", f"--window-size={width},1000",
         f"--screenshot={png}", page.as_uri()],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert png.exists(), result.stderr[-2000:]
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture
def report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    tracker = TokenTracker(tmp_path / "logs")
    for day in range(1, 8):
        for i, (api, model) in enumerate(MODELS):
            tracker.log(10_000 * (i + 1), 2_000, api, model,
                        ts=dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC))  # fmt: skip
    tracker.log(5, 5, "x", "<script>alert(1)</script>", ts=dt.datetime(2026, 11, 7, tzinfo=dt.UTC))
    assert tracker.close()
    page = tmp_path / "report.html"
    argv = ["export", "--format", "html", "-o", str(page), "--log-dir", str(tmp_path / "logs")]
    assert cli.main(argv) == 0
    capsys.readouterr()
    return page


class _Svg(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fills: list[str] = []
        self.ticks: list[str] = []
        self._tick = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "rect":
            self.fills.append(a["fill"] or "")
        self._tick = tag == "text" and a.get("class") == "tick"

    def handle_data(self, data: str) -> None:
        if self._tick:
            self.ticks.append(data)
            self._tick = False


def test_the_chart_has_a_value_axis_and_tokens_stacked_by_model(report: Path) -> None:
    svg = _Svg()
    svg.feed(report.read_text())
    # 66k tokens a day at most (32k + 22k + 12k): ticks every 10k up to 70k
    assert svg.ticks == ["0", "10k", "20k", "30k", "40k", "50k", "60k", "70k"]
    # 7 days x 3 models, largest first at the bottom, plus the 10-token call on the 7th
    assert len(svg.fills) == 22
    assert svg.fills[:3] == ["#4c78a8", "#f58518", "#54a24b"]


def test_chromium_renders_the_report_400_px_wide_without_console_errors(
    report: Path, tmp_path: Path
) -> None:
    from PIL import Image

    png = tmp_path / "shot.png"
    assert shoot(report, png, 400) == []
    with Image.open(png) as image:
        assert image.size == (400, 1000)
        colours = {rgb for _, rgb in image.convert("RGB").getcolors(400 * 1000) or []}
    # the three models' stacks are on the first screen, 400 px wide
    assert {(0x4C, 0x78, 0xA8), (0xF5, 0x85, 0x18), (0x54, 0xA2, 0x4B)} <= colours


def test_the_console_check_sees_what_the_csp_blocks(report: Path, tmp_path: Path) -> None:
    """The check above can fail: a script put into the page is blocked and logged."""
    page = tmp_path / "tampered.html"
    page.write_text(report.read_text().replace("<title>", "<script>1</script><title>"))
    messages = shoot(page, tmp_path / "tampered.png", 400)
    assert any("Content Security Policy" in m for m in messages)
