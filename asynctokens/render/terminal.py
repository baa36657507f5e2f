"""Reports as rich tables, into any ``Console``: the CLI's terminal, or a test's ``StringIO``.

Every cell of outside text goes through ``literal`` and the console is made with markup,
emoji codes and highlighting off (:func:`console`), so a model named ``llama-3[bold]`` or an
error quoting ``[/messages/0]`` is shown as it is.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from rich.bar import Bar
from rich.console import Console
from rich.table import Table

from asynctokens.render._numbers import count, latency, literal, per_million, success_rate, usd

_LABELS = {"model": "Model", "api": "Provider", "day": "Day", "month": "Month", "host": "Host"}


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
        ("Input tokens", count(t["total_prompt_tokens"])),
        ("  cached", count(t["total_cached_tokens"])),
        ("  cache write", count(t["total_cache_write_tokens"])),
        ("Output tokens", count(t["total_completion_tokens"])),
        ("  reasoning", count(t["total_reasoning_tokens"])),
        ("Total tokens", count(t["total_tokens"])),
        ("Requests", count(t["total_requests"])),
        ("Successful", count(t["successful_requests"])),
        ("Failed", count(t["failed_requests"])),
        ("Success rate", success_rate(t)),
        ("Cost (USD)", usd(t["cost_usd"])),
    ):
        table.add_row(label, value)
    out.print(table)
    _pricing_notes(report, out)
    out.print(f"Prices: {literal(report['pricing']['text'])}")


def _row_cells(name: str, r: dict[str, Any]) -> list[str]:
    return [
        name,
        count(r["total_prompt_tokens"]),
        count(r["total_completion_tokens"]),
        count(r["total_tokens"]),
        count(r["total_cached_tokens"]),
        count(r["total_requests"]),
        success_rate(r),
        usd(r["cost_usd"]),
    ]


def breakdown(report: dict[str, Any], out: Console, chart: str | None = None) -> None:
    """One row per model, provider, day or month; ``chart`` adds bars of tokens or cost."""
    rows = report["rows"]
    label = _LABELS[report["dimension"]]
    zone = f" ({literal(report['timezone'])})" if report["dimension"] in ("day", "month") else ""
    table = Table(title=f"Token usage by {label.lower()}{zone}", title_justify="left")
    table.add_column(label)
    for col in ("Input", "Output", "Total", "Cached", "Requests", "Success", "Cost"):
        table.add_column(col, justify="right")
    if chart:
        table.add_column(f"{chart} per {label.lower()}", min_width=30)
    key = "total_tokens" if chart == "tokens" else "cost_usd"
    top = max((r[key] or 0 for r in rows.values()), default=0) or 1
    for name, r in rows.items():
        bar = [Bar(size=top, begin=0, end=r[key] or 0, width=30)] if chart else []
        table.add_row(*_row_cells(literal(name), r), *bar)
    table.add_section()
    table.add_row(*_row_cells("Total", report["totals"]), *([""] if chart else []))
    out.print(table)
    _pricing_notes(report, out)


def recent(report: dict[str, Any], out: Console) -> None:
    table = Table(title="Recent calls (newest first)", title_justify="left")
    for col, justify in (
        ("Time (UTC)", "left"),
        ("Provider", "left"),
        ("Model", "left"),
        ("Input", "right"),
        ("Output", "right"),
        ("Cached", "right"),
        ("Latency ms", "right"),
        ("Status", "left"),
        ("Cost", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for e in report["events"]:
        status = "ok" if e["success"] else f"FAILED {literal(e.get('error_message') or '')}".strip()
        table.add_row(
            literal(e["ts"][:19].replace("T", " ")),
            literal(e["api_type"]),
            literal(e["model"]),
            count(e["prompt_tokens"]),
            count(e["completion_tokens"]),
            count(e["cached_tokens"]),
            latency(e.get("latency_ms")),
            status,
            usd(e["cost_usd"]),
        )
    out.print(table)


def prices(found: dict[str, dict[str, Any] | None], source: str, out: Console) -> None:
    """``asynctokens prices``: per model, its periods and tiers in USD per million tokens."""
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
    out.print(f"Prices: {literal(source)}")


def _pricing_notes(report: dict[str, Any], out: Console) -> None:
    if report["unpriced_models"]:
        names = ", ".join(
            f"{literal(m)} ({count(n)} tokens)" for m, n in report["unpriced_tokens"].items()
        )
        out.print(
            f"No price for: {names} (cost n/a; priced part {usd(report['priced_cost_usd'])})."
            " Pass --pricing FILE: LiteLLM's JSON or a .toml of your own (see the README).",
        )
    if report.get("upper_bound_models"):
        names = ", ".join(literal(m) for m in report["upper_bound_models"])
        out.print(
            f"Cost of {names} is an upper bound: the price changes by time of day, and these"
            " totals price each day at its highest rate; `export --format csv` prices each"
            " call at its own time.",
        )
