"""The one way to query SQLite with an `IN (…)` list: in batches under SQLite's variable limit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

#: SQLite allows 999 variables per statement in older builds (32,766 from 3.32): 500 leaves room for others.
BATCH = 500


def marks(n: int) -> str:
    """The parameter marks of an IN list of `n` values: `?,?,?`."""
    return ",".join("?" * n)


def where_in(db: sqlite3.Connection, sql: str, values: Sequence[Any]) -> Iterator[tuple]:
    """The rows of `sql`, whose `{marks}` is where the IN list goes, for every value (each once)."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), BATCH):
        part = unique[start : start + BATCH]
        yield from db.execute(sql.format(marks=marks(len(part))), part)


def named_rows(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    """A query's rows as {column: value}: rows are read by name, never by position."""
    names = [d[0] for d in cursor.description]
    return (dict(zip(names, row)) for row in cursor)


def named_where_in(db: sqlite3.Connection, sql: str, values: Sequence[Any]) -> Iterator[dict[str, Any]]:
    """`where_in` with each row as {column: value}."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), BATCH):
        part = unique[start : start + BATCH]
        yield from named_rows(db.execute(sql.format(marks=",".join("?" * len(part))), part))
