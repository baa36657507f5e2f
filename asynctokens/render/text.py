"""Plain-text rendering of a summary dict, for ``TokenTracker.print_summary()``.

The writing side must not import the CLI (or rich), so it gets this small fixed-width table;
the ``asynctokens`` command renders the same numbers with rich.
"""

from __future__ import annotations

from typing import Any

from asynctokens.render._numbers import count as _n
from asynctokens.render._numbers import literal, success_rate


def render_summary(summary: dict[str, Any]) -> str:
    lines = [
        "Token usage",
        f"  Input tokens     {_n(summary['total_prompt_tokens']):>14}",
        f"  Output tokens    {_n(summary['total_completion_tokens']):>14}",
        f"  Total tokens     {_n(summary['total_tokens']):>14}",
        f"  Cached input     {_n(summary['total_cached_tokens']):>14}",
        f"  Reasoning        {_n(summary['total_reasoning_tokens']):>14}",
        f"  Requests         {_n(summary['total_requests']):>14}"
        f"  ({_n(summary['successful_requests'])} ok, {_n(summary['failed_requests'])} failed,"
        f" {success_rate(summary)} success)",
    ]
    for title, rows in (("Model", summary["by_model"]), ("API", summary["by_api"])):
        if not rows:
            continue
        names = {name: literal(name) for name in rows}
        width = max(len(title), *(len(shown) for shown in names.values()))
        lines.append("")
        lines.append(
            f"  {title:<{width}}  {'Input':>12}  {'Output':>12}  {'Total':>12}"
            f"  {'Requests':>9}  {'Success':>8}"
        )
        for name, r in rows.items():
            lines.append(
                f"  {names[name]:<{width}}  {_n(r['total_prompt_tokens']):>12}"
                f"  {_n(r['total_completion_tokens']):>12}  {_n(r['total_tokens']):>12}"
                f"  {_n(r['total_requests']):>9}  {success_rate(r):>8}"
            )
    return "\n".join(lines)
