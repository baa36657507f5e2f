"""Every call as one CSV row, in a stable column order, priced at its own instant.

Spreadsheets run a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (CSV injection), and every text cell here came from outside: a model
name, a provider's error message, a request id. So by default such a text cell is written
with a leading ``'`` (OWASP's advice; spreadsheets hide it and show the text), and only in
text columns: counts, costs and times are never touched. ``neutralize=False`` (``export
--csv-raw``) writes text exactly, for tools that are no spreadsheet; the JSON export is
exact too.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Final

import orjson

from asynctokens.pricing import PriceBook
from asynctokens.record._format import EVENT_FIELDS, event_row

#: ``cost_usd`` is empty for a call no price covers, whose tokens ``unpriced_tokens`` gives
#: (0 for a priced call): a blank is never read as free, as in every report.
#: ``price_source`` names where the price came from (genai-prices and its version, a
#: ``--pricing`` file, a correction), empty when none. ``counts_unknown`` is true for a
#: call whose counts were not all known (written as 0): its cost is a lower bound.
COLUMNS: Final = (*EVENT_FIELDS, "cost_usd", "unpriced_tokens", "price_source")
_LABELS: Final = EVENT_FIELDS.index("labels")
_SUCCESS: Final = EVENT_FIELDS.index("success")
_UNKNOWN: Final = EVENT_FIELDS.index("counts_unknown")
_API: Final = EVENT_FIELDS.index("api_type")
_MODEL: Final = EVENT_FIELDS.index("model")
_SERVED: Final = EVENT_FIELDS.index("response_model")
_TOTAL: Final = EVENT_FIELDS.index("total_tokens")
_METADATA: Final = EVENT_FIELDS.index("metadata")
#: Columns of outside text (metadata is JSON text, which begins with "{").
_TEXT: Final = tuple(
    EVENT_FIELDS.index(name)
    for name in ("event_id", "ts", "api_type", "model", "error_message", "api_key_suffix",
                 "request_id", "host", "response_model", "service_tier")
)  # fmt: skip
_FORMULA: Final = ("=", "+", "-", "@", "\t", "\r")


def write(
    events: Iterable[dict[str, Any]], out: Any, prices: PriceBook, *, neutralize: bool = True
) -> int:
    """Write the header and one row per event to the text stream ``out``; return the rows.

    A row is the event's fields in one itemgetter call (csv writes None as an empty
    field), with success and counts_unknown as true/false and metadata as JSON: this loop
    runs once per call logged, so it does no per-field work it can avoid.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    rows = 0
    cost_of, row_of, dumps, text, formula = (
        prices.row_pricer(),
        event_row,
        orjson.dumps,
        _TEXT,
        _FORMULA,
    )
    sources: dict[tuple[str, str], str] = {}  # (api_type, model) -> its price's source
    for event in events:
        row = row_of(event)
        cost = cost_of(row)
        values = list(row)
        values[_SUCCESS] = "true" if values[_SUCCESS] else "false"
        values[_UNKNOWN] = "true" if values[_UNKNOWN] is True else "false"
        meta = values[_METADATA]
        values[_METADATA] = "{}" if meta is None or meta == {} else dumps(meta).decode()
        labels = values[_LABELS]
        values[_LABELS] = "" if not labels else dumps(labels).decode()
        if neutralize:
            for i in text:
                value = values[i]
                if value and value.startswith(formula):
                    values[i] = "'" + value
        if cost is None:
            values += ("", values[_TOTAL], "")
        else:
            key = (row[_API], row[_SERVED] or row[_MODEL])
            source = sources.get(key)
            if source is None:
                source = prices.source_of(*key) or ""  # a --pricing file's name: outside text
                if neutralize and source.startswith(formula):
                    source = "'" + source
                sources[key] = source
            values += (f"{cost:.8f}", 0, source)
        writer.writerow(values)
        rows += 1
    return rows
