"""A self-contained HTML report: inline CSS and SVG, no script, no network, opens offline."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, Final

from asynctokens.render._numbers import (
    COLUMNS,
    compact,
    cost_cell,
    count,
    literal,
    success_rate,
    unknown_counts_note,
    usd_column,
)

#: No script, no network, no form: a page of logged (untrusted) text can do nothing.
CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none';"
    " form-action 'none'"
)


#: Below 600 px (a phone) each row of a breakdown is a card of "label  value" lines, so the
#: page never scrolls sideways (checked at 360 px in tests/test_browser.py).
_PHONE_CSS: Final = """@media (max-width:600px){
 table.rows,table.rows tbody,table.rows tr,table.rows td{display:block;box-sizing:border-box}
 table.rows thead{display:none}
 table.rows tr{border:1px solid #ccc;margin-bottom:8px}
 table.rows td{border:none;border-top:1px solid #eee;display:flex;
  justify-content:space-between;gap:1em}
 table.rows td:first-child{font-weight:bold;border-top:none;overflow-wrap:anywhere;
  white-space:normal}
 table.rows td::before{content:attr(data-label);color:#666;text-align:left}
 table.rows td:first-child::before{content:none}
}"""


def _text(value: object) -> str:
    """Outside text for HTML: control characters made visible, then escaped."""
    return html.escape(literal(value))


def _n(value: Any) -> str:
    return count(value) if isinstance(value, int) else _text(value)


def _cells(r: dict[str, Any], money: Callable[[float | None], str], unpriced: bool) -> list[str]:
    """A row's cells in ``terminal.COLUMNS`` order (and Unpriced when the report has any)."""
    return [
        _n(r["total_uncached_input_tokens"]),
        _n(r["total_cached_tokens"]),
        _n(r["total_cache_write_tokens"]),
        _n(r["total_completion_tokens"]),
        _n(r["total_reasoning_tokens"]),
        _n(r["total_tokens"]),
        _n(r["total_requests"]),
        success_rate(r),
        cost_cell(r, money),
        *([_n(r["unpriced_tokens"]) if r["unpriced_tokens"] else ""] if unpriced else []),
    ]


def _table(title: str, label: str, rows: dict[str, dict[str, Any]]) -> str:
    """One row per name. On a narrow screen (a phone) each row becomes a card of labelled
    values (``data-label``), so no number is off-screen behind a sideways scroll."""
    unpriced = any(r["unpriced_tokens"] for r in rows.values())
    columns = [label, *COLUMNS, *(["Unpriced"] if unpriced else [])]
    money = usd_column(r["cost_usd"] for r in rows.values())
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
    body = "".join(
        "<tr>"
        + "".join(
            f'<td data-label="{html.escape(c)}">{v}</td>'
            for c, v in zip(columns, [_text(name), *_cells(r, money, unpriced)], strict=True)
        )
        + "</tr>"
        for name, r in rows.items()
    )
    return (
        f'<h2>{html.escape(title)}</h2><div class="scroll"><table class="rows">'
        f"<thead>{head}</thead><tbody>{body}</tbody></table></div>"
    )


#: Colours of the largest models' stacks (Tableau 10); the rest share the last one.
_PALETTE: Final = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2",
                   "#eeca3b", "#9d755d")  # fmt: skip
_OTHER: Final = "other models"


def _axis_step(top: int) -> int:
    """The smallest round step (1, 2 or 5 times a power of ten) with at most 8 up to top."""
    magnitude = 1
    while True:
        for m in (1, 2, 5):
            if top <= 8 * m * magnitude:
                return m * magnitude
        magnitude *= 10


def _chart(by_day: dict[str, dict[str, int]]) -> str:
    """Tokens per day stacked by model, a value axis, and a legend; scales to any width."""
    if not by_day:
        return "<p>No events in range.</p>"
    totals: dict[str, int] = {}
    for models in by_day.values():
        for model, tokens in models.items():
            totals[model] = totals.get(model, 0) + tokens
    ranked = sorted(totals, key=lambda m: (-totals[m], m))
    named = ranked[: len(_PALETTE) - 1] if len(ranked) > len(_PALETTE) else ranked
    colour = {m: _PALETTE[i] for i, m in enumerate(named)}
    days = list(by_day)
    top = max(sum(models.values()) for models in by_day.values()) or 1
    step = _axis_step(top)
    axis_top = -(-top // step) * step
    # a plot 360 units wide (6 per day past 60 days): on a 400-px screen one unit is about
    # one pixel, so 11-unit text stays readable; wider screens scale it up
    left, plot_h, base = 46, 200, 220
    slot = max(360, 6 * len(days)) / len(days)
    width = left + slot * len(days) + 48  # room for the last day's slanted label
    every = -(-70 // int(slot)) if slot < 70 else 1  # a label per 70 units at most
    scale = plot_h / axis_top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {base + 60}"'
        f' role="img" aria-label="Tokens per day, stacked by model">'
    ]
    for tick in range(0, axis_top + 1, step):
        y = base - tick * scale
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width:.0f}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}">{compact(tick)}</text>'
        )
    for i, day in enumerate(days):
        x = left + i * slot
        y = float(base)
        stack = sorted(by_day[day].items(), key=lambda mt: ranked.index(mt[0]))
        for model, tokens in stack:
            if not tokens:
                continue
            h = tokens * scale
            y -= h
            shown = model if model in colour else _OTHER
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.2f}" width="{max(1.0, slot - 2):.1f}"'
                f' height="{h:.2f}" fill="{colour.get(model, _PALETTE[-1])}"><title>'
                f"{_text(day)} {_text(shown if shown == _OTHER else model)}:"
                f" {count(tokens)} tokens</title></rect>"
            )
        if i % every == 0:  # a day comes from a line's ts: outside text, escaped
            cx = x + slot / 2
            parts.append(
                f'<text class="day" x="{cx:.1f}" y="{base + 14}"'
                f' transform="rotate(40 {cx:.1f} {base + 14})">{_text(day)}</text>'
            )
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{base - plot_h}" y2="{base}"/>')
    parts.append("</svg>")
    legend = [(m, colour[m]) for m in named]
    if len(ranked) > len(named):
        legend.append((_OTHER, _PALETTE[-1]))
    items = "".join(
        f'<li><span class="swatch" style="background:{c}"></span>{_text(m)}</li>' for m, c in legend
    )
    return f'<div class="chart">{"".join(parts)}</div><ul class="legend">{items}</ul>'


