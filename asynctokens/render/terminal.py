"""Reports as rich tables, into any ``Console``: the CLI's terminal, or a test's ``StringIO``.

Every cell of outside text goes through ``literal`` and the console is made with markup,
emoji codes and highlighting off (:func:`console`), so a model named ``llama-3[bold]`` or an
error quoting ``[/messages/0]`` is shown as it is.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from rich.bar import Bar
from rich.console import Console
from rich.table import Table

from asynctokens.render._numbers import (
    COLUMNS,
    cost_cell,
    count,
    latency,
    literal,
    per_million,
    success_rate,
    unknown_counts_note,
    usd,
    usd_column,
)

_LABELS = {"model": "Model", "api": "Provider", "day": "Day", "week": "Week of",
           "month": "Month", "host": "Host", "response-model": "Served model",
           "service-tier": "Service tier"}  # fmt: skip


def _label(dimension: str) -> str:
    """A column heading: a report dimension's name, or a label key as it is."""
    return _LABELS.get(dimension) or dimension


def console(file: IO[str] | None = None, width: int | None = None) -> Console:
    """A console that shows text literally. Off a terminal, 160 columns unless ``COLUMNS``
    (or ``width``) says otherwise, so piped reports are not cut at rich's 80."""
    out = file or sys.stdout
    if width is None and not out.isatty() and not os.environ.get("COLUMNS"):
        width = 160
    return Console(
        file=out, width=width, highlight=False, soft_wrap=False, markup=False, emoji=False
    )


