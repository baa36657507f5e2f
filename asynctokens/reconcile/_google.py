"""Google: the Gemini API has no usage API; a Cloud Billing export says what was billed.

Read from a CSV of the cost table (the Console's export: ``Service description``, ``SKU
description``, ``Usage start date``, ``Usage amount``, ``Usage unit``, ``Cost ($)``) or of the
BigQuery standard usage cost export (``service.description``, ``sku.description``,
``usage_start_time``, ``usage.amount``, ``usage.unit``, ``cost``, ``currency``): column names
are matched without case or punctuation. Rows of the Gemini API (and Vertex AI's Gemini SKUs)
are kept; each SKU names its model and token class (``Gemini 2.5 Flash Input Text Tokens``):
input, cached input, output (thinking included), priced per token count. A SKU that names no
token class (cache storage, grounding) adds its cost only. No request counts.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
import re
from pathlib import Path
from typing import Final

from asynctokens.reconcile._http import ReconcileError
from asynctokens.reconcile._providers import Counts, Key

_MODEL: Final = re.compile(r"gemini[\s-]+(\d+(?:\.\d+)?)[\s-]+(flash[\s-]+lite|flash|pro)", re.I)
_SERVICES: Final = ("gemini", "generative language", "vertex ai")
_COLUMNS: Final = {
    "service": ("service_description", "service"),
    "sku": ("sku_description", "sku"),
    "start": ("usage_start_time", "usage_start_date", "usage_start"),
    "amount": ("usage_amount",),
    "unit": ("usage_unit",),
    "cost": ("unrounded_cost", "cost"),
    "currency": ("currency",),
}


def _name(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.lower().replace("($)", "")).strip("_")


def rows_from_billing_export(path: str | os.PathLike[str]) -> dict[Key, Counts]:
    """Per (UTC day, model): the Gemini tokens and cost a billing export holds."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcileError(f"cannot read the billing export {str(path)!r}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    names = {_name(h): h for h in reader.fieldnames or ()}
    column = {
        key: next((names[c] for c in choices if c in names), None)
        for key, choices in _COLUMNS.items()
    }
    missing = [k for k in ("service", "sku", "start", "cost") if column[k] is None]
    if missing:
        raise ReconcileError(
            f"{str(path)!r} is no Cloud Billing export: no {', '.join(missing)} column (export"
            " the cost table as CSV, or the BigQuery standard usage cost table)"
        )
    out: dict[Key, Counts] = {}
    for line, row in enumerate(reader, 2):
        service = (row.get(column["service"] or "") or "").lower()
        sku = row.get(column["sku"] or "") or ""
        if not any(s in service for s in _SERVICES) or "gemini" not in sku.lower():
            continue
        if column["currency"] and (row.get(column["currency"]) or "USD").upper() != "USD":
            raise ReconcileError(f"{str(path)!r} line {line}: costs in another currency than USD")
        day = _day(row.get(column["start"] or "") or "", path, line)
        found = _MODEL.search(sku)
        model = (
            f"gemini-{found.group(1)}-{re.sub(r'[^a-z]+', '-', found.group(2).lower())}"
            if found
            else sku
        )
        counts = out.setdefault((day, model), Counts(requests=None))
        counts.add_cost(_number(row.get(column["cost"] or ""), path, line))
        tokens = _tokens(row, column["amount"], column["unit"], path, line)
        lowered = sku.lower()
        if tokens is None or "storage" in lowered:
            continue
        if "cach" in lowered:
            counts.cache_read += tokens
        elif "input" in lowered:
            counts.fresh_input += tokens
        elif "output" in lowered or "thinking" in lowered:
            counts.output += tokens
    return out


def _day(value: str, path: str | os.PathLike[str], line: int) -> str:
    text = value.strip().replace(" UTC", "+00:00").replace("Z", "+00:00")
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            return _dt.datetime.strptime(text, "%b %d, %Y").date().isoformat()
        except ValueError:
            raise ReconcileError(
                f"{str(path)!r} line {line}: usage start {value!r} is no date"
            ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC)
    return moment.date().isoformat()


def _number(value: str | None, path: str | os.PathLike[str], line: int) -> float:
    try:
        return float((value or "0").replace(",", "").replace("$", ""))
    except ValueError:
        raise ReconcileError(f"{str(path)!r} line {line}: cost {value!r} is no number") from None


def _tokens(
    row: dict[str, str],
    amount: str | None,
    unit: str | None,
    path: str | os.PathLike[str],
    line: int,
) -> int | None:
    """Token count of a row billed per token (unit ``count`` or ``tokens``), else None."""
    if amount is None or unit is None:
        return None
    if (row.get(unit) or "").strip().lower() not in ("count", "tokens", "token"):
        return None
    value = _number(row.get(amount), path, line)
    return round(value)
