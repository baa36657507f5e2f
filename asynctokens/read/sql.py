"""SQL over the token logs on DuckDB (``pip install 'asynctokens[duckdb]'``).

``connect(log_dir)`` returns a DuckDB connection with a ``tokens`` view over the daily files
of one or many directories (a glob, a list), with the read side's rules: copies of a file set
aside and events shared by two files counted once (see ``_dirs``); only lines the reader
would count (the fields reports need, counts from 0 to below 2**40, a ``ts`` inside its
file's UTC day); ``metadata`` and ``labels`` as DuckDB's JSON type (``labels->>'customer'``),
``ts`` as ``TIMESTAMPTZ``; and
``cost_usd``, each call at the price in force at its instant (NULL when no source prices
it), computed by the same pricer as the CSV export, so the view and every report agree.

Read-only by construction, as DuckDB's own guide to securing it advises: once the view is
made, the connection may open the daily files it reads and nothing else (``allowed_paths``
with ``enable_external_access`` off: no other file, no directory listing, no network), loads
no extension, and its configuration is locked, so no ``SET`` gives any of it back.
:func:`query` runs only statements that read (``SELECT``, ``EXPLAIN``, ``DESCRIBE``,
``SUMMARIZE``): ``COPY``, ``ATTACH``, ``EXPORT``, ``CREATE`` and the rest are refused before
DuckDB sees them, with one line saying so.

DuckDB reads object storage too: for logs copied to S3, skip this module and point DuckDB's
``read_json('s3://bucket/fleet/*/logs/tokens/tokens_*.jsonl', format='newline_delimited')``
at them after ``INSTALL httpfs; LOAD httpfs;`` and a ``CREATE SECRET`` for the bucket.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from asynctokens._errors import AsyncTokensError
from asynctokens.read._dirs import LogDirs, plan_days, resolve_log_dirs
from asynctokens.record._format import EVENT_FIELDS

if TYPE_CHECKING:
    import duckdb

    from asynctokens.pricing import PriceBook

#: The columns of a line and their DuckDB types (docs/FORMAT.md).
COLUMNS: Final = {
    "event_id": "VARCHAR", "ts": "TIMESTAMPTZ", "api_type": "VARCHAR", "model": "VARCHAR",
    "prompt_tokens": "BIGINT", "completion_tokens": "BIGINT", "total_tokens": "BIGINT",
    "cached_tokens": "BIGINT", "cache_write_tokens": "BIGINT", "reasoning_tokens": "BIGINT",
    "success": "BOOLEAN", "error_message": "VARCHAR", "latency_ms": "DOUBLE",
    "api_key_suffix": "VARCHAR", "request_id": "VARCHAR", "metadata": "JSON", "pid": "BIGINT",
    "host": "VARCHAR", "response_model": "VARCHAR", "service_tier": "VARCHAR", "labels": "JSON",
    "cache_write_1h_tokens": "BIGINT", "counts_unknown": "BOOLEAN",
}  # fmt: skip
#: What the view selects of a column a line may leave out, the writer writing it only when
#: it says something: 1-hour cache writes (0 when none), unknown counts (false when known).
_DEFAULTS: Final = {"cache_write_1h_tokens": "0", "counts_unknown": "false"}
_SELECTED: Final = ", ".join(
    f"COALESCE({c}, {_DEFAULTS[c]}) AS {c}" if c in _DEFAULTS else c for c in COLUMNS
)
_COUNTS: Final = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
                  "cache_write_tokens", "reasoning_tokens")  # fmt: skip
_LIMIT: Final = 1 << 40


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise AsyncTokensError(
            "asynctokens sql needs DuckDB: pip install 'asynctokens[duckdb]'"
        ) from None
    return duckdb


def literal(text: str) -> str:
    """``text`` as a SQL string literal (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _read(files: list[Path]) -> str:
    """A DuckDB source over ``files`` that keeps only the lines the reader counts."""
    for f in files:
        if glob.has_magic(str(f)):  # DuckDB would expand it as a pattern
            raise AsyncTokensError(
                f"cannot query {str(f)!r} with DuckDB: its path holds a glob character"
                " (* ? [); rename or link the directory"
            )
    names = "[" + ", ".join(literal(str(f)) for f in files) + "]"
    columns = "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in COLUMNS.items()) + "}"
    valid = " AND ".join(
        [*(f"{c} IS NOT NULL" for c in ("event_id", "ts", "api_type", "model", "success")),
         *(f"{c} BETWEEN 0 AND {_LIMIT - 1}" for c in _COUNTS),
         "COALESCE(cache_write_1h_tokens, 0) BETWEEN 0 AND cache_write_tokens",
         "strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d')"
         " = regexp_extract(filename, 'tokens_([0-9-]{10})\\.jsonl$', 1)"]
    )  # fmt: skip
    return (
        f"SELECT {_SELECTED} FROM read_json({names}, format='newline_delimited',"
        f" columns={columns}, ignore_errors=true, filename=true) WHERE {valid}"
    )


def _view(log_dir: LogDirs) -> tuple[str, list[Path]]:
    """The SELECT behind the ``tokens`` view for these directories, and the files it reads."""
    plans = plan_days(resolve_log_dirs(log_dir))
    alone = [f for p in plans if not p.dedup for f in p.files]
    shared = [f for p in plans if p.dedup for f in p.files]
    parts = []
    if alone:
        parts.append(_read(alone))
    if shared:  # files that share events: each event once
        parts.append(f"SELECT DISTINCT ON (event_id) * FROM ({_read(shared)})")
    return " UNION ALL ".join(parts), [*alone, *shared]


