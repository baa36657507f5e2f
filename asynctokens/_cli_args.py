"""The ``asynctokens`` command's arguments: the parser, and the ``Query`` they ask for.

Kept apart from ``cli`` (which runs and renders) so each stays one job: every option a
report takes is declared here once, with its check, and turned into a ``summary.Query``.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from asynctokens import __version__, _cli_budget, _cli_reconcile
from asynctokens.pricing import PriceBook, load_prices
from asynctokens.read import summary

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, no usage dump: what is wrong, and where to look."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common() -> Parser:
    p = Parser(add_help=False)
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
        "--where",
        action="append",
        type=_where_arg,
        metavar="KEY=VALUE",
        help="only calls whose label KEY (or response-model, service-tier) is VALUE"
        " (repeatable: all must hold)",
    )
    p.add_argument(
        "--exact",
        action="store_true",
        help="read every line instead of the stats: each label value apart where a month"
        " holds more than the stats keep (slower)",
    )
    p.add_argument(
        "--timezone", help="day boundaries in this IANA zone, e.g. Europe/Lisbon (default UTC)"
    )
    _pricing_options(p)
    return p


#: Rows of a models, providers or hosts table on a terminal (see ``--limit``).
DEFAULT_LIMIT = 50


def _count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return value


def _where_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. customer=acme, not {text!r}")
    return key, value


def _by_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="KEY",
        help=f"{what} by a label key, or model, provider, host, response-model, service-tier"
        " (repeat for another level under it)",
    )


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
    parser = Parser(
        prog="asynctokens",
        description="Reports over the token logs written by asynctokens (read-only).",
    )
    parser.add_argument("--version", action="version", version=f"asynctokens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, what in (
        ("summary", "totals: tokens, requests, cost"),
        ("models", "one row per model"),
        ("apis", "one row per provider"),
        ("hosts", "one row per host the events were logged on"),
    ):
        report = _json_option(sub.add_parser(name, parents=[common], help=what))
        if name == "summary":
            _by_option(report, "one row per value,")
        else:
            report.add_argument(
                "--limit",
                type=_count_arg,
                default=DEFAULT_LIMIT,
                metavar="N",
                help="rows shown: the N largest by cost, then tokens, and one row summing the"
                " rest (default %(default)s; 0 shows all; --json always has all)",
            )
    daily = _json_option(
        sub.add_parser("daily", parents=[common], help="one row per day, with a bar chart")
    )
    daily.add_argument("--chart", choices=("tokens", "cost"), default="tokens")
    daily.add_argument(
        "--breakdown", action="store_true", help="each day's models under it (as --by model)"
    )
    weekly = _json_option(sub.add_parser("weekly", parents=[common], help="one row per week"))
    weekly.add_argument("--chart", choices=("tokens", "cost"), default="tokens")
    weekly.add_argument(
        "--week-start",
        choices=summary.WEEKDAYS,
        default="monday",
        help="the first day of a week (default monday: ISO weeks)",
    )
    monthly = _json_option(sub.add_parser("monthly", parents=[common], help="one row per month"))
    monthly.add_argument("--chart", choices=("tokens", "cost"), default="tokens")
    for period in (daily, weekly, monthly):
        _by_option(period, "each period's rows split")
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
    _by_option(export, "JSON and HTML: a table")
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
    live.add_argument(
        "--by",
        default="model",
        metavar="KEY",
        help="rows by a label key, or model (default), provider, host, response-model,"
        " service-tier",
    )
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


def book(args: argparse.Namespace) -> PriceBook:
    return load_prices(args.pricing or (), update=args.update_prices, override=args.override_prices)


def _where_filter(pairs: list[tuple[str, str]] | None) -> dict[str, str] | None:
    """``--where`` as a dict; a key given twice with two values could match nothing."""
    if not pairs:
        return None
    where: dict[str, str] = {}
    for key, value in pairs:
        if where.get(key, value) != value:
            raise ValueError(f"--where {key}= is given twice ({where[key]!r}, {value!r}):"
                             " a call has one value per key")  # fmt: skip
        if key in _ROW_FLAGS:
            raise ValueError(f"--where {key}=... : use {_ROW_FLAGS[key]} {value!r}")
        where[key] = value
    return where


#: Filters that have flags of their own (``--where model=x`` is ``--model x``).
_ROW_FLAGS = {"model": "--model", "provider": "--api", "api": "--api", "host": "--host"}


def query_of(args: argparse.Namespace) -> summary.Query:
    prices = book(args)
    query = summary.Query(
        log_dir=args.log_dir,
        since=args.since,
        until=args.until,
        models=args.model,
        apis=args.api,
        hosts=args.host,
        timezone=args.timezone,
        prices=prices,
        where=_where_filter(args.where),
        exact=args.exact,
        week_start=summary.WEEKDAYS.index(getattr(args, "week_start", "monday")),
    )
    _ = query.tz  # an unknown zone fails here, before any file is read
    return query
