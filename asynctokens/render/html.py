"""A self-contained HTML report: inline CSS and SVG, no script, no network, opens offline."""

from __future__ import annotations

import html
from typing import Any, Final

from asynctokens.render._numbers import count, literal, success_rate, usd

#: No script, no network, no form: a page of logged (untrusted) text can do nothing.
CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none';"
    " form-action 'none'"
)


def _text(value: object) -> str:
    """Outside text for HTML: control characters made visible, then escaped."""
    return html.escape(literal(value))


def _n(value: Any) -> str:
    return count(value) if isinstance(value, int) else _text(value)


def _table(title: str, label: str, rows: dict[str, dict[str, Any]]) -> str:
    head = (
        f"<tr><th>{html.escape(label)}</th><th>Input</th><th>Output</th><th>Total</th>"
        "<th>Cached</th><th>Requests</th><th>Success</th><th>Cost</th></tr>"
    )
    body = "".join(
        f"<tr><td>{_text(name)}</td><td>{_n(r['total_prompt_tokens'])}</td>"
        f"<td>{_n(r['total_completion_tokens'])}</td><td>{_n(r['total_tokens'])}</td>"
        f"<td>{_n(r['total_cached_tokens'])}</td><td>{_n(r['total_requests'])}</td>"
        f"<td>{success_rate(r)}</td>"
        f"<td>{usd(r['cost_usd'])}</td></tr>"
        for name, r in rows.items()
    )
    return f"<h2>{html.escape(title)}</h2><table>{head}{body}</table>"


def _chart(daily: dict[str, dict[str, Any]]) -> str:
    """Bars of total tokens per day, with the day's cost as a dot on its own scale."""
    if not daily:
        return "<p>No events in range.</p>"
    days = list(daily)
    width, height, pad = max(320, 28 * len(days)), 220, 40
    top_tokens = max(r["total_tokens"] for r in daily.values()) or 1
    costs = [r["cost_usd"] or 0.0 for r in daily.values()]
    top_cost = max(costs) or 1.0
    step = (width - 2 * pad) / len(days)
    parts = [
        f'<p class="legend">Bars: total tokens (tallest {top_tokens:,}). Red dots: cost'
        f" (highest ${top_cost:,.2f}). Hover a bar for its day.</p>",
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 60}"'
        f' role="img" aria-label="Daily tokens and cost">',
    ]
    for i, day in enumerate(days):
        row = daily[day]
        label = _text(day)  # a day comes from a line's ts: outside text
        x = pad + i * step
        bar = (height - 30) * row["total_tokens"] / top_tokens
        y = height - bar
        parts.append(
            f'<rect class="bar" x="{x + 2:.1f}" y="{y:.1f}" width="{max(1.0, step - 4):.1f}"'
            f' height="{bar:.1f}"><title>{label}: {row["total_tokens"]:,} tokens,'
            f" {usd(row['cost_usd'])}</title></rect>"
        )
        cy = height - (height - 30) * (costs[i] / top_cost)
        parts.append(f'<circle class="cost" cx="{x + step / 2:.1f}" cy="{cy:.1f}" r="3"/>')
        parts.append(
            f'<text x="{x + step / 2:.1f}" y="{height + 14}" class="day"'
            f' transform="rotate(45 {x + step / 2:.1f} {height + 14})">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render(report: dict[str, Any]) -> str:
    s = report["summary"]
    t = s["totals"]
    unpriced = (
        f"<p class='warn'>Unpriced models (cost shown as n/a):"
        f" {_text(', '.join(s['unpriced_models']))}</p>"
        if s["unpriced_models"]
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>asynctokens report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin-bottom:1.5em}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
th:first-child,td:first-child{{text-align:left}}
.bar{{fill:#4c78a8}} .cost{{fill:#e45756}} .day{{font-size:11px}} .legend{{font-size:13px}}
.warn{{color:#b00}}
</style></head><body>
<h1>Token usage</h1>
<p>{_text(report["log_dir"])} &middot; generated {_text(report["generated_at"])}
 &middot; prices: {_text(s["pricing"]["text"])}</p>
<table>
<tr><th>Input tokens</th><td id="input">{_n(t["total_prompt_tokens"])}</td></tr>
<tr><th>Output tokens</th><td id="output">{_n(t["total_completion_tokens"])}</td></tr>
<tr><th>Total tokens</th><td id="total">{_n(t["total_tokens"])}</td></tr>
<tr><th>Requests</th><td id="requests">{_n(t["total_requests"])}</td></tr>
<tr><th>Failed</th><td id="failed">{_n(t["failed_requests"])}</td></tr>
<tr><th>Cost</th><td id="cost">{usd(t["cost_usd"])}</td></tr>
</table>{unpriced}
<h2>Daily tokens and cost</h2>
{_chart(report["daily"])}
{_table("By model", "Model", report["by_model"])}
{_table("By provider", "Provider", report["by_api"])}
{_table("By day", "Day", report["daily"])}
</body></html>
"""
