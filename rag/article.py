"""One record for what is known about an article besides its text: `ArticleMeta`.

Read by the corpus readers (rag.ingest.corpus, rag.ingest.html), stored in each segment's `articles` table (its columns
are this record's fields: `ARTICLE_SCHEMA`), read back by name (`from_row`), carried whole by the stored
records (`StoredArticle.article`, `StoredChunk.article`, `Reference.article`) and serialised by one method
(`to_dict`) on every surface: search JSON, citations, copies, `rag articles`, /api/articles, MCP and
LangChain metadata. A new field is added here and in the reader that fills it; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from rag.news.outlets import UNKNOWN as UNKNOWN_OUTLET


@dataclass(frozen=True, kw_only=True)
class ArticleMeta:
    id: str
    title: str = ""
    outlet: str = UNKNOWN_OUTLET
    date: str | None = None  # YYYY-MM-DD
    date_source: str | None = None  # "metadata" | "text" (rag.news.dates) | None when undated
    url: str | None = None
    lang: str = "und"
    source_path: str = ""  # the corpus file (and line) it was read from
    author: str | None = None  # byline, from front matter / JSON `author` or the page's metadata
    section: str | None = None  # the outlet's section (politics, sport, …), from `section` or the page's category
    story: str = ""  # rag.news.stories: the id of the article that founded its story (set at index time)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "ArticleMeta":
        """From a docstore row (or any mapping) by column name; a column an older index lacks is left unset."""
        keys = set(row.keys())
        return cls(**{name: row[name] for name in cls.field_names() if name in keys})

    @property
    def story_id(self) -> str:
        return self.story or self.id

    def to_dict(self) -> dict[str, Any]:
        """The article as every surface shows it (`article_id`, …, `story_id`)."""
        data: dict[str, Any] = {"article_id": self.id}
        for name in self.field_names()[1:]:
            if name == "story":
                data["story_id"] = self.story_id
            else:
                data[name] = getattr(self, name)
        return data

    def copy_ref(self) -> dict[str, Any]:
        """How another copy of a story is listed under a hit or a citation (`also_reported_by`)."""
        return {"article_id": self.id, "outlet": self.outlet, "date": self.date, "url": self.url}


class ArticleFields:
    """The article fields passages and citations are read by most, for a record that carries its article whole
    as `self.article` (StoredChunk, StoredArticle, Reference): one set of accessors, not one per record."""

    article: ArticleMeta

    @property
    def article_id(self) -> str:
        return self.article.id

    @property
    def title(self) -> str:
        return self.article.title

    @property
    def outlet(self) -> str:
        return self.article.outlet

    @property
    def date(self) -> str | None:
        return self.article.date

    @property
    def date_source(self) -> str | None:
        return self.article.date_source

    @property
    def url(self) -> str | None:
        return self.article.url

    @property
    def lang(self) -> str:
        return self.article.lang

    @property
    def source_path(self) -> str:
        return self.article.source_path

    @property
    def story(self) -> str:
        return self.article.story_id


#: The `articles` table of a segment: an ordinal, the record's fields, and what only storage needs.
ARTICLE_SCHEMA = (
    "CREATE TABLE articles(ord INTEGER PRIMARY KEY, "
    + ", ".join(f"{name} TEXT{' UNIQUE' if name == 'id' else ''}" for name in ArticleMeta.field_names())
    + ", source_file TEXT, content_hash TEXT, n_chunks INTEGER, first_pos INTEGER);"
)
STORAGE_COLUMNS = ("source_file", "content_hash", "n_chunks", "first_pos")
ARTICLE_COLUMNS = ", ".join(["ord", *ArticleMeta.field_names(), *STORAGE_COLUMNS])
