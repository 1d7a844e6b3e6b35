"""A segment's docstore: the `articles` and `chunks` tables of its `docstore.sqlite`.

Every statement on those two tables is here (the `terms` table is rag.index.vocabulary's); an `IN (…)`
list goes through rag.index.sql (batched). Reads named `live_*` leave out the articles the segment's
manifest deleted — deletions are respected inside, never by a caller. Rows are read by column name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rag.article import ARTICLE_COLUMNS, ARTICLE_SCHEMA, STORAGE_COLUMNS, ArticleFields, ArticleMeta
from rag.index.sql import marks, named_rows, named_where_in, where_in

ROW_SHIFT = 32

SCHEMA = ARTICLE_SCHEMA + """
CREATE INDEX articles_file ON articles(source_file);
CREATE INDEX articles_story ON articles(story);
CREATE TABLE chunks(
    pos INTEGER PRIMARY KEY, chunk_id TEXT, article_ord INTEGER, ordinal INTEGER, text TEXT,
    tokens TEXT, embed_key TEXT);
CREATE INDEX chunks_key ON chunks(embed_key);
"""
_CHUNK_COLUMNS = ("pos", "chunk_id", "article_ord", "ordinal", "text", "tokens", "embed_key")
_CHUNK_WITH_ARTICLE = (
    "SELECT c.pos, c.chunk_id, c.ordinal, c.text, "
    + ", ".join(f"a.{name}" for name in ArticleMeta.field_names())
    + " FROM chunks c JOIN articles a ON a.ord = c.article_ord"
)


def make_row(segment: int, position: int | np.ndarray) -> Any:
    """The row id the retriever handles: `segment << 32 | position` (no lookup table)."""
    return (np.int64(segment) << ROW_SHIFT) | np.asarray(position, dtype=np.int64) if isinstance(position, np.ndarray) else (segment << ROW_SHIFT) | position


def split_row(row: int) -> tuple[int, int]:
    return row >> ROW_SHIFT, row & ((1 << ROW_SHIFT) - 1)


@dataclass(kw_only=True)
class StoredArticle(ArticleFields):
    """An indexed article as the docstore holds it: its record, where it is, and what storage needs."""

    segment: int
    ord: int
    article: ArticleMeta
    source_file: str
    content_hash: str
    n_chunks: int
    first_pos: int

    @classmethod
    def from_row(cls, segment: int, row: dict[str, Any]) -> "StoredArticle":
        return cls(segment=segment, ord=row["ord"], article=ArticleMeta.from_row(row),
                   **{name: row[name] for name in STORAGE_COLUMNS})

    @property
    def id(self) -> str:
        return self.article.id

    def to_dict(self) -> dict[str, Any]:
        """What `rag articles` and /api/articles show."""
        return {**self.article.to_dict(), "chunks": self.n_chunks}


@dataclass(kw_only=True)
class StoredChunk(ArticleFields):
    """A passage as the index holds it: its row, its text and its article's record, whole."""

    row: int
    chunk_id: str
    ordinal: int
    text: str
    article: ArticleMeta


class StoryMemberRow(NamedTuple):
    """What story assignment reads of a candidate article (rag.news.stories.Member adds its signature)."""

    ord: int
    id: str
    story: str
    date: str | None


def write_docs(db: sqlite3.Connection, article_rows: list[dict[str, Any]], chunk_rows: list[tuple[Any, ...]]) -> None:
    """Create the tables of a new segment's docstore and fill them (the caller commits)."""
    db.executescript(SCHEMA)
    names = ARTICLE_COLUMNS.split(", ")
    db.executemany(f"INSERT INTO articles({ARTICLE_COLUMNS}) VALUES ({', '.join(':' + n for n in names)})", article_rows)
    db.executemany(f"INSERT INTO chunks VALUES ({','.join('?' * len(_CHUNK_COLUMNS))})", chunk_rows)


