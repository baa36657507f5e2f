"""The ``asynctokens`` command: parse arguments, ask ``summary`` for a report, render it.

The only module that prints. It reads through ``summary``/``reader`` and never imports the
writer, so it cannot change a log file. Library errors become one line on stderr and exit
code 2 at this boundary; rich is imported here only, when a table is drawn.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from asynctokens import _cli_budget, _cli_reconcile
from asynctokens._cli_args import EXIT_USAGE, book, build_parser, query_of
from asynctokens._errors import AsyncTokensError, NothingMatchedError
from asynctokens.read import summary
from asynctokens.render._numbers import literal

if TYPE_CHECKING:
    pass

EXIT_NOTHING_MATCHED = 1


# -- rendering ---------------------------------------------------------------------------------
def _warn_bad_lines(report: dict[str, Any]) -> None:
    """One stderr line per kind of finding: bad lines, unfinished tails, misnamed files."""
    if report.get("bad_lines"):
        first = report["bad_line_samples"][0] if report["bad_line_samples"] else ""
        _warn(
            f"skipped {report['bad_lines']:,} bad line(s)"
            f"{f' (first: {literal(first)})' if first else ''}"
        )
    if report.get("unfinished_files"):
        names = ", ".join(literal(n) for n in report["unfinished_files"])
        _warn(
            f"{names} end(s) in a write cut short by a crash: not counted until a writer"
            " appends to the file again, which makes it one bad line"
        )
    if report.get("stale_stats"):
        names = ", ".join(literal(n) for n in report["stale_stats"])
        _warn(
            f"{names} failed its checks (hand-edited or damaged): this report read the lines"
            " instead, and the next writer rebuilds it"
        )
    if report.get("misnamed_files"):
        names = ", ".join(literal(n) for n in report["misnamed_files"])
        _warn(f"ignored {names}: no such date; daily files are named tokens_YYYY-MM-DD.jsonl")


def _warn(message: str) -> None:
    print(f"asynctokens: warning: {message}", file=sys.stderr)


# -- commands ----------------------------------------------------------------------------------
def _print_json(obj: Any) -> None:
    """JSON on stdout; a value JSON has no type for (a DuckDB decimal, a UUID) as its text."""
    sys.stdout.write(orjson.dumps(obj, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")


def _run_report(args: argparse.Namespace, query: summary.Query) -> int:
    command = args.command
    report: dict[str, Any]
    by: list[str] = list(getattr(args, "by", None) or [])
    if getattr(args, "breakdown", False) and "model" not in by:
        by.append("model")
    if command == "summary" and by:
        report = summary.breakdown(query, by[0], by[1:])
    elif command == "summary":
        report = summary.summary(query)
    elif command == "recent":
        summary.check_filters(query)
        report = summary.recent(query, args.n)
    else:
        dimension = {"models": "model", "apis": "api", "daily": "day", "weekly": "week",
                     "monthly": "month", "hosts": "host"}[command]  # fmt: skip
        report = summary.breakdown(query, dimension, by)
    _warn_bad_lines(report)
    if args.json:
        _print_json(report)
        return 0
    from asynctokens.render import terminal

    out = terminal.console()
    if command == "summary" and not by:
        terminal.summary(report, out)
    elif command == "recent":
        terminal.recent(report, out)
    else:
        terminal.breakdown(report, out, getattr(args, "chart", None), getattr(args, "limit", 0))
    return 0


def _create_private(path: Path) -> TextIO:
    """An export for writing, owner-only (0600) like the logs it copies, even if it existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        return open(fd, "w", encoding="utf-8", newline="")  # the caller closes
    except BaseException:
        os.close(fd)
        raise