def summary(report: dict[str, Any], out: Console) -> None:
    t = report["totals"]
    table = Table(title="Token usage", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    for label, value in (
        ("Input tokens (all)", count(t["total_prompt_tokens"])),
        ("  uncached", count(t["total_uncached_input_tokens"])),
        ("  cache read", count(t["total_cached_tokens"])),
        ("  cache write", count(t["total_cache_write_tokens"])),
        ("Output tokens (all)", count(t["total_completion_tokens"])),
        ("  reasoning", count(t["total_reasoning_tokens"])),
        ("Total tokens", count(t["total_tokens"])),
        ("Requests", count(t["total_requests"])),
        ("Successful", count(t["successful_requests"])),
        ("Failed", count(t["failed_requests"])),
        ("Success rate", success_rate(t)),
        ("Cost (USD)", cost_cell(t)),
        *([("  unpriced tokens", count(t["unpriced_tokens"]))] if t["unpriced_tokens"] else []),
        *(
            [("Requests, counts unknown", count(t["requests_with_unknown_counts"]))]
            if t["requests_with_unknown_counts"]
            else []
        ),
    ):
        table.add_row(label, value)
    out.print(table)
    _pricing_notes(report, out)
    out.print(f"Prices: {literal(report['pricing']['text'])}")


def _row_cells(
    name: str, r: dict[str, Any], money: Callable[[float | None], str], unpriced: bool
) -> list[str]:
    return [
        name,
        count(r["total_uncached_input_tokens"]),
        count(r["total_cached_tokens"]),
        count(r["total_cache_write_tokens"]),
        count(r["total_completion_tokens"]),
        count(r["total_reasoning_tokens"]),
        count(r["total_tokens"]),
        count(r["total_requests"]),
        success_rate(r),
        cost_cell(r, money),
        *([count(r["unpriced_tokens"]) if r["unpriced_tokens"] else ""] if unpriced else []),
    ]


def breakdown(
    report: dict[str, Any], out: Console, chart: str | None = None, limit: int = 0
) -> None:
    """One row per model, provider, day or month; ``chart`` adds bars of tokens or cost.

    With ``limit`` (0: all), only the ``limit`` largest rows are shown, in their order, and
    one more row sums the others, saying how many they are and how to see them: 100,000
    fine-tune names take minutes to lay out and nobody reads them on a terminal.
    """
    rows, rest = _largest(report["rows"], limit)
    names = [report["dimension"], *report.get("by", ())]
    label = " / ".join(_label(n) for n in names)
    zone = (
        f" ({literal(report['timezone'])})"
        if report["dimension"] in ("day", "week", "month")
        else ""
    )
    week = f", weeks from {report['week_start'].title()}" if "week_start" in report else ""
    table = Table(
        title=f"Token usage by {literal(label).lower()}{zone}{week}", title_justify="left"
    )
    table.add_column(literal(label))
    unpriced = bool(report["totals"]["unpriced_tokens"])
    for col in (*COLUMNS, *(["Unpriced"] if unpriced else [])):
        # two-word headings on two lines: the numbers, not the headings, set the widths
        table.add_column(col.replace(" ", "\n", 1), justify="right")
    if chart:
        table.add_column(f"{chart} per {label.lower()}", min_width=30)
    key = "total_tokens" if chart == "tokens" else "cost_usd"
    top = max((r[key] for r in rows.values()), default=0) or 1
    money = usd_column([*(r["cost_usd"] for r in rows.values()), report["totals"]["cost_usd"]])
    for name, r in rows.items():
        bar = [Bar(size=top, begin=0, end=r[key], width=30)] if chart else []
        table.add_row(*_row_cells(literal(name), r, money, unpriced), *bar)
        _sub_rows(table, r, 1, money, unpriced, chart is not None)
    if rest is not None:
        label = f"{count(rest['rows'])} more (--limit 0 shows all)"
        table.add_row(*_row_cells(label, rest, money, unpriced), *([""] if chart else []))
    table.add_section()
    table.add_row(*_row_cells("Total", report["totals"], money, unpriced), *([""] if chart else []))
    out.print(table)
    _pricing_notes(report, out)


def _sub_rows(
    table: Table,
    parent: dict[str, Any],
    depth: int,
    money: Callable[[float | None], str],
    unpriced: bool,
    chart: bool,
) -> None:
    """A row's ``breakdown`` (``--by``), indented under it, and theirs under them."""
    for name, r in parent.get("breakdown", {}).items():
        cells = _row_cells("  " * depth + literal(name), r, money, unpriced)
        table.add_row(*cells, *([""] if chart else []), style="dim" if depth > 1 else None)
        _sub_rows(table, r, depth + 1, money, unpriced, chart)


def _largest(
    rows: dict[str, dict[str, Any]], limit: int
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """The ``limit`` rows with the highest cost, then tokens, and the sum of the others."""
    if not limit or len(rows) <= limit:
        return rows, None
    ranked = sorted(rows, key=lambda k: (rows[k]["cost_usd"] or 0.0, rows[k]["total_tokens"]))
    shown = set(ranked[-limit:])
    others = [r for k, r in rows.items() if k not in shown]
    rest: dict[str, Any] = {"rows": len(others)}
    for key, value in others[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            rest[key] = sum(r[key] or 0 for r in others)
    req = rest["total_requests"]
    rest["success_rate"] = round(100.0 * rest["successful_requests"] / req, 2) if req else 0.0
    return {k: r for k, r in rows.items() if k in shown}, rest


def recent(report: dict[str, Any], out: Console) -> None:
    """The last calls, newest first, their time in the report's zone."""
    zone = report.get("timezone") or "UTC"
    tz = _zone(zone)
    table = Table(title="Recent calls (newest first)", title_justify="left")
    for col, justify in (
        (f"Time ({literal(zone)})", "left"),
        ("Provider", "left"),
        ("Model", "left"),
        ("Input (all)", "right"),
        ("Output (all)", "right"),
        ("Cache read", "right"),
        ("Latency ms", "right"),
        ("Status", "left"),
        ("Cost", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    money = usd_column(e["cost_usd"] for e in report["events"])
    for e in report["events"]:
        status = "ok" if e["success"] else f"FAILED {literal(e.get('error_message') or '')}".strip()
        if e.get("counts_unknown") is True:
            status += " (counts unknown)"
        table.add_row(
            _local_time(e["ts"], tz),
            literal(e["api_type"]),
            literal(e["model"]),
            count(e["prompt_tokens"]),
            count(e["completion_tokens"]),
            count(e["cached_tokens"]),
            latency(e.get("latency_ms")),
            status,
            money(e["cost_usd"]),
        )
    out.print(table)


def _zone(name: str) -> _dt.tzinfo:
    from asynctokens.record._range import get_timezone

    return get_timezone(name)


def _local_time(ts: str, tz: _dt.tzinfo) -> str:
    """A line's ``ts`` in the report's zone, to the second; a ts no reader could parse (a
    hand-edited line) is shown as it is."""
    try:
        return _dt.datetime.fromisoformat(ts).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, TypeError):
        return literal(ts)


def prices(
    found: dict[str, dict[str, Any] | None],
    source: str,
    out: Console,
    tier_rules: Sequence[dict[str, Any]] = (),
) -> None:
    """``asynctokens prices``: per model, its periods and tiers in USD per million tokens;
    then the service-tier rules applied where genai-prices has no price for a tier."""
    for model, info in found.items():
        if info is None:
            out.print(
                f"{literal(model)}: no price (shown as n/a in reports). Pass --pricing FILE,"
                " or --api with the provider it is logged under.",
            )
            continue
        title = (
            f"{literal(model)}: {literal(info['provider'])} {literal(info['matched'])}, from"
            f" {literal(info['source'])} (USD per 1M tokens)"
        )
        table = Table(title=title, title_justify="left")
        for col in ("Period", "Prompt", "Input", "Cached input", "Cache write", "Output", ""):
            table.add_column(col, justify="left" if col in ("Period", "Prompt", "") else "right")
        in_force = [seg["tiers"] for seg in info["in_force"]]
        for period in info["periods"]:
            label = f"from {period['since']}" if period["since"] else "from the start"
            if period["utc_window"]:
                label = f"daily {period['utc_window']} UTC"
            mark = f"in force {info['date']}" if period["tiers"] in in_force else ""
            for i, tier in enumerate(period["tiers"]):
                table.add_row(
                    label if i == 0 else "",
                    f"> {count(tier['prompt_above'])}" if tier["prompt_above"] else "any",
                    per_million(tier["input"]),
                    per_million(tier["cached_input"], tier["input"]),
                    per_million(tier["cache_write"], tier["input"]),
                    per_million(tier["output"]),
                    mark if i == 0 else "",
                )
        out.print(table)
    if tier_rules:
        rules = Table(
            title="Service tiers genai-prices has no price for: the standard price times",
            title_justify="left",
        )
        for col in ("Provider", "Tier", "Times", "Rule", "Source (read on)"):
            rules.add_column(col, justify="right" if col == "Times" else "left")
        for r in tier_rules:
            rules.add_row(r["provider"], r["tier"], f"{r['multiplier']:g}", r["what"],
                          f"{r['source']} ({r['read_on']})")  # fmt: skip
        out.print(rules)
        out.print(
            "A tier with neither is unpriced (OpenAI scale, Anthropic priority: not billed per"
            " token at a published rate)."
        )
    out.print(f"Prices: {literal(source)}")


#: Unpriced models a note names, the largest first; the others are counted, not listed.
_NAMED_UNPRICED = 10


def _unpriced_names(tokens_by_model: dict[str, int]) -> str:
    ranked = sorted(tokens_by_model.items(), key=lambda item: -item[1])
    names = ", ".join(f"{literal(m)} ({count(n)} tokens)" for m, n in ranked[:_NAMED_UNPRICED])
    others = ranked[_NAMED_UNPRICED:]
    if others:
        names += (
            f" and {count(len(others))} more models ({count(sum(n for _, n in others))}"
            " tokens; --json lists them)"
        )
    return names


def _pricing_notes(report: dict[str, Any], out: Console) -> None:
    unknown = report["totals"]["requests_with_unknown_counts"]
    if unknown:
        out.print(f'{unknown_counts_note(unknown)} (`recent` marks them "counts unknown").')
    if report["unpriced_models"]:
        names = _unpriced_names(report["unpriced_tokens_by_model"])
        out.print(
            f"* The cost shown is that of the priced tokens ({usd(report['totals']['cost_usd'])}"
            f" in all); no price for: {names}. Pass --pricing FILE: LiteLLM's JSON or a .toml"
            " of your own (docs/pricing.md).",
        )
    if report.get("upper_bound_models"):
        names = ", ".join(literal(m) for m in report["upper_bound_models"])
        out.print(
            f"Cost of {names} is an upper bound: the price changes by time of day, and these"
            " totals price each day at its highest rate; `export --format csv` prices each"
            " call at its own time.",
        )
    stale = report["pricing"].get("stale")
    if stale:  # the prices lag the calls they price
        out.print(f"Note: {literal(stale)}")