class Docstore:
    """One segment's docstore opened read-only, with that manifest's deletions (`deleted` article ordinals)."""

    def __init__(self, path: Path, number: int, deleted: set[int]) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.number = number
        self.deleted = deleted

    def chunks(self, positions: Sequence[int]) -> list[StoredChunk]:
        """The chunks at these positions, each with its article's record."""
        return [StoredChunk(row=make_row(self.number, row["pos"]), chunk_id=row["chunk_id"], ordinal=row["ordinal"],
                            text=row["text"], article=ArticleMeta.from_row(row))
                for row in named_where_in(self.db, _CHUNK_WITH_ARTICLE + " WHERE c.pos IN ({marks})", positions)]

    def articles_where(self, column: str, values: Sequence[str]) -> list[StoredArticle]:
        """Articles (deleted ones too: an update must see what it replaces) whose `column` is one of `values`."""
        if column not in {"id", "source_file", "story"}:
            raise ValueError(column)
        rows = named_where_in(self.db, f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE {column} IN ({{marks}})", values)
        return [StoredArticle.from_row(self.number, row) for row in rows]

    def live_articles_where(self, column: str, values: Sequence[str]) -> list[StoredArticle]:
        return [a for a in self.articles_where(column, values) if a.ord not in self.deleted]

    def live_stories(self) -> set[str]:
        """The stories of this segment's live articles."""
        return {story for ord_, story in self.db.execute("SELECT ord, story FROM articles") if ord_ not in self.deleted}

    def live_articles_matching(self, outlets: Sequence[str] | None, since: str | None, until: str | None,
                               lang: str | None) -> list[StoredArticle]:
        """Live articles of these outlets, dated within [since, until] (YYYY-MM-DD), in this language."""
        where, params = _article_filter(outlets, since, until, lang)
        rows = named_rows(self.db.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles {where}", params))
        return [a for a in (StoredArticle.from_row(self.number, row) for row in rows) if a.ord not in self.deleted]

    def live_outlet_counts(self) -> dict[str, int]:
        """Live articles per outlet."""
        counts = dict(self.db.execute("SELECT outlet, count(*) FROM articles GROUP BY outlet"))
        for outlet, n in where_in(self.db, "SELECT outlet, count(*) FROM articles WHERE ord IN ({marks}) GROUP BY outlet",
                                  sorted(self.deleted)):
            counts[outlet] -= n
        return counts

    def live_date_range(self) -> tuple[str | None, str | None]:
        """The oldest and newest dates of the live articles."""
        ends: list[str | None] = []
        for order in ("ASC", "DESC"):
            rows = self.db.execute(f"SELECT ord, date FROM articles WHERE date IS NOT NULL ORDER BY date {order}")
            ends.append(next((date for ord_, date in rows if ord_ not in self.deleted), None))
        return ends[0], ends[1]

    def live_story_members(self, ords: Sequence[int]) -> list[StoryMemberRow]:
        """These articles as story candidates, deleted ones left out."""
        wanted = sorted(set(ords) - self.deleted)
        return [StoryMemberRow(**row)
                for row in named_where_in(self.db, "SELECT ord, id, story, date FROM articles WHERE ord IN ({marks})", wanted)]

    def live_articles(self) -> Iterator[StoredArticle]:
        """Every live article in ordinal order (a merge's read)."""
        for row in named_rows(self.db.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY ord")):
            if row["ord"] not in self.deleted:
                yield StoredArticle.from_row(self.number, row)

    def live_chunks(self) -> Iterator[dict[str, Any]]:
        """Every chunk row of a live article in position order (a merge's read), by column name."""
        for row in named_rows(self.db.execute(f"SELECT {', '.join(_CHUNK_COLUMNS)} FROM chunks ORDER BY pos")):
            if row["article_ord"] not in self.deleted:
                yield row

    def source_files(self) -> set[str]:
        """The corpus files this segment's articles were read from."""
        return {p for (p,) in self.db.execute("SELECT DISTINCT source_file FROM articles")}

    def positions_for_keys(self, keys: Sequence[str]) -> dict[str, int]:
        """Chunk positions by embedding key (an edited article's unchanged chunks keep their vectors)."""
        return dict(where_in(self.db, "SELECT embed_key, pos FROM chunks WHERE embed_key IN ({marks})", keys))

    def close(self) -> None:
        self.db.close()


def _article_filter(outlets: Sequence[str] | None, since: str | None, until: str | None, lang: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters for listing articles (None: no condition)."""
    clauses: list[str] = []
    params: list[Any] = []
    if outlets is not None:
        clauses.append(f"outlet IN ({marks(len(outlets))})")  # a handful of outlets: one statement, no batches
        params.extend(outlets)
    for clause, value in (("date >= ?", since), ("date <= ?", until + "\uffff" if until else None), ("lang = ?", lang)):
        if value:
            clauses.append(clause)
            params.append(value)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params
