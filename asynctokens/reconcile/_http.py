"""The provider's usage and cost pages, fetched whole: followed to the last page, 429 and 5xx
retried with backoff within a total time limit, every failure one line saying what to do.

The only code of the package, with ``--update-prices``, that opens a network connection, and
only when ``asynctokens reconcile`` runs without ``--from``. The admin key is sent in a
header and never printed, logged or written.
"""

from __future__ import annotations

import email.utils
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from asynctokens._errors import AsyncTokensError

#: The whole fetch (every page, every retry) gives up after this long.
TOTAL_S: Final = 120.0
_FIRST_WAIT_S: Final = 1.0
_MAX_WAIT_S: Final = 30.0
_MAX_PAGES: Final = 10_000


class ReconcileError(AsyncTokensError):
    """A provider's report could not be fetched or read: the message says why and what to do."""


def pages(
    url: str,
    params: Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    denied: str,
    total_s: float = TOTAL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Every page of a paged report (``has_more``/``next_page``), in order.

    ``denied`` is what a 401/403 means for this provider (which key and permission).
    """
    deadline = time.monotonic() + total_s
    page: str | None = None
    for _ in range(_MAX_PAGES):
        query = dict(params)
        if page is not None:
            query["page"] = page
        doc = _get(url, query, headers, deadline, denied, sleep)
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise ReconcileError(f"{_host(url)} answered with no 'data' list: not a usage report")
        yield doc
        if doc.get("has_more") is not True:
            return
        page = doc.get("next_page")
        if not isinstance(page, str) or not page:
            raise ReconcileError(f"{_host(url)} said it has more pages but gave no next_page")
    raise ReconcileError(f"{_host(url)} kept sending pages past {_MAX_PAGES}: stopped")


def _get(
    url: str,
    query: Mapping[str, Any],
    headers: Mapping[str, str],
    deadline: float,
    denied: str,
    sleep: Callable[[float], None],
) -> Any:
    full = f"{url}?{urllib.parse.urlencode(query, doseq=True)}"
    wait = _FIRST_WAIT_S
    while True:
        request = urllib.request.Request(full, headers=dict(headers), method="GET")
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReconcileError(f"{_host(url)} did not answer in time ({TOTAL_S:g} s in all)")
        try:
            with urllib.request.urlopen(request, timeout=min(left, 60)) as reply:
                body = reply.read()
            try:
                return json.loads(body)
            except ValueError:
                raise ReconcileError(f"{_host(url)} answered with something not JSON") from None
        except urllib.error.HTTPError as exc:
            status = exc.code
            if status in (401, 403):
                raise ReconcileError(
                    f"{_host(url)} refused the key (HTTP {status}): {denied}"
                ) from None
            if status != 429 and status < 500:
                raise ReconcileError(
                    f"{_host(url)} answered HTTP {status}: {_reason(exc)}"
                ) from None
            pause = _retry_after(exc.headers.get("Retry-After")) or wait
            wait = min(wait * 2, _MAX_WAIT_S)
            if time.monotonic() + pause >= deadline:
                raise ReconcileError(
                    f"{_host(url)} kept answering HTTP {status} until the time limit; try again"
                    " later"
                ) from None
            sleep(pause)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReconcileError(
                f"cannot reach {_host(url)}: {reason} (check the network, or --base-url)"
            ) from None


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        doc = json.loads(exc.read())
        error = doc.get("error") if isinstance(doc, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        return str(message or exc.reason)[:300]
    except Exception:  # a body we cannot read says less, not nothing
        return str(exc.reason)[:300]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds, or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url
