"""``asynctokens.sql``.

SQL over the logs with DuckDB (``pip install "asynctokens[duckdb]"``), read-only.

The public face of ``asynctokens.read.sql`` (the read side's package): the names here are
the API; the module behind them may change.
"""

from __future__ import annotations

from asynctokens.read.sql import COLUMNS as COLUMNS
from asynctokens.read.sql import connect as connect
from asynctokens.read.sql import export_parquet as export_parquet
from asynctokens.read.sql import literal as literal
from asynctokens.read.sql import query as query
from asynctokens.read.sql import view_sql as view_sql

__all__ = [
    "COLUMNS",
    "connect",
    "export_parquet",
    "literal",
    "query",
    "view_sql",
]
