"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``, which
``.ci/run`` installs) renders it 400 px wide with no console error, the chart drawn, and on a
360-px phone screen every number is on screen without sideways scrolling."""

from __future__ import annotations

import datetime as dt
import json
import re
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


def layout_at(page: Path, width: int) -> dict[str, object]:
    """Open ``page`` in Chromium emulating a phone ``width`` CSS px wide, and ask it (over
    the DevTools protocol, which the page's no-script CSP does not govern) how wide the page
    is and where each cell of the breakdown tables lies."""
    from websockets.sync.client import connect

    assert CHROMIUM is not None
    browser = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={page.parent / 'chromium-profile'}",
         "about:blank"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert browser.stderr is not None
        for line in browser.stderr:
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                break
        else:
            pytest.fail("chromium gave no DevTools address")
        port = found.group(1).split(":")[2].split("/")[0]
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as answer:
            target = next(t for t in json.load(answer) if t["type"] == "page")
        with connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            ids = iter(range(1, 1000))

            def call(method: str, **params: object) -> dict[str, object]:
                n = next(ids)
                ws.send(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    message = json.loads(ws.recv())
                    if message.get("id") == n:
                        assert "error" not in message, message
                        return message["result"]  # type: ignore[no-any-return]

            call("Emulation.setDeviceMetricsOverride", width=width, height=800,
                 deviceScaleFactor=1, mobile=True)  # fmt: skip
            call("Page.enable")
            call("Page.navigate", url=page.as_uri())
            while json.loads(ws.recv()).get("method") != "Page.loadEventFired":
                pass
            probe = """JSON.stringify({
                scrollWidth: document.documentElement.scrollWidth,
                cells: [...document.querySelectorAll("table.rows td")].map(td => {
                    const r = td.getBoundingClientRect();
                    const label = getComputedStyle(td, "::before").content;
                    return {text: td.innerText, label: label, left: r.left, right: r.right};
                })})"""
            result = call("Runtime.evaluate", expression=probe, returnByValue=True)
            shot = call("Page.captureScreenshot", captureBeyondViewport=True)
        import base64

        (page.parent / f"phone-{width}.png").write_bytes(base64.b64decode(str(shot["data"])))
        return json.loads(result["result"]["value"])  # type: ignore[index]
    finally:
        browser.kill()
        browser.wait()
        if browser.stderr is not None:
            browser.stderr.close()


def test_on_a_360_px_phone_every_number_is_on_screen_without_scrolling_sideways(
    report: Path,
) -> None:
    layout = layout_at(report, 360)
    assert layout["scrollWidth"] == 360  # nothing wider than the screen
    cells = layout["cells"]
    assert isinstance(cells, list) and len(cells) > 0
    # every cell (a model's name, its counts and cost) lies within the 360 px
    outside = [c for c in cells if c["left"] < 0 or c["right"] > 360]
    assert outside == []
    # claude-sonnet-4-5: 7 x (20,000 in at $3/M + 2,000 out at $15/M) = $0.63, labelled
    assert {"text": "$0.63", "label": '"Cost"'} in [
        {"text": c["text"], "label": c["label"]} for c in cells
    ]


def test_the_phone_check_fails_for_a_page_that_scrolls_sideways(
    report: Path, tmp_path: Path
) -> None:
    """The check above can fail: without the card layout the tables are wider than 360 px."""
    page = tmp_path / "no-cards.html"
    page.write_text(report.read_text().replace("(max-width:600px)", "(max-width:1px)"))
    layout = layout_at(page, 360)
    assert layout["scrollWidth"] == 360  # the table scrolls inside its box...
    cells = layout["cells"]
    assert isinstance(cells, list)
    assert any(c["right"] > 360 for c in cells)  # ...so its numbers are off-screen
