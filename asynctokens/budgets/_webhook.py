"""Posting budget and alert events to a webhook, on a thread of its own.

A POST of the event as JSON to the URL the user configured (the one network use a tracker
makes, and only when asked), retried with backoff; a dead or slow endpoint holds only this
thread, never the writer nor the caller, and what it could not deliver is said in
token_debug.log. Built on the standard library's HTTP client.
"""

from __future__ import annotations

import queue
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any, Final

import orjson

from asynctokens.record import _threads

#: Attempts per event, the pause before each retry, and each attempt's timeout.
ATTEMPTS: Final = 3
BACKOFF_S: Final = (0.5, 2.0)
TIMEOUT_S: Final = 5.0
#: Events waiting beyond this are dropped (and said): a dead endpoint must not grow memory.
MAX_WAITING: Final = 100


class Poster:
    def __init__(self, url: str, debug: Callable[[str], None]) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"budget_webhook must be an http(s) URL, got {url!r}")
        self.url, self.debug = url, debug
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(MAX_WAITING)
        self._thread = threading.Thread(target=self._run, name="asynctokens-webhook", daemon=True)
        _threads.start(self._thread)

    def post(self, payload: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.failed += 1
            self.debug(f"webhook {self.url}: {MAX_WAITING} events waiting, one dropped")

    def stop(self, timeout: float) -> None:
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while (payload := self._queue.get()) is not None:
            self._deliver(payload)

    def _deliver(self, payload: dict[str, Any]) -> None:
        body = orjson.dumps(payload)
        last = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1])
            request = urllib.request.Request(  # the scheme is checked above
                self.url, data=body, method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "asynctokens"},
            )  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:
                    if 200 <= reply.status < 300:
                        self.sent += 1
                        return
                    last = f"HTTP {reply.status}"
            except OSError as exc:  # refused, timed out, HTTP errors (HTTPError is one)
                last = str(exc)
        self.failed += 1
        self.debug(f"webhook {self.url}: not delivered after {ATTEMPTS} attempts ({last})")