def _priced(lines: str) -> str:
    """The lines' SELECT with each call's ``cost_usd``, by the function :func:`_add_pricer`
    gives a connection."""
    cost = (
        f"{_COST}(strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f+00:00'), api_type,"
        " model, prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, success,"
        " response_model, service_tier, cache_write_1h_tokens)"
    )
    return f"SELECT *, {cost} AS cost_usd FROM ({lines})"


#: The view's pricing function (DuckDB names are case-insensitive).
_COST: Final = "asynctokens_cost"


def _add_pricer(con: Any, prices: PriceBook | None) -> None:
    """Give ``con`` the function the view prices each call with: the CSV export's pricer."""
    if prices is None:
        from asynctokens.pricing import load_prices

        prices = load_prices()
    pricer = prices.row_pricer()
    at = {name: i for i, name in enumerate(EVENT_FIELDS)}
    order = ("ts", "api_type", "model", "prompt_tokens", "completion_tokens", "cached_tokens",
             "cache_write_tokens", "success", "response_model", "service_tier",
             "cache_write_1h_tokens")  # fmt: skip
    slots = [at[name] for name in order]
    width = len(EVENT_FIELDS)

    def cost(ts: str, api: str, model: str, prompt: int, completion: int, cached: int,
             cache_write: int, success: bool, served: str | None, tier: str | None,
             one_hour: int) -> float | None:  # fmt: skip
        row: list[Any] = [None] * width
        values = (ts, api, model, prompt, completion, cached, cache_write, success, served, tier,
                  one_hour)  # fmt: skip
        for slot, value in zip(slots, values, strict=True):
            row[slot] = value
        return pricer(row)

    con.create_function(
        _COST,
        cost,
        [
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "BIGINT",
            "BIGINT",
            "BIGINT",
            "BIGINT",
            "BOOLEAN",
            "VARCHAR",
            "VARCHAR",
            "BIGINT",
        ],
        "DOUBLE",
        null_handling="special",  # NULL: no price, which the function says itself
        side_effects=False,
    )


def view_sql(log_dir: LogDirs = None) -> str:
    """The SELECT of the lines behind the ``tokens`` view for these directories, for a
    DuckDB connection of one's own: every field of a line, without ``cost_usd`` (which
    needs the pricing function only :func:`connect`'s connection has)."""
    return _view(log_dir)[0]


#: Statements that only read: what :func:`query` runs.
_READING: Final = frozenset({"SELECT", "EXPLAIN"})
#: Words a reading statement may start with that DuckDB types as something else.
_READING_WORDS: Final = ("describe", "summarize", "show")


def connect(log_dir: LogDirs = None, prices: PriceBook | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the ``tokens`` view (times shown in UTC) that can
    read the view's daily files and nothing else, its configuration locked; ``prices``
    (default: genai-prices' bundled data) price its ``cost_usd``."""
    duckdb = _duckdb()
    view, files = _view(log_dir)
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})  # fmt: skip
    try:
        _add_pricer(con, prices)
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE VIEW tokens AS {_priced(view)}")
        allowed = "[" + ", ".join(literal(str(f)) for f in files) + "]"
        con.execute(f"SET allowed_paths = {allowed}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con  # type: ignore[no-any-return]


def query(
    log_dir: LogDirs, sql: str, prices: PriceBook | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one reading statement over the ``tokens`` view: (column names, rows).

    Anything but a query is refused before it runs (``AsyncTokensError``), and DuckDB's own
    error for a bad query comes back as one line (``ValueError``).
    """
    duckdb = _duckdb()
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValueError(f"SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise AsyncTokensError(
            f"asynctokens sql runs one query at a time, got {len(statements)} statements"
        )
    kind = statements[0].type.name
    if kind not in _READING and not sql.lstrip().lower().startswith(_READING_WORDS):
        raise AsyncTokensError(
            f"asynctokens sql only reads: {kind} is not allowed (use SELECT ... FROM tokens;"
            " `asynctokens export` writes files)"
        )
    con = connect(log_dir, prices)
    try:
        try:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description or []]
            return names, cursor.fetchall()
        except duckdb.Error as exc:  # the user's SQL, said in one line
            raise ValueError(f"SQL: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


def export_parquet(
    log_dir: LogDirs,
    path: str | os.PathLike[str],
    where: str = "",
    prices: PriceBook | None = None,
) -> int:
    """Write the ``tokens`` view (``where``: an optional SQL condition) as Parquet, owner-only,
    with each call's ``cost_usd``; return the rows written. Its own connection, not
    :func:`connect`'s locked one: the SQL here is ours (``where`` is built from the command's
    options with :func:`literal`)."""
    view, _ = _view(log_dir)
    con = _duckdb().connect()
    _add_pricer(con, prices)
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW tokens AS {_priced(view)}")
    try:
        target = os.fspath(path)
        old = os.umask(0o077)  # DuckDB creates the file: owner-only like the logs
        try:
            con.execute(
                f"COPY (SELECT * FROM tokens {f'WHERE {where}' if where else ''} ORDER BY ts)"
                f" TO {literal(target)} (FORMAT parquet)"
            )
        finally:
            os.umask(old)
        Path(target).chmod(0o600)
        rows = con.execute(f"SELECT count(*) FROM read_parquet({literal(target)})").fetchone()
        return int(rows[0]) if rows else 0
    finally:
        con.close()


__all__ = ["COLUMNS", "connect", "export_parquet", "literal", "query", "view_sql"]
