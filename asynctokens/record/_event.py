"""The queued event record and the call-site checks behind ``log_tokens()``.

The hot path queues a plain tuple in the order of :data:`RECORD_FIELDS`: a tuple of atoms
is the cheapest thing to build and the garbage collector does not scan it (a backlog of
queued dicts caused 25 to 144 ms stalls, see docs/PERF.md). The dict and the text of the line are
built on the worker. The tracker inlines the cheap type test; the functions here run only
when that test fails or an optional argument was given, so their cost is off the hot path.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import operator
import time
from collections.abc import Mapping
from typing import Final, NamedTuple

import orjson

from asynctokens.record._dims import check_labels, merge_labels
from asynctokens.record._providers import provider_of


class TokenEvent(NamedTuple):
    """One logged call as the worker hands it to sinks: a queued record, with names.

    The hot path queues a plain tuple in this order (naming it there would cost a
    NamedTuple construction per call); sinks get it as ``TokenEvent._make(record)``.
    ``ts_ns`` is nanoseconds since the epoch (UTC), ``metadata_json`` the caller's metadata
    already serialised (or None), ``api_key_suffix`` at most the key's last 4 characters.
    """

    ts_ns: int
    prompt_tokens: int
    completion_tokens: int
    api_type: str
    model: str
    success: bool
    error_message: str | None
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    latency_ms: float | None
    api_key_suffix: str | None
    request_id: str | None
    metadata_json: str | None
    #: The model the reply says served the call, when it named one (``model`` is the one
    #: asked for); the service tier it reports; the caller's labels; of the cache writes,
    #: those kept for an hour (Anthropic bills them at 2x input, 5-minute ones at 1.25x);
    #: whether some count is unknown (the reply had none, or one nobody could read: those
    #: are 0 here, so the call's tokens and cost are a lower bound).
    response_model: str | None = None
    service_tier: str | None = None
    labels: Mapping[str, str] | None = None
    cache_write_1h_tokens: int = 0
    counts_unknown: bool = False


class Extra(NamedTuple):
    """A record's last value when any of these is known (None otherwise): kept apart so
    the common record stays a tuple of atoms. ``labels`` is checked and never changed
    after (``_dims.check_labels``): a ``labels()`` block queues its one dict each call."""

    response_model: str | None
    service_tier: str | None
    labels: Mapping[str, str] | None
    cache_write_1h: int = 0
    counts_unknown: bool = False


#: Position of each value in a queued record: TokenEvent's fields, except that the record
#: holds the caller's key string (a reference, only until the worker takes the record), which
#: the worker cuts to ``api_key_suffix`` before anything is written or handed to a sink.
RECORD_FIELDS: Final = (*TokenEvent._fields[:11], "api_key", *TokenEvent._fields[12:14], "extra")
#: A call with every optional argument at its default is queued as its first five values
#: (``BareRecord``): the cheapest tuple for the caller; the worker supplies the rest.
BARE_FIELDS: Final = RECORD_FIELDS[:5]
FullRecord = tuple[
    int,
    int,
    int,
    "str | None",  # api_type: None when the caller left it out (the worker reads the model)
    str,
    bool,
    "str | None",
    int,
    int,
    int,
    "float | None",
    "str | None",
    "str | None",
    "str | None",
    "Extra | None",
]
BareRecord = tuple[int, int, int, "str | None", str]
Record = FullRecord | BareRecord
#: The values a bare record leaves out, in RECORD_FIELDS order.
BARE_REST: Final = (True, None, 0, 0, 0, None, None, None, None, None)

#: Token counts at or above this are refused: no API call comes near it (2**40, about 10**12),
#: and keeping sums far below 2**63 means the files and stats stay within JSON's int range.
TOKENS_BITS: Final = 40
TOKENS_LIMIT: Final = 2**TOKENS_BITS
#: Longest error message kept: enough for "429 quota exceeded ..." and a provider's reason,
#: short enough that a response body pasted into it does not end up in the log.
MAX_ERROR_CHARS: Final = 500
#: Longest metadata kept, as JSON text: ids and labels fit many times over; a document pasted
#: in would make every line, the queue's memory and every report pay for it.
MAX_METADATA_CHARS: Final = 64 * 1024
#: Epoch seconds of 10000-01-01T00:00:00Z: the first instant no daily file name can hold.
MAX_EPOCH_S: Final = 253_402_300_800
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
#: Keys this short are not stored at all, since their last 4 characters are most of the key.
MIN_KEY_CHARS_FOR_SUFFIX: Final = 12
_TOKEN_FIELDS: Final = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def check_token_count(name: str, value: object) -> int:
    """``value`` as an int, or a TypeError/ValueError that names the field."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool {value!r}")
    try:
        count = operator.index(value)  # type: ignore[arg-type]  # int subclasses and numpy integers pass
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}") from None
    if count < 0:
        raise ValueError(f"{name} must be >= 0, got {count}")
    if count >= TOKENS_LIMIT:
        raise ValueError(
            f"{name} must be < {TOKENS_LIMIT:,} (no API call uses that many tokens), got {count}"
        )
    return count


