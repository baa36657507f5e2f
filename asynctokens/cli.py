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
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import orjson

from asynctokens import __version__, _cli_budget, _cli_reconcile
from asynctokens._errors import AsyncTokensError, NothingMatchedError
from asynctokens.pricing import PriceBook, load_prices
from asynctokens.read import summary
from asynctokens.render._numbers import literal

if TYPE_CHECKING:
    pass

EXIT_USAGE = 2
EXIT_NOTHING_MATCHED = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, no usage dump: what is wrong, and where to look."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common() -> _Parser:
    p = _Parser(add_help=False)
    p.add_argument(
        "--log-dir",
        action="append",
        help="directory of tokens_*.jsonl (default: $ASYNCTOKENS_LOG_DIR or logs/tokens);"
        " repeatable, and a quoted glob ('fleet/*/logs/tokens') names many: one report over"
        " all, each event counted once",
    )
    p.add_argument("--since", help="first day (YYYY-MM-DD) or instant (ISO 8601), included")
    p.add_argument("--until", help="last day (YYYY-MM-DD), included, or instant, excluded")
    p.add_argument("--model", action="append", help="only this model (repeatable)")
    p.add_argument("--api", action="append", help="only this provider (repeatable)")
    p.add_argument("--host", action="append", help="only this host (repeatable)")
    p.add_argument(
        "--timezone", help="day boundaries in this IANA zone, e.g. Europe/Lisbon (default UTC)"
    )
    _pricing_options(p)
    return p


#: Rows of a models, providers or hosts table on a terminal (see ``--limit``).
_DEFAULT_LIMIT = 50


def _count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return value


