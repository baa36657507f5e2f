"""What a line says besides its provider, model and host that reports group and price by:
the served model, the service tier and the caller's labels (docs/FORMAT.md), and whether
its counts are known (reports count the calls whose counts are not, and say so).

The stats keep them as one text per cell, :func:`dims_text`, so two lines with the same
dimensions fall in one cell and a report reads them back with :func:`parse_dims`. The text
is canonical (sorted keys, what says nothing left out), so the writer's fold and a reader's
fold of the same line always agree on its cell.

Labels are checked here too, at the call (``check_labels``): they become stats dimensions
and CLI arguments, so their keys are short names and their count and sizes are bounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final, NamedTuple

import orjson

#: Most labels one event may carry, and the longest key and value (characters).
MAX_LABELS: Final = 16
MAX_LABEL_KEY: Final = 64
MAX_LABEL_VALUE: Final = 256
#: A label key: a name a shell, a CSV header and a ``--by`` argument all take as it is.
_KEY_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
#: Names reports group by that a label may not take (``--by model`` must stay unambiguous).
RESERVED_KEYS: Final = frozenset(
    {
        "model", "response-model", "response_model", "provider", "api", "api_type", "host",
        "day", "week", "month", "hour", "tier", "service-tier", "service_tier",
    }
)  # fmt: skip
#: The tiers each provider bills at its list prices: a cell at one of them keeps no tier
#: (a line without ``service_tier`` was served at one, or its reply did not say).
STANDARD_TIERS: Final = frozenset({"default", "standard", "auto", "on_demand"})


class Dims(NamedTuple):
    """A cell's dimensions, read back from its text: what :func:`dims_text` wrote."""

    response_model: str | None
    service_tier: str | None
    labels: Mapping[str, str]
    counts_unknown: bool = False


NO_DIMS: Final = Dims(None, None, {})


def check_labels(labels: object, name: str = "labels") -> dict[str, str]:
    """``labels`` as a plain ``dict[str, str]``, or a TypeError/ValueError saying what is
    wrong: at most MAX_LABELS, keys names (letters, digits, ``_ . -``, not a reserved report
    name), values non-empty text of at most MAX_LABEL_VALUE characters."""
    if not isinstance(labels, Mapping):
        raise TypeError(f"{name} must be a dict of str to str, got {type(labels).__name__}")
    if len(labels) > MAX_LABELS:
        raise ValueError(
            f"{name} has {len(labels)} labels, over the {MAX_LABELS} allowed per event:"
            " put identifiers that need no report of their own in metadata"
        )
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be str, got {type(key).__name__} {key!r}")
        if not is_label_key(key):
            if key in RESERVED_KEYS:
                raise ValueError(
                    f"label key {key!r} is a name reports already group by: choose another"
                    " (e.g. 'app_model')"
                )
            raise ValueError(
                f"label key {key[:80]!r} is not a name: use up to {MAX_LABEL_KEY} letters,"
                " digits, '_', '.' or '-', starting with a letter or '_'"
            )
        if not isinstance(value, str):
            raise TypeError(
                f"label {key!r} must be a str, got {type(value).__name__} {value!r:.80}"
            )
        if not value or len(value) > MAX_LABEL_VALUE:
            raise ValueError(
                f"label {key!r} must be 1 to {MAX_LABEL_VALUE} characters, got {len(value)}"
            )
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"label {key!r} is not valid Unicode text") from None
        out[str.__str__(key)] = str.__str__(value)
    return out


def merge_labels(
    outer: Mapping[str, str] | None, own: Mapping[str, str], outer_is: str
) -> dict[str, str]:
    """``outer``'s labels with ``own``'s added (``own`` wins on a key), or a ValueError when
    together they are more than MAX_LABELS (``outer_is`` says whose ``outer`` are)."""
    merged = {**(outer or {}), **own}
    if len(merged) > MAX_LABELS:
        raise ValueError(
            f"{len(merged)} labels with those of {outer_is}, over the {MAX_LABELS} allowed"
            " per event"
        )
    return merged


def is_label_key(name: str) -> bool:
    """Whether ``name`` could be a label's key (what ``check_labels`` lets through)."""
    return (
        len(name) <= MAX_LABEL_KEY
        and _KEY_RE.fullmatch(name) is not None
        and name not in RESERVED_KEYS
    )


def dims_text(
    model: str,
    response_model: str | None,
    service_tier: str | None,
    labels: Mapping[str, str] | None,
    counts_unknown: bool = False,
) -> str:
    """The canonical text of a line's dimensions ("" when it has none): the served model
    when it differs from the requested one, the tier when not a standard one, the labels,
    and ``"u": true`` when some count is unknown (its cell then holds only such lines)."""
    doc: dict[str, Any] = {}
    if labels:
        doc["l"] = labels
    if response_model is not None and response_model != model:
        doc["r"] = response_model
    if service_tier is not None and service_tier not in STANDARD_TIERS:
        doc["t"] = service_tier
    if counts_unknown:
        doc["u"] = True
    if not doc:
        return ""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()


def carries_labels(dims: str) -> bool:
    """Whether a dims text holds labels (sorted keys: ``"l"``, when there, comes first)."""
    return dims.startswith('{"l":')


def only_label_keys(dims: str, keys: frozenset[str] = frozenset()) -> str:
    """``dims`` with only the labels of ``keys`` (by default none: what a report that
    groups by no label needs of a cell, whose served model and tier price it)."""
    if not carries_labels(dims):
        return dims
    doc = orjson.loads(dims)
    labels = {k: v for k, v in doc["l"].items() if k in keys}
    if labels:
        doc["l"] = labels
    else:
        del doc["l"]
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode() if doc else ""


def line_dims(model: str, obj: dict[str, Any]) -> str | None:
    """The dimensions text of a parsed line, or None when one of its fields is of a shape
    no writer writes (the line is then invalid)."""
    response_model = obj.get("response_model")
    tier = obj.get("service_tier")
    labels = obj.get("labels")
    unknown = obj.get("counts_unknown", False)
    if response_model is None and tier is None and labels is None and unknown is False:
        return ""
    if unknown is not True and unknown is not False:
        return None
    if not (response_model is None or type(response_model) is str) or not (
        tier is None or type(tier) is str
    ):
        return None
    if labels is not None and (
        type(labels) is not dict
        or len(labels) > MAX_LABELS
        or not all(type(k) is str and type(v) is str for k, v in labels.items())
    ):
        return None
    return dims_text(model, response_model, tier, labels, unknown)


@lru_cache(maxsize=65536)
def parse_dims(text: str) -> Dims:
    """A cell's dimensions from their text (cached: a report meets each text many times)."""
    if not text:
        return NO_DIMS
    doc = orjson.loads(text)
    return Dims(doc.get("r"), doc.get("t"), doc.get("l") or {}, doc.get("u", False))


def dim_value(model: str, dims: str, key: str) -> str | None:
    """A cell's value for a report dimension: ``response-model`` (the served model, else the
    requested one), ``service-tier`` (``standard`` when it keeps none) or a label key (None
    when the cell's lines carry no such label)."""
    d = parse_dims(dims)
    if key == "response-model":
        return d.response_model or model
    if key == "service-tier":
        return d.service_tier or "standard"
    return d.labels.get(key)
