"""The history store's SQLite index: opening it, one row per entry, and search queries.

Owns the index schema (and migrating an older index: a missing ``cache_key`` column is
added), how a connection is opened (file created 0600 first, WAL, busy timeout, retried
while the file is locked), moving a corrupt index aside, and the SQL of
:meth:`gptimage_widgets.history.HistoryStore.search`. The index is only an index: the entry
files are the truth and ``HistoryStore.rebuild_index()`` recreates it from them.

Core module: standard library only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pathlib
import secrets
import sqlite3
import time
import warnings
from collections.abc import Mapping
from typing import Any

from .errors import ValidationError
from .private_files import create_private_file, tighten_files

__all__ = ["cached_entry_query", "index_row", "insert", "move_aside", "open_index", "search_query"]

BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    entry_id   TEXT PRIMARY KEY,
    created    REAL NOT NULL,
    model      TEXT NOT NULL,
    operation  TEXT NOT NULL,
    prompt     TEXT NOT NULL,
    entry_dir  TEXT NOT NULL,
    files      TEXT NOT NULL,
    cost_usd   REAL,
    request_id TEXT,
    cache_key  TEXT
);
CREATE INDEX IF NOT EXISTS entries_created ON entries (created);
CREATE INDEX IF NOT EXISTS entries_model ON entries (model, created);
"""
#: Columns added after the first schema: name -> SQL type (added by ``_migrate``).
_ADDED_COLUMNS = {"cache_key": "TEXT"}
_COLUMNS = (
    "entry_id, created, model, operation, prompt, entry_dir, files, cost_usd, request_id, cache_key"
)
_CACHE_INDEX = "CREATE INDEX IF NOT EXISTS entries_cache_key ON entries (cache_key, created)"


def open_index(path: pathlib.Path) -> sqlite3.Connection:
    """Open (and if needed create) the index: WAL, busy timeout, autocommit mode.

    The file is created 0600 before SQLite opens it, so the ``-wal``/``-shm`` files SQLite
    creates later get that mode too (it copies the database's); ones left 0644 by an older
    version are tightened once open.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    create_private_file(path)
    while True:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.create_function("casefold", 1, _casefold, deterministic=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            _migrate(conn)
            tighten_files(*(path.with_name(path.name + end) for end in ("-wal", "-shm")))
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring an index made by an older version up to date (adds missing columns)."""
    present = {row["name"] for row in conn.execute("PRAGMA table_info(entries)")}
    for name, sql_type in _ADDED_COLUMNS.items():
        if name not in present:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                conn.execute(f"ALTER TABLE entries ADD COLUMN {name} {sql_type}")
    conn.execute(_CACHE_INDEX)


def move_aside(index_path: pathlib.Path, exc: Exception) -> None:
    """Rename a corrupt index (and its WAL files) so a fresh one can be rebuilt from the files."""
    corrupt = index_path.with_name(f"{index_path.name}.corrupt-{secrets.token_hex(4)}")
    warnings.warn(
        f"history index {index_path} is unreadable ({exc}); moved it to {corrupt.name} and "
        "rebuilding it from the entry files",
        RuntimeWarning,
        stacklevel=4,
    )
    with contextlib.suppress(FileNotFoundError):
        os.replace(index_path, corrupt)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{index_path}{suffix}")


def _casefold(text: Any) -> str:
    return str(text or "").casefold()


def index_row(meta: Mapping[str, Any], entry_dir: str) -> tuple[Any, ...]:
    files = [str(item.get("file")) for item in meta.get("images", []) if isinstance(item, dict)]
    cost = meta.get("cost_usd")
    return (
        str(meta["entry_id"]),
        float(meta["created_ts"]),
        str(meta.get("model") or ""),
        str(meta.get("operation") or ""),
        str(meta.get("prompt") or ""),
        entry_dir,
        json.dumps(files),
        float(cost) if isinstance(cost, (int, float)) else None,
        meta.get("request_id") if isinstance(meta.get("request_id"), str) else None,
        meta.get("cache_sha256") if isinstance(meta.get("cache_sha256"), str) else None,
    )


def insert(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    """Insert or replace one row (autocommit unless inside an explicit BEGIN)."""
    marks = ", ".join("?" * len(row))
    conn.execute(f"INSERT OR REPLACE INTO entries ({_COLUMNS}) VALUES ({marks})", row)


def cached_entry_query(key: str) -> tuple[str, list[Any]]:
    """SQL for the newest entries saved with cache key `key` (newest first)."""
    sql = "SELECT * FROM entries WHERE cache_key = ? ORDER BY created DESC, entry_id DESC"
    return sql, [key]


def search_query(
    text: str | None,
    model: str | None,
    since: dt.date | dt.datetime | str | None,
    until: dt.date | dt.datetime | str | None,
    limit: int | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if text:
        clauses.append("instr(casefold(prompt), ?) > 0")
        args.append(str(text).casefold())
    if model:
        clauses.append("model = ?")
        args.append(str(model))
    if since is not None:
        clauses.append("created >= ?")
        args.append(_to_timestamp(since, "since", end_of_day=False))
    if until is not None:
        clauses.append("created <= ?")
        args.append(_to_timestamp(until, "until", end_of_day=True))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT * FROM entries{where} ORDER BY created DESC, entry_id DESC"
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError(
                f"limit={limit!r} is not valid; give a positive integer or None for all",
                param="limit",
                value=limit,
            )
        sql += " LIMIT ?"
        args.append(limit)
    return sql, args


def _to_timestamp(value: dt.date | dt.datetime | str, name: str, *, end_of_day: bool) -> float:
    """Unix time of a date/datetime/ISO string; naive = local time; dates span the whole day."""
    if isinstance(value, str):
        value = _parse_iso(value, name)
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dt.date):
        start = dt.datetime.combine(value, dt.time.min)
        if end_of_day:
            return (start + dt.timedelta(days=1)).timestamp() - 1e-6
        return start.timestamp()
    raise ValidationError(
        f"{name}={value!r} is not a date; give a datetime.date, datetime.datetime or an ISO "
        "string like '2026-11-22' or '2026-11-22T14:30'",
        param=name,
        value=value,
    )


def _parse_iso(text: str, name: str) -> dt.date | dt.datetime:
    try:
        if len(text.strip()) == 10:
            return dt.date.fromisoformat(text.strip())
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"{name}={text!r} is not an ISO date; use e.g. '2026-11-22' or '2026-11-22T14:30'",
            param=name,
            value=text,
        ) from None
