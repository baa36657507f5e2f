"""The ``asynctokens budget`` command: spend against a daily and a monthly budget, from cron
or CI, with a straight-line projection to each period's end.

Today and this month are the report's days in ``--timezone`` (UTC by default). The spend is
what every report prices (the cost of the priced calls; tokens no price covers are said,
never counted as $0). ``--by KEY`` (a label key, or model, provider, host) holds each group
to the budget; ``--where KEY=VALUE`` (the same keys) narrows what is counted. Exit codes: 0
while every budget holds, 3 once any is passed (spent, not only projected), 2 for an error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from typing import Any

from asynctokens._errors import NothingMatchedError
from asynctokens.read import summary
from asynctokens.read.reader import get_timezone
from asynctokens.record._dims import is_label_key
from asynctokens.render._numbers import literal, usd

#: Exit code once a budget is passed.
EXIT_PASSED = 3
_DIMENSIONS = {"model": "model", "provider": "api", "host": "host"}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    budget: argparse.ArgumentParser = sub.add_parser(
        "budget",
        help="spend today and this month against budgets, projected to the period's end;"
        " exit 3 once one is passed (for cron or CI)",
    )
    budget.add_argument("--daily", type=float, metavar="USD", help="today's budget")
    budget.add_argument("--monthly", type=float, metavar="USD", help="this month's budget")
    budget.add_argument(
        "--by", metavar="KEY", help="hold each value of a label key (or model, provider, host)"
        " to it",
    )  # fmt: skip
    budget.add_argument(
        "--where", action="append", default=[], metavar="KEY=VALUE",
        help="count only these calls: a label key, model, provider or host (repeatable)",
    )  # fmt: skip
    budget.add_argument(
        "--log-dir", action="append", help="as for the reports: repeatable, globs accepted"
    )
    budget.add_argument("--timezone", help="the zone of 'today' and 'this month' (default UTC)")
    budget.add_argument("--json", action="store_true", help="print the budgets as JSON")
    return budget


def _filters(where: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"models": [], "apis": [], "hosts": [], "where": {}}
    fields = {"model": "models", "provider": "apis", "host": "hosts"}
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not value or not (key in fields or is_label_key(key)):
            raise ValueError(
                f"bad --where {item!r}: use LABEL=VALUE, model=NAME, provider=NAME or host=NAME"
            )
        if key in fields:
            out[fields[key]].append(value)
        else:
            out["where"][key] = value
    return out


def run(args: argparse.Namespace, prices: Any, now: _dt.datetime | None = None) -> int:
    budgets = [(p, b) for p, b in (("day", args.daily), ("month", args.monthly)) if b is not None]
    if not budgets:
        raise ValueError("give a budget: --daily USD and/or --monthly USD")
    for _, amount in budgets:
        if not amount > 0:
            raise ValueError(f"a budget must be a positive amount of USD, got {amount:g}")
    filters = _filters(args.where)
    zone = get_timezone(args.timezone)
    moment = (now or _dt.datetime.now(_dt.UTC)).astimezone(zone)
    rows = []
    for period, amount in budgets:
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if period == "month":
            start = start.replace(day=1)
            end = (start + _dt.timedelta(days=32)).replace(day=1)
        else:
            end = start + _dt.timedelta(days=1)
        # the period's end as the zone's midnight, however long the day (DST)
        start_utc, end_utc = (t.astimezone(_dt.UTC) for t in (start, end))
        elapsed = (moment - start).total_seconds() / (end_utc - start_utc).total_seconds()
        query = summary.Query(
            log_dir=args.log_dir, since=start.date().isoformat(), until=moment.date().isoformat(),
            models=filters["models"] or None, apis=filters["apis"] or None,
            hosts=filters["hosts"] or None, timezone=args.timezone, prices=prices,
            where=filters["where"] or None,
        )  # fmt: skip
        try:
            if args.by:
                by = _DIMENSIONS.get(args.by, args.by)
                groups = list(summary.breakdown(query, by)["rows"].items())
            else:
                groups = [("all", summary.summary(query)["totals"])]
        except NothingMatchedError as exc:  # nothing spent yet by what --where names: $0
            print(f"asynctokens: {literal(str(exc))}: counted as nothing spent", file=sys.stderr)
            groups = (
                []
                if args.by
                else [
                    (
                        "all",
                        {"cost_usd": 0.0, "unpriced_tokens": 0, "requests_with_unknown_counts": 0},
                    )
                ]
            )
        for name, row in groups:
            spent = row["cost_usd"]
            projected = spent / elapsed if elapsed > 0 else spent
            status = "passed" if spent > amount else (
                "on track to pass" if projected > amount else "ok")  # fmt: skip
            rows.append({
                "period": period, "from": start.date().isoformat(), "group": name,
                "budget_usd": amount, "spent_usd": round(spent, 6),
                "projected_usd": round(projected, 6), "share_of_budget": round(spent / amount, 4),
                "unpriced_tokens": row["unpriced_tokens"],
                "requests_with_unknown_counts": row["requests_with_unknown_counts"],
                "status": status,
            })  # fmt: skip
    passed = any(r["status"] == "passed" for r in rows)
    if args.json:
        doc = {"timezone": args.timezone or "UTC", "at": moment.isoformat(), "budgets": rows,
               "passed": passed}  # fmt: skip
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        _print(rows, args.by)
    return EXIT_PASSED if passed else 0


def _print(rows: list[dict[str, Any]], by: str | None) -> None:
    from rich.table import Table

    from asynctokens.render import terminal

    table = Table(title="Budgets", title_justify="left")
    for name, justify in (("Period", "left"), (by.capitalize() if by else "", "left"),
                          ("Budget", "right"), ("Spent", "right"), ("Share", "right"),
                          ("Projected", "right"), ("Status", "left")):  # fmt: skip
        if name or by:
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        cells = [f"{'today' if r['period'] == 'day' else 'this month'} (from {r['from']})"]
        if by:
            cells.append(literal(r["group"]))
        cells += [usd(r["budget_usd"]), usd(r["spent_usd"]), f"{r['share_of_budget']:.0%}",
                  usd(r["projected_usd"]), r["status"]]  # fmt: skip
        table.add_row(*cells)
    out = terminal.console()
    out.print(table)
    unpriced = sum(r["unpriced_tokens"] for r in rows)
    if unpriced:
        out.print(f"{unpriced:,} tokens have no price: spend counts only priced calls.")
    unknown = sum(r["requests_with_unknown_counts"] for r in rows)
    if unknown:
        out.print(
            f"{unknown:,} requests were billed with counts unknown (logged as 0): spend is a"
            " lower bound."
        )