def _json_option(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--json`` for the commands that print a report (not ``export`` nor ``dashboard``: a
    flag a command would ignore is refused by the parser instead)."""
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _pricing_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pricing",
        action="append",
        metavar="FILE",
        help="prices of your own: LiteLLM's JSON, or a .toml in asynctokens' format"
        " (repeatable; the last file wins); see --override-prices",
    )
    p.add_argument(
        "--override-prices",
        action="store_true",
        help="a LiteLLM --pricing file's prices (which have no dates) win for every date;"
        " without it they price only models genai-prices does not",
    )
    p.add_argument(
        "--update-prices",
        action="store_true",
        help="fetch the latest prices with genai-prices' updater (network) instead of the"
        " prices bundled with it",
    )


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(
        prog="asynctokens",
        description="Reports over the token logs written by asynctokens (read-only).",
    )
    parser.add_argument("--version", action="version", version=f"asynctokens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, what in (
        ("summary", "totals: tokens, requests, cost"),
        ("models", "one row per model"),
        ("apis", "one row per provider"),
        ("hosts", "one row per host the events were logged on"),
    ):
        report = _json_option(sub.add_parser(name, parents=[common], help=what))
        if name != "summary":
            report.add_argument(
                "--limit",
                type=_count_arg,
                default=_DEFAULT_LIMIT,
                metavar="N",
                help="rows shown: the N largest by cost, then tokens, and one row summing the"
                " rest (default %(default)s; 0 shows all; --json always has all)",
            )
    daily = _json_option(
        sub.add_parser("daily", parents=[common], help="one row per day, with a bar chart")
    )
    daily.add_argument("--chart", choices=("tokens", "cost"), default="tokens")
    monthly = _json_option(sub.add_parser("monthly", parents=[common], help="one row per month"))
    monthly.add_argument("--chart", choices=("tokens", "cost"), default="tokens")
    recent = _json_option(
        sub.add_parser("recent", parents=[common], help="the last calls by time, newest first")
    )
    recent.add_argument("-n", type=int, default=20, help="how many calls (default 20)")
    export = sub.add_parser("export", parents=[common], help="CSV of every call, JSON or HTML")
    export.add_argument(
        "--format",
        required=True,
        choices=("csv", "json", "html", "parquet"),
        help="parquet needs DuckDB: pip install 'asynctokens[duckdb]'",
    )
    export.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")
    export.add_argument(
        "--csv-raw",
        action="store_true",
        help="write text cells exactly; by default a cell starting with = + - @ gets a leading"
        " ' so spreadsheets do not run it as a formula",
    )
    sub.add_parser("dashboard", parents=[common], help="interactive menu")
    live = sub.add_parser(
        "live", help="today's tokens, cost and errors, updated as calls arrive (q to quit)"
    )
    live.add_argument(
        "--log-dir", action="append", help="as for the reports: repeatable, globs accepted"
    )
    live.add_argument("--timezone", help="what 'today' means (default UTC)")
    _pricing_options(live)
    sql = sub.add_parser(
        "sql",
        help="run SQL on DuckDB over a `tokens` view of the logs (pip install"
        " 'asynctokens[duckdb]')",
    )
    sql.add_argument("query", help='e.g. "SELECT model, sum(total_tokens) FROM tokens GROUP BY 1"')
    sql.add_argument(
        "--log-dir", action="append", help="as for the reports: repeatable, globs accepted"
    )
    sql.add_argument("--json", action="store_true", help="print the rows as JSON objects")
    _pricing_options(sql)
    _pricing_options(_cli_reconcile.add_parser(sub, common))
    _pricing_options(_cli_budget.add_parser(sub))
    prices = sub.add_parser(
        "prices", help="the price a model is billed at, by tier and date, and its source"
    )
    prices.add_argument("models", nargs="+", metavar="MODEL", help="model names as logged")
    prices.add_argument("--api", help="the api_type the model is logged with, e.g. gemini")
    prices.add_argument("--date", help="the UTC day whose price to mark (default today)")
    _pricing_options(prices)
    prices.add_argument("--json", action="store_true", help="print the prices as JSON")
    return parser


def _book(args: argparse.Namespace) -> PriceBook:
    return load_prices(args.pricing or (), update=args.update_prices, override=args.override_prices)


def _query(args: argparse.Namespace) -> summary.Query:
    prices = _book(args)
    query = summary.Query(
        log_dir=args.log_dir,
        since=args.since,
        until=args.until,
        models=args.model,
        apis=args.api,
        hosts=args.host,
        timezone=args.timezone,
        prices=prices,
    )
    _ = query.tz  # an unknown zone fails here, before any file is read
    return query


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
    if command == "summary":
        report = summary.summary(query)
    elif command == "recent":
        summary.check_filters(query)
        report = summary.recent(query, args.n)
    else:
        dimension = {"models": "model", "apis": "api", "daily": "day", "monthly": "month",
                     "hosts": "host"}[command]  # fmt: skip
        report = summary.breakdown(query, dimension)
    _warn_bad_lines(report)
    if args.json:
        _print_json(report)
        return 0
    from asynctokens.render import terminal

    out = terminal.console()
    if command == "summary":
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

    names, rows = sql.query(args.log_dir, args.query, _book(args))
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
    prices = _book(args)
    try:
        dirs = reader.open_log_dirs(args.log_dir)
    except LogDirError:
        if args.log_dir and len(args.log_dir) > 1:
            raise
        # one directory that does not exist yet, or is still empty: wait for it
        dirs = [resolve_log_dir(args.log_dir[0] if args.log_dir else None)]
    source = ", ".join(str(d) for d in dirs)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C leaves, as q does
        asyncio.run(live.run(dirs, source, tz, prices))
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
    if args.format in ("csv", "parquet"):  # the reports check their filters as they load
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
        full = summary.full_report(query)
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
    book = _book(args)
    found = {m: book.explain(args.api or "", m, day) for m in args.models}
    if args.json:
        _print_json({"pricing": book.describe(), "models": found})
    else:
        from asynctokens.render import terminal

        terminal.prices(found, book.text, terminal.console())
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
            return _cli_reconcile.run(args, _book(args))
        if args.command == "budget":
            return _cli_budget.run(args, _book(args))
        query = _query(args)
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