def check_counts(
    prompt: object, completion: object, cached: object, cache_write: object, reasoning: object
) -> tuple[int, int, int, int, int]:
    """All five counts checked, and the parts checked against their wholes."""
    values = tuple(
        check_token_count(n, v)
        for n, v in zip(
            _TOKEN_FIELDS, (prompt, completion, cached, cache_write, reasoning), strict=True
        )
    )
    p, c, ca, cw, r = values
    if ca + cw > p:
        raise ValueError(
            f"cached_tokens ({ca}) + cache_write_tokens ({cw}) cannot exceed prompt_tokens ({p}):"
            " prompt_tokens counts all input, cached and cache-written included"
        )
    if r > c:
        raise ValueError(
            f"reasoning_tokens ({r}) cannot exceed completion_tokens ({c}):"
            " completion_tokens counts all output, reasoning included"
        )
    return p, c, ca, cw, r


def check_optional_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    return check_name(name, value)


def check_name(name: str, value: object) -> str:
    """``value`` as a plain ``str``: a subclass (a ``StrEnum`` member) is stored as its text."""
    if type(value) is str:
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    return str.__str__(value)  # the text itself, as an exact str (not the enum's repr)


def check_success(value: object) -> bool:
    if type(value) is not bool:
        raise TypeError(
            f"success must be a bool, got {type(value).__name__} {value!r}"
            " (pass success=False with an error_message for a failed call)"
        )
    return value


def check_error_message(value: object) -> str | None:
    text = check_optional_text("error_message", value)
    if text is not None and len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


def check_api_key(api_key: object) -> str | None:
    """The key as a plain ``str`` for the record (never its text in the message)."""
    if api_key is None or type(api_key) is str:
        return api_key
    if not isinstance(api_key, str):
        raise TypeError(f"api_key must be a str, got {type(api_key).__name__}")
    return str.__str__(api_key)


def key_suffix(api_key: str | None) -> str | None:
    """The last 4 characters of a key, never more; None for keys too short to hide.

    Run on the worker, for every record, before the key could reach a file or a sink.
    """
    if api_key is None or len(api_key) < MIN_KEY_CHARS_FOR_SUFFIX:
        return None
    return api_key[-4:]


def event_of(record: Record) -> TokenEvent:
    """The event a sink gets for a record: the bare form filled in, the key cut."""
    if len(record) == 5:  # a BareRecord
        ts, p, c, api, model = record
        if api is None:  # logged without api_type: the provider the model name says
            api = provider_of(model)
        return TokenEvent(ts, p, c, api, model, *BARE_REST[:-1])
    else:  # mypy narrows the union of tuple types only in an else branch
        (ts, p, c, api, model, success, error, cached, cache_write, reasoning, latency, api_key,
         request_id, metadata, extra) = record  # fmt: skip
    if api is None:
        api = provider_of(model)
    return TokenEvent(ts, p, c, api, model, success, error, cached, cache_write, reasoning,
                      latency, key_suffix(api_key), request_id, metadata,
                      *(extra or _NO_EXTRA))  # fmt: skip


_NO_EXTRA: Final = (None, None, None, 0, False)


def call_extra(
    context: Extra | None,
    labels: object,
    response_model: object,
    service_tier: object,
    cache_write_1h: object,
    counts_unknown: object = False,
) -> Extra | None:
    """A call's Extra: the ``labels()`` in force (``context``) when it passes none of
    its own fields, else :func:`build_extra`'s."""
    if (
        labels is None
        and response_model is None
        and service_tier is None
        and type(cache_write_1h) is int
        and cache_write_1h == 0
        and counts_unknown is False
    ):
        return context
    return build_extra(
        response_model, service_tier, labels, context, cache_write_1h, counts_unknown
    )


