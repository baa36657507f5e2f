"""One frozen, validated set of tracker options.

Every option is checked when a config is made (``ValueError("flush_interval_s must be > 0,
got 0")``), so a bad value fails where it is written, not on the worker later.
``configure()`` changes the default tracker's options with :meth:`TrackerConfig.merged`:
the options not given keep their value, and nothing changes unless all are valid.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from asynctokens.budgets import Alert, Budget, BudgetEvent
from asynctokens.record._dims import is_label_key
from asynctokens.record._event import MAX_METADATA_CHARS
from asynctokens.sinks import Sink

OverflowPolicy = Literal["block", "drop"]


@dataclass(frozen=True)
class TrackerConfig:
    """A tracker's options; see ``TokenTracker`` for what each one does."""

    log_dir: str | os.PathLike[str] | None = None
    batch_size: int = 2000
    flush_interval_s: float = 0.01
    stats_interval_s: float = 5.0
    max_queue_events: int = 200_000
    overflow: OverflowPolicy = "block"
    block_timeout_s: float = 1.0
    close_timeout_s: float = 10.0
    file_mode: int = 0o600
    dir_mode: int = 0o700
    sinks: Sequence[Sink] = ()
    #: How long a sink's export() may run, and at close how long a sink may take to drain
    #: without progress, before it is said (and at close left behind).
    sink_timeout_s: float = 5.0
    #: The host each line names: True for this machine's hostname, a string for a name of
    #: your own (a pod or service name), False to leave the field out.
    host: str | bool = True
    #: The queue's bound in bytes of metadata (the one part of an event a caller can make
    #: large, up to 64 KiB each): 64 MiB by default. Past it, events with metadata are
    #: handled as on a full queue; events without wait for nothing.
    max_queue_bytes: int = 64 * 1024 * 1024
    #: Budgets and alerts held against the directory's totals by a thread of the tracker
    #: (asynctokens.budgets); each threshold crossed calls ``on_budget`` (on that thread)
    #: and, with ``budget_webhook``, is POSTed there as JSON; checked at most every
    #: ``budget_interval_s``.
    budgets: Sequence[Budget] = ()
    alerts: Sequence[Alert] = ()
    on_budget: Callable[[BudgetEvent], None] | None = None
    budget_webhook: str | None = None
    budget_interval_s: float = 2.0
    #: The label keys the stats keep as report dimensions (None: every key): reports by
    #: these are sums of the stats; by another key, they read the lines (exact, slower).
    #: Declare them when labels carry ids of many values nobody groups by.
    label_keys: Sequence[str] | None = None

    def __post_init__(self) -> None:
        keys = self.label_keys
        if keys is not None:
            if isinstance(keys, str) or not all(
                isinstance(k, str) and is_label_key(k) for k in keys
            ):
                raise ValueError(
                    f"label_keys must be a list of label keys (names of up to 64 letters,"
                    f" digits, _ . -; not a report dimension's name), got {keys!r}"
                )
            object.__setattr__(self, "label_keys", tuple(sorted(set(keys))))
        host = self.host
        if not isinstance(host, (str, bool)) or (
            isinstance(host, str)
            and not (0 < len(host) <= 255 and host.isprintable() and host.strip() == host)
        ):
            raise ValueError(
                "host must be True (this machine's name), False (no host field) or a"
                f" printable name of 1 to 255 characters without surrounding spaces, got {host!r}"
            )
        for sink in self.sinks:
            if not callable(getattr(sink, "export", None)) or not callable(
                getattr(sink, "shutdown", None)
            ):
                raise TypeError(
                    f"each sink needs export(events) and shutdown() methods, got {sink!r}"
                    " (see asynctokens.sinks.Sink)"
                )
        for name in ("batch_size", "max_queue_events", "file_mode", "dir_mode"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for kind, name in ((Budget, "budgets"), (Alert, "alerts")):
            if not all(isinstance(b, kind) for b in getattr(self, name)):
                raise TypeError(f"{name} must be a list of asynctokens.{kind.__name__}")
        if self.on_budget is not None and not callable(self.on_budget):
            raise TypeError(f"on_budget must be callable, got {self.on_budget!r}")
        hook = self.budget_webhook
        if hook is not None and not (
            isinstance(hook, str) and hook.startswith(("http://", "https://"))
        ):
            raise ValueError(f"budget_webhook must be an http(s) URL, got {hook!r}")
        for name in ("flush_interval_s", "stats_interval_s", "close_timeout_s", "sink_timeout_s",
                     "budget_interval_s"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        timeout = self.block_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise ValueError(f"block_timeout_s must be >= 0, got {timeout!r}")
        if self.overflow not in ("block", "drop"):
            raise ValueError(f"overflow must be 'block' or 'drop', got {self.overflow!r}")
        value = self.max_queue_bytes
        if isinstance(value, bool) or not isinstance(value, int) or value < MAX_METADATA_CHARS:
            raise ValueError(
                f"max_queue_bytes must be an int >= {MAX_METADATA_CHARS:,} (one event's largest"
                f" metadata), got {value!r}"
            )
        if self.max_queue_events < self.batch_size:
            raise ValueError(
                f"max_queue_events ({self.max_queue_events}) must be >= batch_size"
                f" ({self.batch_size}): a queue smaller than one batch drops events on a"
                " healthy disk"
            )
        # one type per option from here on: floats for the intervals, a tuple of sinks
        for name in ("flush_interval_s", "stats_interval_s", "close_timeout_s", "block_timeout_s",
                     "sink_timeout_s", "budget_interval_s"):  # fmt: skip
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("sinks", "budgets", "alerts"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def merged(self, **changes: Any) -> TrackerConfig:
        """This config with ``changes`` applied; an unknown name is a ``TypeError``."""
        unknown = sorted(set(changes) - set(OPTION_NAMES))
        if unknown:
            raise TypeError(f"unknown options {unknown}; known: {list(OPTION_NAMES)}")
        return replace(self, **changes)


#: Every option, in the order ``TokenTracker`` takes them.
OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(TrackerConfig))
