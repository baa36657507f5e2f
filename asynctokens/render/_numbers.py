"""How every renderer shows a number, an amount of money, a rate and untrusted text.

Untrusted text as data: how a model name, error message or ts from the logs is shown.

Everything in a log line came from outside (a provider's error text, a model name from a
config, a hand-edited line). Terminals interpret control characters (an ESC sequence can
recolour, move the cursor or retitle the window) and rich interprets ``[...]`` as markup, so
every report shows such text through :func:`literal`, on a console with markup and emoji
codes off; the HTML export escapes it on top (see ``html``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

#: C0 controls, DEL and C1 controls -> a visible escape such as ``\x1b`` or ``\n``.
_VISIBLE: Final = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))},
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
    # line and paragraph separators, and the bidirectional overrides that reorder what a
    # terminal shows (the "Trojan Source" characters)
    **{c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))},
}


#: A breakdown's token columns, as a provider's dashboard (and ccusage) splits them: input
#: as uncached, cache read and cache write; output (all of it) with its reasoning part.
COLUMNS: Final = (
    "Uncached input",
    "Cache read",
    "Cache write",
    "Output",
    "Reasoning",
    "Total",
    "Requests",
    "Success",
    "Cost",
)


def literal(value: object) -> str:
    """``value`` as text that shows exactly what it holds and cannot act on a terminal."""
    text = value if isinstance(value, str) else str(value)
    return text.translate(_VISIBLE)


def count(value: int) -> str:
    """A count of tokens or requests: ``1,234,567``."""
    return f"{value:,}"


def unknown_counts_note(requests: int) -> str:
    """What a report says under totals that hold calls billed with counts not all known
    (``counts_unknown``): how many, and that its tokens and cost are a lower bound."""
    return (
        f"* {count(requests)} requests were billed with counts their provider did not report"
        " or that could not be read, logged as 0: the tokens and cost shown are a lower bound"
    )


def compact(value: float) -> str:
    """A count for an axis: ``0``, ``950``, ``1.5k``, ``12M``, ``3.2B``."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def usd(value: float | None) -> str:
    """Money: ``n/a`` when no price covers it (never $0), four decimals below a cent and
    ``<$0.0001`` below that, so a cheap call never reads as free; else cents."""
    if value is None:
        return "n/a"
    if 0 < value < 0.00005:  # would round to $0.0000: say it is more than nothing
        return "<$0.0001"
    return f"${value:,.4f}" if 0 < value < 0.01 else f"${value:,.2f}"


def usd_column(values: Iterable[float | None]) -> Callable[[float | None], str]:
    """One money format for a whole column: cents, or four decimals when its smallest
    non-zero amount is below a cent (``$0.01`` above ``$0.0002`` reads as a misprint);
    ``<$0.0001`` below that and ``n/a`` for no price, as :func:`usd`."""
    smallest = min((v for v in values if v), default=1.0)
    decimals = 2 if smallest >= 0.01 else 4

    def fmt(value: float | None) -> str:
        if value is None:
            return "n/a"
        if 0 < value < 0.00005:
            return "<$0.0001"
        return f"${value:,.{decimals}f}"

    return fmt


def cost_cell(row: dict[str, Any], fmt: Callable[[float | None], str] = usd) -> str:
    """A row's cost: what is priced, marked ``*`` when some of its tokens have no price
    (the partial cost is shown, never blanked, never taken for the whole); ``n/a`` when
    none of them has one."""
    if not row.get("unpriced_tokens"):
        return fmt(row["cost_usd"])
    if not row["cost_usd"]:
        return "n/a"
    return f"{fmt(row['cost_usd'])}*"


def success_rate(row: dict[str, Any]) -> str:
    """``97.5%``, or ``-`` for a row with no requests (no rate, not 0 %)."""
    return f"{row['success_rate']:.1f}%" if row["total_requests"] else "-"


def per_million(rate: float | None, fallback: float | None = None) -> str:
    """A price in USD per million tokens; a missing cache price is billed as input."""
    if rate is None:
        return "-" if fallback is None else f"{fallback:g} (as input)"
    return f"{rate:g}"


def latency(ms: float | None) -> str:
    return "" if ms is None else f"{ms:,.0f}"
