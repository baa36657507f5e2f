"""``asynctokens live``: what today looks like, updated as calls arrive.

``LiveState`` folds events (from ``aio.follow``) into today's figures in a time zone: tokens,
cost, requests and errors, per model (or per any ``--by`` key), tokens per minute over the
last hour, the last calls and the last error. ``view()`` draws it for rich's ``Live``;
``run()`` is the screen the command shows, keys and all. Outside text goes through
``literal`` as in every report.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from asynctokens.pricing import PriceBook
from asynctokens.read._grouping import key_of
from asynctokens.record._dims import line_dims
from asynctokens.render._numbers import cost_cell, count, literal, usd, usd_column

_BLOCKS: Final = " ▁▂▃▄▅▆▇█"
_MINUTES: Final = 60


@dataclass
class _Row:
    requests: int = 0
    failed: int = 0
    tokens: int = 0
    cost: float = 0.0  # of the priced calls
    unpriced: int = 0  # tokens of calls no price covers
    unknown: int = 0  # calls billed with counts not all known (logged as 0)

    def as_report_row(self) -> dict[str, Any]:
        return {"cost_usd": self.cost, "unpriced_tokens": self.unpriced}


@dataclass
class LiveState:
    """Today's figures in ``tz``, folded one event at a time."""

    prices: PriceBook
    tz: _dt.tzinfo
    now: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.UTC))
    total: _Row = field(default_factory=_Row)
    models: dict[str, _Row] = field(default_factory=dict)
    per_minute: dict[int, int] = field(default_factory=dict)  # epoch minute -> tokens
    last_calls: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=8))
    last_error: dict[str, Any] | None = None
    seen: int = 0
    #: what the rows are by: ``model``, ``api``, ``host``, ``response-model``,
    #: ``service-tier`` or a label key (``models`` then holds those rows)
    by: str = "model"

    def __post_init__(self) -> None:
        self._set_day(self.now)

    def _set_day(self, now: _dt.datetime) -> None:
        local = now.astimezone(self.tz)
        start = _dt.datetime.combine(local.date(), _dt.time(0), tzinfo=self.tz)
        self.day = local.date()
        self.day_start = start.astimezone(_dt.UTC)
        self.day_end = (start + _dt.timedelta(days=1)).astimezone(_dt.UTC)

    def tick(self, now: _dt.datetime) -> None:
        """Move the clock: after local midnight the day's figures start again at zero."""
        self.now = now
        if now >= self.day_end:
            self._set_day(now)
            self.total, self.models = _Row(), {}
        horizon = int(now.timestamp()) // 60 - _MINUTES
        for minute in [m for m in self.per_minute if m <= horizon]:
            del self.per_minute[minute]

    def add(self, event: dict[str, Any]) -> None:
        ts = _dt.datetime.fromisoformat(event["ts"])
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=_dt.UTC)
        tokens = event["prompt_tokens"] + event["completion_tokens"]
        minute = int(ts.timestamp()) // 60
        if minute > int(self.now.timestamp()) // 60 - _MINUTES:
            self.per_minute[minute] = self.per_minute.get(minute, 0) + tokens
        cost = self.prices.event_cost(event)
        self.seen += 1
        if not event["success"]:
            self.last_error = event
        self.last_calls.appendleft({**event, "cost_usd": cost})
        if not self.day_start <= ts < self.day_end:
            return
        for row in (self.total, self.models.setdefault(self._row_name(event), _Row())):
            row.requests += 1
            row.failed += 0 if event["success"] else 1
            row.unknown += 1 if event.get("counts_unknown") is True else 0
            row.tokens += tokens
            if cost is None:
                row.unpriced += tokens
            else:
                row.cost += cost

    def _row_name(self, event: dict[str, Any]) -> str:
        model = event["model"]
        if self.by == "model":
            return str(model)
        dims = line_dims(model, event) or ""
        host = event.get("host")
        return key_of(self.by, "", event["api_type"], model,
                      host if isinstance(host, str) else "", dims)  # fmt: skip


def _money(row: _Row, fmt: Callable[[float | None], str] = usd) -> str:
    """The priced cost, ``*`` where some tokens have no price (as every report shows it)."""
    return cost_cell(row.as_report_row(), fmt)


def _rate(row: _Row) -> str:
    return f"{100 * row.failed / row.requests:.1f}%" if row.requests else "-"