def build_extra(
    response_model: object,
    service_tier: object,
    labels: object,
    context: Extra | None,
    cache_write_1h: object = 0,
    counts_unknown: object = False,
) -> Extra | None:
    """The record's Extra from a call's arguments and the ``labels()`` in force (``context``,
    whose labels the call's own extend and override); None when nothing is known."""
    served = check_optional_text("response_model", response_model)
    tier = check_optional_text("service_tier", service_tier)
    one_hour = check_token_count("cache_write_1h_tokens", cache_write_1h)
    if counts_unknown is not True and counts_unknown is not False:
        raise TypeError(
            f"counts_unknown must be True or False, got {type(counts_unknown).__name__}"
            f" {counts_unknown!r:.80}"
        )
    merged = context.labels if context is not None else None
    if labels is not None:
        own = check_labels(labels)
        if own:
            merged = merge_labels(merged, own, "the labels() in force")
    if served is None and tier is None and not merged and not one_hour and not counts_unknown:
        return None
    return Extra(served, tier, merged or None, one_hour, counts_unknown)


def encode_metadata(metadata: object) -> str | None:
    """Metadata frozen to JSON text at the call site.

    Serialising here, not on the worker, means a caller that mutates its dict after the call
    cannot change what is logged, and an unserialisable value fails in the caller's frame
    with orjson's message, not later in the worker. Text rather than bytes, because orjson
    keeps a ~4 KiB buffer alive behind each bytes it returns (docs/PERF.md).
    """
    if metadata is None:
        return None
    if type(metadata) is not dict:
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    if not metadata:
        return None
    try:
        text = orjson.dumps(metadata).decode()
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"metadata cannot be stored as JSON: {exc}") from None
    if len(text) > MAX_METADATA_CHARS:
        raise ValueError(
            f"metadata is {len(text):,} characters as JSON, over the {MAX_METADATA_CHARS:,}"
            " allowed: keep ids and labels there, not documents (prompts and responses are"
            " never logged)"
        )
    return text


def check_latency(value: object) -> float | None:
    """A float >= 0; any real number type is taken (numpy's float32 and int64 register as such)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"latency_ms must be a number, got {type(value).__name__} {value!r}")
    latency = float(value)
    if not math.isfinite(latency) or latency < 0:
        raise ValueError(f"latency_ms must be a finite number >= 0, got {value!r}")
    return latency


def timestamp_ns(ts: object) -> int:
    """A caller-supplied event time as integer nanoseconds since the epoch, UTC.

    Checked here, at the call, against the range every reader and daily file name can hold
    (1970 to the end of 9999): a time the worker could not turn into a day must not reach it.
    """
    if isinstance(ts, _dt.datetime):
        if ts.tzinfo is None:
            raise ValueError("ts must be timezone-aware (e.g. datetime.now(timezone.utc))")
        delta = ts - _EPOCH
        if delta.days < 0:
            raise ValueError(f"ts must be in 1970 or later, got {ts.isoformat()}")
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(ts, bool) or not isinstance(ts, numbers.Real):
        raise TypeError(
            f"ts must be an aware datetime or epoch seconds, got {type(ts).__name__} {ts!r}"
        )
    seconds = float(ts)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"ts must be finite epoch seconds >= 0, got {ts!r}")
    if seconds >= MAX_EPOCH_S:
        hint = (
            " (that looks like epoch milliseconds: divide by 1000)"
            if seconds / 1000 < MAX_EPOCH_S
            else ""
        )
        raise ValueError(
            f"ts must be epoch seconds before the year 10000 (< {MAX_EPOCH_S:,}), got {ts!r}{hint}"
        )
    return round(seconds * 1_000_000) * 1000


def build_record(
    prompt_tokens: object,
    completion_tokens: object,
    api_type: object,
    model: object,
    success: object,
    error_message: object,
    cached_tokens: object,
    cache_write_tokens: object,
    reasoning_tokens: object,
    latency_ms: object,
    api_key: object,
    request_id: object,
    metadata: object,
    ts: object,
    extra: Extra | None = None,
) -> FullRecord:
    """The record of one call with every argument checked; raises on the first bad one.
    ``extra`` comes checked (:func:`build_extra`)."""
    p, c, cached, cache_write, reasoning = check_counts(
        prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens
    )
    if extra is not None and extra.cache_write_1h > cache_write:
        raise ValueError(
            f"cache_write_1h_tokens ({extra.cache_write_1h}) cannot exceed cache_write_tokens"
            f" ({cache_write}): those are all the cache writes, 1-hour ones included"
        )
    return (
        time.time_ns() if ts is None else timestamp_ns(ts),
        p,
        c,
        provider_of(check_name("model", model))
        if api_type is None
        else check_name("api_type", api_type),
        check_name("model", model),
        check_success(success),
        check_error_message(error_message),
        cached,
        cache_write,
        reasoning,
        check_latency(latency_ms),
        check_api_key(api_key),
        check_optional_text("request_id", request_id),
        encode_metadata(metadata),
        extra,
    )