def _sql(args: argparse.Namespace) -> int:
    """``asynctokens sql "SELECT ..."``: DuckDB's answer as a table (or JSON rows)."""
    import decimal

    from asynctokens.read import sql

    names, rows = sql.query(args.log_dir, args.query, book(args))
    if args.json:
        _print_json([dict(zip(names, row, strict=True)) for row in rows])
        return 0
    from rich.table import Table

    from asynctokens.render import terminal

    table = Table(title=f"{len(rows):,} row(s)", title_justify="left")
    for i, name in enumerate(names):
        first = next((row[i] for row in rows if row[i] is not None), None)
        numeric = isinstance(first, (int, float, decimal.Decimal)) and not isinstance(first, bool)
        table.add_column(literal(name), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*("" if v is None else literal(v) for v in row))
    terminal.console().print(table)
    return 0


def _live(args: argparse.Namespace) -> int:
    """``asynctokens live``: a rich Live view fed by ``aio.follow`` over each directory."""
    import asyncio

    from asynctokens._errors import LogDirError
    from asynctokens.read import reader
    from asynctokens.record._format import resolve_log_dir
    from asynctokens.render import live

    tz = reader.get_timezone(args.timezone)
    prices = book(args)
    summary.check_by([args.by])
    try:
        dirs = reader.open_log_dirs(args.log_dir)
    except LogDirError:
        if args.log_dir and len(args.log_dir) > 1:
            raise
        # one directory that does not exist yet, or is still empty: wait for it
        dirs = [resolve_log_dir(args.log_dir[0] if args.log_dir else None)]
    source = ", ".join(str(d) for d in dirs)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C leaves, as q does
        asyncio.run(live.run(dirs, source, tz, prices, summary.BY_NAMES.get(args.by, args.by)))
    return 0


def _where(query: summary.Query) -> str:
    """The query's range and filters as a DuckDB condition on the ``tokens`` view."""
    from asynctokens.read import reader, sql

    rng = reader.time_range(query.since, query.until, query.tz)
    parts = []
    if rng.start is not None:
        parts.append(f"ts >= TIMESTAMPTZ '{rng.start.isoformat()}'")
    if rng.end is not None:
        parts.append(f"ts < TIMESTAMPTZ '{rng.end.isoformat()}'")
    for column, values in (("model", query.models), ("api_type", query.apis),
                           ("host", query.hosts)):  # fmt: skip
        if values:
            quoted = ", ".join(sql.literal(v) for v in values)
            parts.append(f"{column} IN ({quoted})")
    return " AND ".join(parts)


def _export(args: argparse.Namespace, query: summary.Query) -> int:
    out_path = None if args.output == "-" else Path(args.output)
    by: list[str] = getattr(args, "by", None) or []  # the dashboard's export has none
    if args.format in ("csv", "parquet"):  # the reports check their filters as they load
        if by:
            raise ValueError(
                f"--by groups the JSON and HTML reports; --format {args.format} has a row per"
                " call already (its labels column holds every label)"
            )
        summary.check_filters(query)
    if args.format == "parquet":
        if out_path is None:
            raise ValueError("--format parquet writes a file: give -o FILE, not '-'")
        from asynctokens.read import sql

        rows = sql.export_parquet(query.log_dir, out_path, _where(query), query.prices)
        print(f"wrote {rows:,} calls to {out_path}", file=sys.stderr)
        return 0
    if args.format == "csv":
        from asynctokens.read import reader
        from asynctokens.render import csv

        report = reader.ReadReport()
        raw = getattr(args, "csv_raw", False)
        if out_path is None:
            events = summary.iter_filtered(query, report)
            rows = csv.write(events, sys.stdout, query.prices, neutralize=not raw)
        else:
            with _create_private(out_path) as f:
                events = summary.iter_filtered(query, report)
                rows = csv.write(events, f, query.prices, neutralize=not raw)
        _warn_bad_lines(summary.read_findings(report))
        what = f"{rows:,} calls"
    else:
        full = summary.full_report(query, by)
        _warn_bad_lines(full["summary"])
        if args.format == "json":
            text = orjson.dumps(full, option=orjson.OPT_INDENT_2).decode() + "\n"
        else:
            from asynctokens.render import html

            text = html.render(full)
        if out_path is None:
            sys.stdout.write(text)
        else:
            with _create_private(out_path) as f:
                f.write(text)
        what = f"{full['summary']['totals']['total_requests']:,} calls"
    if out_path is not None:
        print(f"wrote {what} to {out_path}", file=sys.stderr)
    return 0