def _sparkline(state: LiveState) -> str:
    last = int(state.now.timestamp()) // 60
    values = [state.per_minute.get(m, 0) for m in range(last - _MINUTES + 1, last + 1)]
    top = max(values) or 1
    return "".join(_BLOCKS[min(8, -(-v * 8 // top))] for v in values)


def view(state: LiveState, source: str) -> RenderableType:
    """The whole screen: headline figures, tokens per minute, models, last calls, last error."""
    t = state.total
    head = Table.grid(padding=(0, 3))
    for _ in range(4):
        head.add_column()
    head.add_row(
        f"Requests {count(t.requests)}"
        + (f" ({count(t.unknown)} counts unknown: a lower bound)" if t.unknown else ""),
        f"Tokens {count(t.tokens)}",
        f"Cost {_money(t)}",
        f"Errors {count(t.failed)} ({_rate(t)})",
    )
    title = Text(
        f"asynctokens live: {literal(source)} · today {state.day} ({literal(str(state.tz))})"
        f" · {state.now.astimezone(state.tz):%H:%M:%S} · q to quit",
        style="bold",
    )
    top = max(state.per_minute.values(), default=0)
    spark = Text(f"Tokens/min, last hour (max {count(top)}): ")
    spark.append(_sparkline(state), style="cyan")
    label = "Model" if state.by == "model" else "Provider" if state.by == "api" else state.by
    heading = "Models today" if state.by == "model" else f"By {label} today"
    models = Table(title=literal(heading), title_justify="left", expand=False)
    unpriced = bool(t.unpriced)
    for col in (
        literal(label),
        "Requests",
        "Tokens",
        "Errors",
        "Cost",
        *(["Unpriced"] if unpriced else []),
    ):
        models.add_column(col, justify="left" if col == literal(label) else "right")
    shown = sorted(state.models.items(), key=lambda kv: -kv[1].tokens)[:12]
    money = usd_column(row.cost for _, row in shown)
    for name, row in shown:
        models.add_row(
            literal(name),
            count(row.requests),
            count(row.tokens),
            _rate(row),
            _money(row, money),
            *([count(row.unpriced) if row.unpriced else ""] if unpriced else []),
        )
    calls = Table(title="Last calls", title_justify="left")
    for col in ("Time", "Model", "Input", "Output", "Status", "Cost"):
        calls.add_column(col, justify="right" if col in ("Input", "Output", "Cost") else "left")
    call_money = usd_column(e["cost_usd"] for e in state.last_calls)
    for e in state.last_calls:
        status = "ok" if e["success"] else f"FAILED {literal(e.get('error_message') or '')}"
        if e.get("counts_unknown") is True:
            status += " (counts unknown)"
        calls.add_row(
            literal(_local_time(e["ts"], state.tz)),
            literal(e["model"]),
            count(e["prompt_tokens"]),
            count(e["completion_tokens"]),
            status,
            call_money(e["cost_usd"]),
        )
    err = state.last_error
    last_error = Text(
        "Last error: none"
        if err is None
        else f"Last error: {literal(_local_time(err['ts'], state.tz))} {literal(err['model'])}:"
        f" {literal(err.get('error_message') or 'unknown error')}",
        style="red" if err else "",
    )
    return Group(title, head, spark, models, calls, last_error)


def _local_time(ts: str, tz: _dt.tzinfo) -> str:
    try:
        instant = _dt.datetime.fromisoformat(ts)
    except ValueError:
        return ts
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=_dt.UTC)
    return f"{instant.astimezone(tz):%H:%M:%S}"


async def run(
    dirs: list[Path], source: str, tz: _dt.tzinfo, prices: PriceBook, by: str = "model"
) -> None:
    """The live screen over ``dirs`` until ``q`` (or Ctrl-C, which the caller takes): one
    ``aio.follow`` per directory feeds the state, redrawn four times a second."""
    import asyncio

    from rich.live import Live

    from asynctokens.read import aio
    from asynctokens.render import terminal

    now = _dt.datetime.now(_dt.UTC)
    state = LiveState(prices, tz, now, by=by)
    # today in the zone, and the hour before it for the per-minute line
    first_day = (min(state.day_start, now - _dt.timedelta(hours=1))).date().isoformat()
    quit_now = asyncio.Event()

    async def feed(path: Path) -> None:
        async for event in aio.follow(path, from_start=True, first_day=first_day):
            state.add(event)

    tasks = [asyncio.create_task(feed(d)) for d in dirs]
    with contextlib.ExitStack() as stack:
        stack.enter_context(_keys(asyncio.get_running_loop(), quit_now))
        console = terminal.console()
        with Live(view(state, source), console=console, auto_refresh=False) as screen:
            while not quit_now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(quit_now.wait(), 0.25)
                state.tick(_dt.datetime.now(_dt.UTC))
                screen.update(view(state, source), refresh=True)
    for task in tasks:
        task.cancel()


@contextlib.contextmanager
def _keys(loop: Any, quit_now: Any) -> Iterator[None]:
    """On a terminal: keys without Enter; ``q`` sets ``quit_now``. Restored on the way out."""
    if not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def on_key() -> None:
        if os.read(fd, 32).lower().startswith(b"q"):
            quit_now.set()

    loop.add_reader(fd, on_key)
    try:
        yield
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
