"""Plain-text rendering of a summary dict, for ``TokenTracker.print_summary()``.

The writing side must not import the CLI (or rich), so it gets this small fixed-width table;
the ``asynctokens`` command renders the same numbers with rich.
"""

from __future__ import annotations

from typing import Any, Final

from asynctokens.render._numbers import cost_cell, literal, success_rate, usd_column
from asynctokens.render._numbers import count as _n

_NO_COST: Final = {"cost_usd": None}


def render_summary(summary: dict[str, Any], costs: dict[str, Any] | None = None) -> str:
    """The counts of ``get_summary()`` and, from ``costs`` (``summary.costs``), what they
    cost: the priced part, ``*`` where some tokens have no price, n/a when unknown."""
    total_cost = costs["totals"] if costs else _NO_COST
    lines = [
        "Token usage",
        f"  Input tokens     {_n(summary['total_prompt_tokens']):>14}",
        f"    cache read     {_n(summary['total_cached_tokens']):>14}",
        f"    cache write    {_n(summary['total_cache_write_tokens']):>14}",
        f"  Output tokens    {_n(summary['total_completion_tokens']):>14}",
        f"    reasoning      {_n(summary['total_reasoning_tokens']):>14}",
        f"  Total tokens     {_n(summary['total_tokens']):>14}",
        f"  Requests         {_n(summary['total_requests']):>14}"
        f"  ({_n(summary['successful_requests'])} ok, {_n(summary['failed_requests'])} failed,"
        f" {success_rate(summary)} success)",
        f"  Cost (USD)       {cost_cell(total_cost):>14}",
    ]
    if costs and costs["totals"]["unpriced_tokens"]:
        unpriced = costs["totals"]
        listed = ", ".join(map(literal, unpriced["unpriced_models"]))
        lines.append(
            f"  * priced tokens only: no price for {listed}"
            f" ({_n(unpriced['unpriced_tokens'])} tokens)"
        )
    unknown = costs["totals"].get("requests_with_unknown_counts", 0) if costs else 0
    if unknown:
        lines.append(
            f"  * {_n(unknown)} requests billed with counts unknown (logged as 0):"
            " tokens and cost are a lower bound"
        )
    for title, rows, key in (
        ("Model", summary["by_model"], "by_model"),
        ("API", summary["by_api"], "by_api"),
    ):
        if not rows:
            continue
        priced = costs[key] if costs else {}
        money = usd_column(r["cost_usd"] for r in priced.values())
        names = {name: literal(name) for name in rows}
        width = max(len(title), *(len(shown) for shown in names.values()))
        lines.append("")
        lines.append(
            f"  {title:<{width}}  {'Input':>12}  {'Output':>12}  {'Total':>12}"
            f"  {'Requests':>9}  {'Success':>8}  {'Cost':>10}"
        )
        for name, r in rows.items():
            cost = cost_cell(priced.get(name, _NO_COST), money)
            lines.append(
                f"  {names[name]:<{width}}  {_n(r['total_prompt_tokens']):>12}"
                f"  {_n(r['total_completion_tokens']):>12}  {_n(r['total_tokens']):>12}"
                f"  {_n(r['total_requests']):>9}  {success_rate(r):>8}  {cost:>10}"
            )
    return "\n".join(lines)