def render(report: dict[str, Any]) -> str:
    s = report["summary"]
    t = s["totals"]
    unpriced = (
        "<p class='warn'>* Costs are those of the priced tokens; no price for: "
        + _text(
            ", ".join(f"{m} ({count(n)} tokens)" for m, n in s["unpriced_tokens_by_model"].items())
        )
        + ". Pass --pricing FILE to price them.</p>"
        if s["unpriced_models"]
        else ""
    )
    unknown = t["requests_with_unknown_counts"]
    if unknown:
        unpriced += f"<p class='warn' id='counts-unknown'>{unknown_counts_note(unknown)}.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>asynctokens report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1em auto;padding:0 1em;max-width:1100px;color:#222}}
p{{overflow-wrap:anywhere}}
.scroll{{overflow-x:auto;margin-bottom:1.5em}}
table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}}
th:first-child,td:first-child{{text-align:left}}
.chart svg{{width:100%;height:auto;max-height:420px}}
.grid{{stroke:#ddd}} .axis{{stroke:#444}}
.tick{{font-size:11px;text-anchor:end;fill:#444}} .day{{font-size:11px;fill:#444}}
.legend{{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px}}
.swatch{{display:inline-block;width:10px;height:10px;margin-right:4px}}
.warn{{color:#b00}}
.sub{{font-weight:normal;padding-left:1.5em}}
{_PHONE_CSS}
</style></head><body>
<h1>Token usage</h1>
<p>{_text(report["log_dir"])} &middot; generated {_text(report["generated_at"])}
 &middot; prices: {_text(s["pricing"]["text"])}</p>
<div class="scroll"><table>
<tr><th>Input tokens (all)</th><td id="input">{_n(t["total_prompt_tokens"])}</td></tr>
<tr><th class="sub">uncached</th><td id="uncached">{_n(t["total_uncached_input_tokens"])}</td></tr>
<tr><th class="sub">cache read</th><td id="cache-read">{_n(t["total_cached_tokens"])}</td></tr>
<tr><th class="sub">cache write</th>
<td id="cache-write">{_n(t["total_cache_write_tokens"])}</td></tr>
<tr><th>Output tokens (all)</th><td id="output">{_n(t["total_completion_tokens"])}</td></tr>
<tr><th class="sub">reasoning</th><td id="reasoning">{_n(t["total_reasoning_tokens"])}</td></tr>
<tr><th>Total tokens</th><td id="total">{_n(t["total_tokens"])}</td></tr>
<tr><th>Requests</th><td id="requests">{_n(t["total_requests"])}</td></tr>
<tr><th>Failed</th><td id="failed">{_n(t["failed_requests"])}</td></tr>
<tr><th>Cost</th><td id="cost">{cost_cell(t)}</td></tr>
<tr><th>Unpriced tokens</th><td id="unpriced">{_n(t["unpriced_tokens"])}</td></tr>
</table></div>{unpriced}
<h2>Tokens per day, by model</h2>
{_chart(report["daily_by_model"])}
{_table("By model", "Model", report["by_model"])}
{_table("By provider", "Provider", report["by_api"])}
{"".join(_table(f"By {name}", name, rows) for name, rows in report.get("by", {}).items())}
{_table("By day", "Day", report["daily"])}
</body></html>
"""
