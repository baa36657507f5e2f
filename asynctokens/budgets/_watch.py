"""The thread that holds budgets and alerts against the directory's totals.

It reads what every process wrote (the stats, through the read side, as a report does) on
its own thread: never the caller's, never an event loop. The worker pokes it after each
stats update; it checks at most every ``interval_s`` however often it is poked, so a busy
writer costs it nothing more. A threshold fires once per period for the whole directory:
the first process to see it crossed claims it in ``token_budgets.json`` under a lock, and
every other process sees the claim and stays quiet.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from asynctokens._errors import BudgetExceededError, NothingMatchedError
from asynctokens.budgets._types import Alert, Budget, BudgetEvent
from asynctokens.budgets._webhook import Poster
from asynctokens.record import _files, _threads

CLAIMS_FILE: Final = "token_budgets.json"
_LOCK_FILE: Final = ".token_budgets.lock"
#: Claims older than this are dropped when the file is rewritten (a month and some).
_KEEP: Final = _dt.timedelta(days=40)


def period_start(budget: Budget, now: _dt.datetime) -> _dt.datetime:
    """The first instant of the budget's current period (its window, when rolling)."""
    if isinstance(budget.per, _dt.timedelta):
        return now - budget.per
    from asynctokens.read.reader import get_timezone

    local = now.astimezone(get_timezone(budget.timezone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if budget.per == "month":
        start = start.replace(day=1)
    return start


def _is_class(error: str | None, errors: str) -> bool:
    if errors == "any":
        return True
    text = (error or "").lower()
    if errors == "429":
        return text.startswith("429") or "rate limit" in text or "quota" in text
    return len(text) >= 3 and text[0] == "5" and text[:3].isdigit()


class Watcher:
    """Budgets and alerts of one tracker; ``poke()`` from the worker, ``gate()`` from the
    SDK wrappers, ``stop()`` at close."""

    def __init__(
        self,
        log_dir: Path,
        budgets: Sequence[Budget],
        alerts: Sequence[Alert],
        *,
        on_event: Callable[[BudgetEvent], None] | None,
        webhook: str | None,
        debug: Callable[[str], None],
        interval_s: float,
        file_mode: int = 0o600,
        clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC),
    ) -> None:
        self.log_dir, self.budgets, self.alerts = log_dir, tuple(budgets), tuple(alerts)
        self.on_event, self.debug, self.interval_s = on_event, debug, interval_s
        self.file_mode, self.clock = file_mode, clock
        self.poster = None if webhook is None else Poster(webhook, debug)
        #: enforced budgets that are spent: name -> the event that said so
        self.blocked: dict[str, BudgetEvent] = {}
        self.fired: deque[BudgetEvent] = deque(maxlen=20)
        self.checks = 0
        self.errors = 0
        self._prices: Any = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._last = 0.0
        self._thread = threading.Thread(target=self._run, name="asynctokens-budgets", daemon=True)

    def start(self) -> None:
        _threads.start(self._thread)

    def poke(self) -> None:
        """The directory changed (a stats update): check soon. Costs the worker one set()."""
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """A last check (what this process wrote last counts too), then the thread ends;
        the webhook gets ``timeout`` to post what is queued."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        if self.poster is not None:
            self.poster.stop(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            stopping = self._stopping.is_set()
            wait = self._last + self.interval_s - time.monotonic()
            if wait > 0 and not stopping and self._stopping.wait(wait):
                stopping = True
            self._last = time.monotonic()
            self.check()
            if stopping:
                return

    # -- the checks ----------------------------------------------------------------------------
    def check(self) -> None:
        """Every budget and alert once; an error is counted and said, never raised."""
        now = self.clock()
        self.checks += 1
        for budget in self.budgets:
            try:
                self._check_budget(budget, now)
            except Exception as exc:  # a damaged file must not end the watch
                self.errors += 1
                self.debug(f"budget {budget.name}: could not check it: {exc!r}")
        for alert in self.alerts:
            try:
                self._check_alert(alert, now)
            except Exception as exc:
                self.errors += 1
                self.debug(f"alert {alert.name}: could not check it: {exc!r}")

    def _query(self, where: Mapping[str, str], since: _dt.datetime) -> Any:
        from asynctokens.pricing import PriceBook
        from asynctokens.read import summary

        if self._prices is None:
            self._prices = PriceBook()
        rows = {"model": "models", "provider": "apis", "host": "hosts"}
        filters: dict[str, Any] = {rows[k]: [v] for k, v in where.items() if k in rows}
        labels = {k: v for k, v in where.items() if k not in rows}
        return summary.Query(log_dir=self.log_dir, since=since.isoformat(),
                             prices=self._prices, where=labels or None, **filters)  # fmt: skip

    def spent(self, budget: Budget, now: _dt.datetime) -> tuple[float, _dt.datetime]:
        """USD spent in the budget's current period by every process of the directory."""
        from asynctokens.read import summary
        from asynctokens.read._grouping import group

        start = period_start(budget, now)
        query = self._query(budget.where or {}, start)
        try:
            agg = summary.load(query)
        except NothingMatchedError:
            return 0.0, start  # nothing the where selects yet
        return float(group(agg, query.prices, None).total["cost_usd"]), start

    def _check_budget(self, budget: Budget, now: _dt.datetime) -> None:
        spent, start = self.spent(budget, now)
        rolling = isinstance(budget.per, _dt.timedelta)
        for fraction in budget.thresholds:
            key = f"{budget.name}|{'rolling' if rolling else start.isoformat()}|{fraction:g}"
            crossed = spent >= fraction * budget.usd
            if rolling and not crossed:
                self._release(key)  # the window moved on: the next crossing fires again
            if not crossed or not self._claim(key, now):
                continue
            what = "passed" if fraction >= 1 else f"{fraction:.0%} reached"
            where = "".join(f" {k}={v}" for k, v in (budget.where or {}).items())
            self._fire(BudgetEvent(
                kind="budget", name=budget.name or "", threshold=fraction,
                message=f"budget {budget.name}{where} {what}: ${spent:,.2f} spent of"
                        f" ${budget.usd:,.2f} per {budget.per} (since {start.isoformat()})",
                spent_usd=round(spent, 6), limit_usd=budget.usd, period_start=start.isoformat(),
                where=dict(budget.where or {}), at=now.isoformat(),
            ))  # fmt: skip
        if budget.enforce:
            if spent >= budget.usd:
                self.blocked[budget.name or ""] = BudgetEvent(
                    kind="budget", name=budget.name or "", threshold=1.0,
                    message=f"budget {budget.name} is spent: ${spent:,.2f} of ${budget.usd:,.2f}"
                            f" per {budget.per} since {start.isoformat()}",
                    spent_usd=round(spent, 6), limit_usd=budget.usd,
                    period_start=start.isoformat(), where=dict(budget.where or {}),
                    at=now.isoformat(),
                )  # fmt: skip
            else:
                self.blocked.pop(budget.name or "", None)

    def _check_alert(self, alert: Alert, now: _dt.datetime) -> None:
        from asynctokens.read import summary
        from asynctokens.record._lines import ReadReport

        query = self._query(alert.where or {}, now - alert.window)
        requests, failing = 0, Counter[str]()
        try:
            for event in summary.iter_filtered(query, ReadReport()):
                requests += 1
                if not event["success"] and _is_class(event.get("error_message"), alert.errors):
                    failing[str(event.get("error_message") or "(no message)")] += 1
        except NothingMatchedError:
            return
        rate = sum(failing.values()) / requests if requests else 0.0
        key = f"{alert.name}|on"
        if requests < alert.min_requests or rate < alert.error_rate:
            self._release(key)
            return
        if not self._claim(key, now):
            return
        top = failing.most_common(1)[0][0] if failing else None
        self._fire(BudgetEvent(
            kind="alert", name=alert.name or "", threshold=alert.error_rate,
            message=f"alert {alert.name}: {rate:.0%} of {requests} calls in the last"
                    f" {alert.window} failed ({alert.errors}); most often: {top}",
            error_rate=round(rate, 4), requests=requests, top_error=top,
            where=dict(alert.where or {}), at=now.isoformat(),
        ))  # fmt: skip

    def _fire(self, event: BudgetEvent) -> None:
        self.fired.append(event)
        self.debug(event.message)
        if self.poster is not None:
            self.poster.post(event.as_json())
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception as exc:  # the user's callback must not end the watch
                self.errors += 1
                self.debug(f"on_budget raised {exc!r} for: {event.message}")

    # -- once per directory --------------------------------------------------------------------
    def _claim(self, key: str, now: _dt.datetime) -> bool:
        """True for the one process that records ``key`` first (under the directory's lock)."""
        return self._edit(key, now, add=True)

    def _release(self, key: str) -> None:
        self._edit(key, self.clock(), add=False)

    def _edit(self, key: str, now: _dt.datetime, *, add: bool) -> bool:
        path = self.log_dir / CLAIMS_FILE
        _files.ensure_dir(self.log_dir, 0o700)
        with _files.locked_file(self.log_dir / _LOCK_FILE, self.file_mode):
            try:
                claims = orjson.loads(path.read_bytes())
                if not isinstance(claims, dict):
                    claims = {}
            except (OSError, orjson.JSONDecodeError):
                claims = {}
            if add == (key in claims):
                return False
            if add:
                claims[key] = now.isoformat()
            else:
                del claims[key]
            oldest = (now - _KEEP).isoformat()
            claims = {k: v for k, v in claims.items() if isinstance(v, str) and v >= oldest}
            _files.replace_atomically(path, orjson.dumps(claims), self.file_mode)
            return True

    # -- enforcement ---------------------------------------------------------------------------
    def gate(self, api_type: str, model: str | None, labels: Mapping[str, str]) -> None:
        """BudgetExceededError when an enforced budget that selects this call is spent."""
        for event in list(self.blocked.values()):
            if all(_value(key, api_type, model, labels) == v for key, v in event.where.items()):
                raise BudgetExceededError(
                    f"{event.message}: the call was not sent (Budget(enforce=True); raise the"
                    " budget or wait for the next period)"
                )


def _value(key: str, api_type: str, model: str | None, labels: Mapping[str, str]) -> str | None:
    if key == "model":
        return model
    if key == "provider":
        return api_type
    return labels.get(key)


def watcher_for(config: Any, log_dir: Path, debug: Callable[[str], None]) -> Watcher | None:
    """A started watcher for a tracker's config (``TrackerConfig``), or None without budgets
    and alerts."""
    if not (config.budgets or config.alerts):
        return None
    watcher = Watcher(
        log_dir, config.budgets, config.alerts, on_event=config.on_budget,
        webhook=config.budget_webhook, debug=debug, interval_s=config.budget_interval_s,
        file_mode=config.file_mode,
    )  # fmt: skip
    watcher.start()
    return watcher


def gate(watcher: Watcher | None, api_type: str, model: str | None) -> None:
    """BudgetExceededError when an enforced budget covering this call (its provider, model
    and the labels in force) is spent; one test when none is."""
    if watcher is not None and watcher.blocked:
        from asynctokens.record._context import current_labels

        watcher.gate(api_type, model, current_labels())
