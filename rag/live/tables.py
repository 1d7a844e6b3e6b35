"""The live archive's own database, `INDEX/live.sqlite`: each book (sources, alerts) owns its tables in it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class LiveTables:
    """A connection to `live.sqlite` with a book's tables created; a context manager that closes it."""

    SCHEMA = ""

    def __init__(self, index_dir: Path) -> None:
        Path(index_dir).mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(Path(index_dir) / "live.sqlite", timeout=30, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(self.SCHEMA)

    def __enter__(self) -> "LiveTables":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()