_MENU = (
    ("1", "totals", "summary"),
    ("2", "by provider", "apis"),
    ("3", "by model", "models"),
    ("4", "recent calls", "recent"),
    ("5", "daily", "daily"),
    ("6", "export CSV", "export"),
)


def _prices(args: argparse.Namespace) -> int:
    """``asynctokens prices MODEL...``: exit 1 when a model has no price anywhere."""
    day = _dt.datetime.now(_dt.UTC).date()
    if args.date:
        try:
            day = _dt.date.fromisoformat(args.date)
        except ValueError:
            raise ValueError(f"bad --date {args.date!r}: use YYYY-MM-DD") from None
    prices = book(args)
    found = {m: prices.explain(args.api or "", m, day) for m in args.models}
    from asynctokens.pricing import _tiers

    if args.json:
        _print_json(
            {"pricing": prices.describe(), "models": found, "tier_rules": _tiers.describe()}
        )
    else:
        from asynctokens.render import terminal

        terminal.prices(found, prices.text, terminal.console(), _tiers.describe())
    return 0 if all(found.values()) else 1


def _dashboard(args: argparse.Namespace, query: summary.Query) -> int:
    """The seed's menu: pick a report by number; q, EOF or Ctrl-C leaves cleanly."""
    from asynctokens.read import reader

    dirs = ", ".join(str(d) for d in reader.open_log_dirs(query.log_dir))
    print(f"asynctokens dashboard: {literal(dirs)}")
    menu = "  ".join(f"{key}) {label}" for key, label, _ in _MENU) + "  q) quit"
    try:
        while True:
            print(menu)
            choice = input("choice> ").strip().lower()
            if choice in ("q", "quit", "exit"):
                return 0
            command = next((cmd for key, _, cmd in _MENU if key == choice), None)
            if command is None:
                print(f"unknown choice {choice!r}: type 1-6 or q")
                continue
            sub = argparse.Namespace(**{**vars(args), "command": command, "json": False})
            try:
                if command == "export":
                    path = input("CSV file [tokens_export.csv]> ").strip() or "tokens_export.csv"
                    sub.format, sub.output = "csv", path
                    _export(sub, query)
                else:
                    sub.n, sub.chart = 20, "tokens"
                    _run_report(sub, query)
            except (AsyncTokensError, ValueError, OSError) as exc:
                # one failed action (an unwritable export path, logs gone) is said, and the
                # menu goes on
                print(f"asynctokens: error: {literal(str(exc))}", file=sys.stderr)
    except (EOFError, KeyboardInterrupt):
        print()
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "prices":
            return _prices(args)
        if args.command == "sql":
            return _sql(args)
        if args.command == "live":
            return _live(args)
        if args.command == "reconcile":
            return _cli_reconcile.run(args, book(args))
        if args.command == "budget":
            return _cli_budget.run(args, book(args))
        query = query_of(args)
        if args.command == "export":
            return _export(args, query)
        if args.command == "dashboard":
            return _dashboard(args, query)
        return _run_report(args, query)
    except BrokenPipeError:  # `asynctokens recent | head` closed our stdout: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except NothingMatchedError as exc:  # a filter that names nothing: said, not a table of 0s
        print(f"asynctokens: {literal(str(exc))}", file=sys.stderr)
        return EXIT_NOTHING_MATCHED
    except (AsyncTokensError, ValueError, OSError) as exc:
        print(f"asynctokens: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
