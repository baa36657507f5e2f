"""The contenders: one way each of logging one LLM call's tokens, as its users would write it.

Every contender exposes the same three steps to the child runner:
``start(log_dir)`` returns a ``log(prompt_tokens, completion_tokens, api_type, model)`` callable,
``finish()`` drains and closes (timed as part of end-to-end), and ``count(log_dir)`` reads the
output back: how many valid lines, how many duplicates, how many garbled.

``prompt_tokens`` is the event's sequence number in every run, so a duplicate or a lost line
is visible in the files whatever the contender writes.

Async contenders (asynctokens' task path, trio, aiologger) run inside an event loop; their
child loop yields every ``YIELD_EVERY`` calls, as a real async app does between requests.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import queue
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from time import time_ns
from typing import Any

import orjson

LogFn = Callable[..., Any]
YIELD_EVERY = 500


class Contender:
    name = ""
    kind = "sync"  # "sync", "asyncio" or "trio": how the child drives it
    caller_only = False  # floor: nothing reaches a file
    e2e_events: int | None = None  # cap for slow contenders (None = the run's N)

    def start(self, log_dir: Path) -> LogFn:
        raise NotImplementedError

    def finish(self) -> Any:
        return None

    def count(self, log_dir: Path) -> tuple[int, int, int]:
        return count_json_lines(sorted(log_dir.glob("*.jsonl")), "prompt_tokens")


def count_json_lines(paths: list[Path], seq_field: str) -> tuple[int, int, int]:
    """(valid lines, duplicated sequence numbers, garbled lines) over the given files."""
    seen: set[int] = set()
    valid = dupes = bad = 0
    for path in paths:
        with path.open("rb") as f:
            for line in f:
                try:
                    obj = orjson.loads(line)
                    seq = _find(obj, seq_field)
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    bad += 1
                    continue
                if seq in seen:
                    dupes += 1
                else:
                    seen.add(seq)
                    valid += 1
    return valid, dupes, bad


def _find(obj: Any, field: str) -> int:
    """The field at the top level or nested one level down (loguru, aiologger nest extras)."""
    if field in obj:
        return int(obj[field])
    for value in obj.values():
        if isinstance(value, dict):
            if field in value:
                return int(value[field])
            for inner in value.values():
                if isinstance(inner, dict) and field in inner:
                    return int(inner[field])
    raise KeyError(field)


# -- asynctokens -------------------------------------------------------------------------------
class AsyncTokensThread(Contender):
    name = "asynctokens (thread worker)"

    def start(self, log_dir: Path) -> LogFn:
        from asynctokens import TokenTracker

        self.tracker = TokenTracker(log_dir, max_queue_events=2_000_000)
        return self.tracker.log

    def finish(self) -> Any:
        return self.tracker.close(timeout=600)


class AsyncTokensAsyncio(AsyncTokensThread):
    name = "asynctokens (asyncio task)"
    kind = "asyncio"

    async def astart(self, log_dir: Path) -> LogFn:
        from asynctokens import TokenTracker

        self.tracker = TokenTracker(log_dir, max_queue_events=2_000_000)
        await self.tracker.__aenter__()
        return self.tracker.log

    async def afinish(self) -> Any:
        return await self.tracker.__aexit__(None, None, None)


class AsyncTokensTrio(AsyncTokensAsyncio):
    name = "asynctokens (trio task)"
    kind = "trio"


# -- the limits -------------------------------------------------------------------------------
class Floor(Contender):
    """A plain function with log_tokens' signature: take a timestamp, append a tuple."""

    name = "floor: tuple onto a deque"
    caller_only = True

    def start(self, log_dir: Path) -> LogFn:
        q: deque[tuple[Any, ...]] = deque()
        self.q = q

        def log_tokens(
            prompt_tokens: int = 0,
            completion_tokens: int = 0,
            api_type: str = "gemini",
            model: str = "unknown",
            success: bool = True,
            error_message: str | None = None,
            *,
            cached_tokens: int = 0,
            cache_write_tokens: int = 0,
            reasoning_tokens: int = 0,
            latency_ms: float | None = None,
            api_key: str | None = None,
            request_id: str | None = None,
            metadata: dict[str, Any] | None = None,
            ts: Any = None,
        ) -> None:
            q.append(
                (
                    time_ns(), prompt_tokens, completion_tokens, api_type, model, success,
                    error_message, cached_tokens, cache_write_tokens, reasoning_tokens,
                    latency_ms, api_key, request_id, metadata,
                )
            )  # fmt: skip

        return log_tokens

    def count(self, log_dir: Path) -> tuple[int, int, int]:
        return len(self.q), 0, 0


