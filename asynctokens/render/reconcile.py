"""``asynctokens reconcile`` on a terminal: per UTC day and model, each measure as logged and
as the provider reports it, the worst difference, the verdict, and under the table the
causes of each row outside the tolerance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from asynctokens.render._numbers import count, literal, usd_column

_LABELS = {
    "requests": "Requests",
    "fresh_input": "Fresh input",
    "cache_read": "Cache read",
    "cache_write": "Cache write",
    "output": "Output",
    "cost_usd": "Cost",
}


Money = Callable[[float | None], str]


def _cell(measure: dict[str, Any] | None, name: str, money: Money) -> str:
    if measure is None:
        return ""
    a, b = measure["logged"], measure["provider"]
    left, right = _show(a, name, money), _show(b, name, money)
    return left if a == b else f"{left} / {right}"


def _show(value: float | None, name: str, money: Money) -> str:
    if value is None:
        return "n/a"
    return money(value) if name == "cost_usd" else count(int(value))


def _worst(row: dict[str, Any]) -> str:
    pcts = [m["pct"] for m in row["measures"].values() if m["pct"] is not None]
    if not pcts:
        return ""
    worst = max(pcts, key=abs)
    return f"{worst:+.2f}%"


def table(report: dict[str, Any], out: Console) -> None:
    names = [n for n in _LABELS if any(n in r["measures"] for r in report["rows"])]
    title = (
        f"{report['provider']}: logged / provider, {report['since']} to {report['until']}"
        f" (UTC days), tolerance {report['tolerance_pct']:g}%"
    )
    costs = [
        r["measures"]["cost_usd"][side]
        for r in report["rows"]
        if "cost_usd" in r["measures"]
        for side in ("logged", "provider")
    ]
    money = usd_column(costs)  # one format for the column: $0.01 above $0.0002 misleads
    grid = Table(title=title, title_justify="left")
    grid.add_column("Day", no_wrap=True)
    grid.add_column("Model", no_wrap=True)
    for n in names:
        grid.add_column(_LABELS[n], justify="right")
    grid.add_column("Worst", justify="right")
    grid.add_column("Verdict")
    for row in report["rows"]:
        grid.add_row(
            row["day"],
            literal(row["model"]),
            *(_cell(row["measures"].get(n), n, money) for n in names),
            _worst(row),
            row["verdict"],
        )
    out.print(grid)
    outside = [r for r in report["rows"] if r["verdict"] != "ok"]
    for row in outside:
        for cause in row["causes"]:
            out.print(f"{row['day']} {literal(row['model'])}: {cause}")
    total = len(report["rows"])
    if not total:
        out.print("Neither the logs nor the provider have calls in these days.")
    elif outside:
        out.print(f"{len(outside)} of {total} rows outside {report['tolerance_pct']:g}%.")
    else:
        out.print(f"All {total} rows within {report['tolerance_pct']:g}%.")
    if report["unpriced_models"]:
        names_ = ", ".join(literal(m) for m in report["unpriced_models"])
        out.print(f"No price for {names_}: their logged cost is n/a, not compared.")
