"""The ``asynctokens`` command: parse arguments, ask ``summary`` for a report, render it.

The only module that prints. It reads through ``summary``/``reader`` and never imports the
writer, so it cannot change a log file. Library errors become one line on stderr and exit
code 2 at this boundary; rich is imported here only, when a table is drawn.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import orjson

from asynctokens import __version__, summary
from asynctokens._errors import AsyncTokensError
from asynctokens._format import resolve_log_dir
from asynctokens._show import literal
from asynctokens.pricing import PriceBook, load_prices

if TYPE_CHECKING:
    from rich.console import Console

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, no usage dump: what is wrong, and where to look."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common() -> _Parser:
    p = _Parser(add_help=False)
    p.add_argument(
        "--log-dir",
        help="directory of tokens_*.jsonl (default: $ASYNCTOKENS_LOG_DIR or logs/tokens)",
    )
    p.add_argument("--since", help="first day (YYYY-MM-DD) or instant (ISO 8601), included")
    p.add_argument("--until", help="last day (YYYY-MM-DD), included, or instant, excluded")
    p.add_argument("--model", action="append", help="only this model (repeatable)")
    p.add_argument("--api", action="append", help="only this provider (repeatable)")
    p.add_argument(
        "--timezone", help="day boundaries in this IANA zone, e.g. Europe/Lisbon (default UTC)"
    )
    _pricing_options(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _pricing_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pricing",
        action="append",
        metavar="FILE",
        help="prices that override genai-prices': LiteLLM's JSON, or a .toml in asynctokens'"
        " format (repeatable; the last file wins)",
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
    sub.add_parser("summary", parents=[common], help="totals: tokens, requests, cost")
    sub.add_parser("models", parents=[common], help="one row per model")
    sub.add_parser("apis", parents=[common], help="one row per provider")
    daily = sub.add_parser("daily", parents=[common], help="one row per day, with a bar chart")
    daily.add_argument("--chart", choices=("tokens", "cost"), default="tokens")
    monthly = sub.add_parser("monthly", parents=[common], help="one row per month")
    monthly.add_argument("--chart", choices=("tokens", "cost"), default="tokens")
    recent = sub.add_parser("recent", parents=[common], help="the last calls, newest first")
    recent.add_argument("-n", type=int, default=20, help="how many calls (default 20)")
    export = sub.add_parser("export", parents=[common], help="CSV of every call, JSON or HTML")
    export.add_argument("--format", required=True, choices=("csv", "json", "html"))
    export.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")
    sub.add_parser("dashboard", parents=[common], help="interactive menu")
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
    return load_prices(args.pricing or (), update=args.update_prices)


def _query(args: argparse.Namespace) -> summary.Query:
    prices = _book(args)
    query = summary.Query(
        log_dir=args.log_dir,
        since=args.since,
        until=args.until,
        models=args.model,
        apis=args.api,
        timezone=args.timezone,
        prices=prices,
    )
    _ = query.tz  # an unknown zone fails here, before any file is read
    return query


# -- rendering ---------------------------------------------------------------------------------
def _console() -> Console:
    """Markup, emoji codes and highlighting off: every cell shows its text as it is.

    Not on a terminal, tables are 160 columns wide unless ``COLUMNS`` says otherwise.
    """
    from rich.console import Console

    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
    return Console(width=width, highlight=False, soft_wrap=False, markup=False, emoji=False)


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:,.4f}" if 0 < value < 0.01 else f"${value:,.2f}"


def _rate(row: dict[str, Any]) -> str:
    return f"{row['success_rate']:.1f}%" if row["total_requests"] else "-"


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
    if report.get("misnamed_files"):
        names = ", ".join(literal(n) for n in report["misnamed_files"])
        _warn(f"ignored {names}: no such date; daily files are named tokens_YYYY-MM-DD.jsonl")


def _warn(message: str) -> None:
    print(f"asynctokens: warning: {message}", file=sys.stderr)


def _unpriced_note(console: Console, report: dict[str, Any]) -> None:
    if report["unpriced_models"]:
        names = ", ".join(
            f"{literal(m)} ({n:,} tokens)" for m, n in report["unpriced_tokens"].items()
        )
        console.print(
            f"No price for: {names} (cost n/a; priced part {_usd(report['priced_cost_usd'])})."
            " Pass --pricing FILE: LiteLLM's JSON or a .toml of your own (see the README).",
        )
    if report.get("upper_bound_models"):
        names = ", ".join(literal(m) for m in report["upper_bound_models"])
        console.print(
            f"Cost of {names} is an upper bound: the price changes by time of day, and these"
            " totals price each day at its highest rate; `export --format csv` prices each"
            " call at its own time.",
        )


def _render_summary(report: dict[str, Any]) -> None:
    from rich.table import Table

    t = report["totals"]
    console = _console()
    table = Table(title="Token usage", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    for label, value in (
        ("Input tokens", f"{t['total_prompt_tokens']:,}"),
        ("  cached", f"{t['total_cached_tokens']:,}"),
        ("  cache write", f"{t['total_cache_write_tokens']:,}"),
        ("Output tokens", f"{t['total_completion_tokens']:,}"),
        ("  reasoning", f"{t['total_reasoning_tokens']:,}"),
        ("Total tokens", f"{t['total_tokens']:,}"),
        ("Requests", f"{t['total_requests']:,}"),
        ("Successful", f"{t['successful_requests']:,}"),
        ("Failed", f"{t['failed_requests']:,}"),
        ("Success rate", _rate(t)),
        ("Cost (USD)", _usd(t["cost_usd"])),
    ):
        table.add_row(label, value)
    console.print(table)
    _unpriced_note(console, report)
    console.print(f"Prices: {report['pricing']['text']}")


_LABELS = {"model": "Model", "api": "Provider", "day": "Day", "month": "Month"}


def _row_cells(name: str, r: dict[str, Any]) -> list[str]:
    return [
        name,
        f"{r['total_prompt_tokens']:,}",
        f"{r['total_completion_tokens']:,}",
        f"{r['total_tokens']:,}",
        f"{r['total_cached_tokens']:,}",
        f"{r['total_requests']:,}",
        _rate(r),
        _usd(r["cost_usd"]),
    ]


def _render_breakdown(report: dict[str, Any], chart: str | None = None) -> None:
    from rich.bar import Bar
    from rich.table import Table

    console = _console()
    rows = report["rows"]
    label = _LABELS[report["dimension"]]
    zone = f" ({report['timezone']})" if report["dimension"] in ("day", "month") else ""
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
    console.print(table)
    _unpriced_note(console, report)


def _render_recent(report: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
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
        latency = e.get("latency_ms")
        table.add_row(
            literal(e["ts"][:19].replace("T", " ")),
            literal(e["api_type"]),
            literal(e["model"]),
            f"{e['prompt_tokens']:,}",
            f"{e['completion_tokens']:,}",
            f"{e['cached_tokens']:,}",
            "" if latency is None else f"{latency:,.0f}",
            status,
            _usd(e["cost_usd"]),
        )
    console.print(table)


# -- commands ----------------------------------------------------------------------------------
def _print_json(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


def _run_report(args: argparse.Namespace, query: summary.Query) -> int:
    command = args.command
    report: dict[str, Any]
    render: Callable[[dict[str, Any]], None]
    if command == "summary":
        report, render = summary.summary(query), _render_summary
    elif command == "recent":
        report, render = summary.recent(query, args.n), _render_recent
    else:
        dimension = {"models": "model", "apis": "api", "daily": "day", "monthly": "month"}[command]
        report = summary.breakdown(query, dimension)
        chart = getattr(args, "chart", None)

        def render(r: dict[str, Any]) -> None:
            _render_breakdown(r, chart)

    _warn_bad_lines(report)
    if args.json:
        _print_json(report)
    else:
        render(report)
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


def _export(args: argparse.Namespace, query: summary.Query) -> int:
    out_path = None if args.output == "-" else Path(args.output)
    if args.format == "csv":
        from asynctokens import reader

        report = reader.ReadReport()
        if out_path is None:
            rows = summary.write_csv(summary.iter_filtered(query, report), sys.stdout, query.prices)
        else:
            with _create_private(out_path) as f:
                rows = summary.write_csv(summary.iter_filtered(query, report), f, query.prices)
        _warn_bad_lines(summary.read_findings(report))
        what = f"{rows:,} calls"
    else:
        full = summary.full_report(query)
        _warn_bad_lines(full["summary"])
        if args.format == "json":
            text = orjson.dumps(full, option=orjson.OPT_INDENT_2).decode() + "\n"
        else:
            from asynctokens import _html

            text = _html.render(full)
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
    import datetime as _dt

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
        _render_prices(found, book.text)
    return 0 if all(found.values()) else 1


def _render_prices(found: dict[str, dict[str, Any] | None], source: str) -> None:
    from rich.table import Table

    console = _console()
    for model, info in found.items():
        if info is None:
            console.print(
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
                    f"> {tier['prompt_above']:,}" if tier["prompt_above"] else "any",
                    _rate_cell(tier["input"]),
                    _rate_cell(tier["cached_input"], tier["input"]),
                    _rate_cell(tier["cache_write"], tier["input"]),
                    _rate_cell(tier["output"]),
                    mark if i == 0 else "",
                )
        console.print(table)
    console.print(f"Prices: {source}")


def _rate_cell(rate: float | None, fallback: float | None = None) -> str:
    if rate is None:
        return f"{fallback:g} (as input)" if fallback is not None else "-"
    return f"{rate:g}"


def _dashboard(args: argparse.Namespace, query: summary.Query) -> int:
    """The seed's menu: pick a report by number; q, EOF or Ctrl-C leaves cleanly."""
    print(f"asynctokens dashboard: {resolve_log_dir(query.log_dir)}")
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
            if command == "export":
                path = input("CSV file [tokens_export.csv]> ").strip() or "tokens_export.csv"
                sub.format, sub.output = "csv", path
                _export(sub, query)
            else:
                sub.n, sub.chart = 20, "tokens"
                _run_report(sub, query)
    except (EOFError, KeyboardInterrupt):
        print()
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "prices":
            return _prices(args)
        query = _query(args)
        if args.command == "export":
            return _export(args, query)
        if args.command == "dashboard":
            return _dashboard(args, query)
        return _run_report(args, query)
    except BrokenPipeError:  # `asynctokens recent | head` closed our stdout: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (AsyncTokensError, ValueError, OSError) as exc:
        print(f"asynctokens: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