class BareLimit(Contender):
    """End-to-end limit: the same dict per event, orjson into one bytearray, one write."""

    name = "limit: dict + orjson into one bytearray"

    def start(self, log_dir: Path) -> LogFn:
        self.buf = bytearray()
        self.path = log_dir / "limit.jsonl"
        buf, dumps, opt = self.buf, orjson.dumps, orjson.OPT_APPEND_NEWLINE
        pid = os.getpid()

        def log(prompt_tokens: int, completion_tokens: int, api_type: str, model: str) -> None:
            buf.extend(
                dumps(
                    {
                        "event_id": f"x-{prompt_tokens}",
                        "ts": "2026-11-23T14:26:18.123456+00:00",
                        "api_type": api_type,
                        "model": model,
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                        "cached_tokens": 0,
                        "cache_write_tokens": 0,
                        "reasoning_tokens": 0,
                        "success": True,
                        "error_message": None,
                        "latency_ms": None,
                        "api_key_suffix": None,
                        "request_id": None,
                        "metadata": {},
                        "pid": pid,
                    },
                    option=opt,
                )
            )

        return log

    def finish(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(self.buf)


# -- what users would otherwise pick --------------------------------------------------------------
class NaiveSync(Contender):
    """The seed's design: per call, json.dumps, open/append/close, read-modify-write stats."""

    name = "naive sync tracker"
    e2e_events = 20_000

    def start(self, log_dir: Path) -> LogFn:
        log_dir.mkdir(parents=True, exist_ok=True)
        stats_path = log_dir / "stats.json"

        def log(prompt_tokens: int, completion_tokens: int, api_type: str, model: str) -> None:
            event = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "api_type": api_type,
                "model": model,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "success": True,
            }
            day = time.strftime("%Y-%m-%d")
            with open(log_dir / f"tokens_{day}.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")
            try:
                stats = json.loads(stats_path.read_text())
            except FileNotFoundError:
                stats = {"total_tokens": 0, "requests": 0, "by_model": {}}
            stats["total_tokens"] += prompt_tokens + completion_tokens
            stats["requests"] += 1
            row = stats["by_model"].setdefault(model, {"tokens": 0, "requests": 0})
            row["tokens"] += prompt_tokens + completion_tokens
            row["requests"] += 1
            stats_path.write_text(json.dumps(stats))

        return log


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": self.formatTime(record),
                "message": record.getMessage(),
                **record.__dict__.get("tokens", {}),
            }
        )


class StdlibQueueHandler(Contender):
    name = "stdlib QueueHandler + QueueListener"

    def start(self, log_dir: Path) -> LogFn:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_dir / "stdlib.jsonl", encoding="utf-8")
        file_handler.setFormatter(_JsonFormatter())
        q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.listener = logging.handlers.QueueListener(q, file_handler)
        self.listener.start()
        self.file_handler = file_handler
        logger = logging.getLogger("bench.tokens")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(logging.handlers.QueueHandler(q))
        info = logger.info

        def log(prompt_tokens: int, completion_tokens: int, api_type: str, model: str) -> None:
            info(
                "llm_call",
                extra={
                    "tokens": {
                        "api_type": api_type,
                        "model": model,
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                    }
                },
            )

        return log

    def finish(self) -> Any:
        self.listener.stop()  # drains the queue
        self.file_handler.close()


class Loguru(Contender):
    name = "loguru enqueue=True"
    e2e_events = 100_000

    def start(self, log_dir: Path) -> LogFn:
        from loguru import logger

        logger.remove()
        self.sink = logger.add(
            str(log_dir / "loguru.jsonl"), enqueue=True, serialize=True, format="{message}"
        )
        self.logger = logger
        info = logger.info

        def log(prompt_tokens: int, completion_tokens: int, api_type: str, model: str) -> None:
            info(
                "llm_call",
                api_type=api_type,
                model=model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )

        return log

    def finish(self) -> Any:
        self.logger.remove(self.sink)  # joins the enqueue worker after draining


class Structlog(Contender):
    name = "structlog + orjson (sync)"

    def start(self, log_dir: Path) -> LogFn:
        import structlog

        log_dir.mkdir(parents=True, exist_ok=True)
        self.file = open(log_dir / "structlog.jsonl", "wb")  # noqa: SIM115 - closed in finish()
        structlog.configure(
            processors=[
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            logger_factory=structlog.BytesLoggerFactory(file=self.file),
            cache_logger_on_first_use=True,
        )
        info = structlog.get_logger().info

        def log(prompt_tokens: int, completion_tokens: int, api_type: str, model: str) -> None:
            info(
                "llm_call",
                api_type=api_type,
                model=model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )

        return log

    def finish(self) -> Any:
        self.file.close()


class Aiologger(Contender):
    """aiologger's fire-and-forget: ``logger.info()`` schedules a task and is not awaited."""

    name = "aiologger fire-and-forget"
    kind = "asyncio"
    e2e_events = 100_000

    async def astart(self, log_dir: Path) -> LogFn:
        from aiologger.formatters.json import JsonFormatter
        from aiologger.handlers.files import AsyncFileHandler
        from aiologger.loggers.json import JsonLogger

        log_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - setup, not timed
        self.logger = JsonLogger(name="bench", flatten=True)
        handler = AsyncFileHandler(str(log_dir / "aiologger.jsonl"))
        handler.formatter = JsonFormatter()
        self.logger.add_handler(handler)
        info = self.logger.info

        def log(prompt_tokens: int, completion_tokens: int, api_type: str, model: str) -> None:
            info(
                {
                    "api_type": api_type,
                    "model": model,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                }
            )

        return log

    async def afinish(self) -> Any:
        await self.logger.shutdown()


CONTENDERS: dict[str, type[Contender]] = {
    "asynctokens-thread": AsyncTokensThread,
    "asynctokens-asyncio": AsyncTokensAsyncio,
    "asynctokens-trio": AsyncTokensTrio,
    "floor": Floor,
    "limit": BareLimit,
    "naive": NaiveSync,
    "stdlib-queue": StdlibQueueHandler,
    "loguru": Loguru,
    "structlog": Structlog,
    "aiologger": Aiologger,
}
