"""Sources that pull themselves: feeds and sitemaps, polled on a schedule, their articles saved to the corpus.

A source's new items are fetched (rag.live.fetch), read with trafilatura (rag.ingest.html.page_record) and written
as one JSON article file each under `CORPUS/feeds/<host>/`, so that the corpus stays the archive's record
(a rebuild reads them like any other file) and the index is updated the usual way (rag.index.writer). The
state of each source and page lives in the index directory (`live.sqlite`, tables `sources` and `pages`,
owned by this module).

- The article id is `<host>/<hash of the canonical URL>`: the same article listed under two URLs (or
  twice) is one file and one article; a page whose text changed is rewritten and replaces its version.
- The same text under another canonical URL is recorded as a duplicate and not written again.
- A page is fetched again only when its listing says it changed (feed `updated`, sitemap `lastmod`),
  with a conditional GET.
- One source's failure is recorded on it (`last_error`) and never stops the others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from rag.errors import InputError
from rag.live.tables import LiveTables
from rag.live.feeds import FeedItem, ListingError, parse_listing
from rag.live.fetch import FetchError, PoliteClient
from rag.news.outlets import OutletDetector

FEEDS_DIR = "feeds"
DEFAULT_EVERY_S = 600
MIN_EVERY_S = 1
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.I)
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'5s', '10m', '1h', '1d' or seconds → seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise InputError(f"--every {text!r} is not a duration; write it like 30s, 10m, 1h or 1d", "every")
    seconds = int(float(match[1]) * _UNITS[(match[2] or "").lower() or None])
    if seconds < MIN_EVERY_S:
        raise InputError(f"--every {text!r} is under {MIN_EVERY_S} s; poll at most once a second", "every")
    return seconds


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Source:
    url: str
    outlet: str | None = None
    every_s: int = DEFAULT_EVERY_S
    added_at: str = ""
    last_poll: str | None = None
    last_success: str | None = None
    last_error: str | None = None
    articles_added: int = 0
    newest: str | None = None  # the newest item's publication time
    etag: str | None = None
    last_modified: str | None = None

    def due(self, now: dt.datetime) -> bool:
        if self.last_poll is None:
            return True
        return (now - dt.datetime.fromisoformat(self.last_poll)).total_seconds() >= self.every_s

    def to_dict(self) -> dict[str, object]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("etag", "last_modified")}
        data["lag_s"] = _age(self.last_success)
        return data


def _age(moment: str | None) -> float | None:
    if moment is None:
        return None
    return round((dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(moment)).total_seconds(), 1)


_SOURCE_COLUMNS = [f.name for f in fields(Source)]


class SourceBook(LiveTables):
    """The `sources` and `pages` tables of `INDEX/live.sqlite`."""

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS sources(url TEXT PRIMARY KEY, outlet TEXT, every_s INTEGER, added_at TEXT,"
        " last_poll TEXT, last_success TEXT, last_error TEXT, articles_added INTEGER, newest TEXT, etag TEXT,"
        " last_modified TEXT);"
        "CREATE TABLE IF NOT EXISTS pages(url TEXT PRIMARY KEY, source TEXT, article_id TEXT, canonical TEXT,"
        " text_hash TEXT, version TEXT, etag TEXT, last_modified TEXT, fetched_at TEXT, duplicate_of TEXT);"
        "CREATE INDEX IF NOT EXISTS pages_text ON pages(text_hash);"
    )

    def add(self, url: str, outlet: str | None, every_s: int) -> Source:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"source {url!r} is not an http(s) URL; give the address of an RSS/Atom feed or a sitemap", "url")
        source = Source(url, outlet or None, every_s, utc_now())
        with self.db:
            self.db.execute(
                "INSERT INTO sources(url, outlet, every_s, added_at, articles_added) VALUES (?,?,?,?,0) "
                "ON CONFLICT(url) DO UPDATE SET outlet = excluded.outlet, every_s = excluded.every_s",
                (url, source.outlet, every_s, source.added_at),
            )
        return self.get(url) or source

    def remove(self, url: str) -> bool:
        with self.db:
            return self.db.execute("DELETE FROM sources WHERE url = ?", (url,)).rowcount > 0

    def get(self, url: str) -> Source | None:
        row = self.db.execute(f"SELECT {', '.join(_SOURCE_COLUMNS)} FROM sources WHERE url = ?", (url,)).fetchone()
        return Source(**{k: row[k] for k in _SOURCE_COLUMNS}) if row else None

    def all(self) -> list[Source]:
        rows = self.db.execute(f"SELECT {', '.join(_SOURCE_COLUMNS)} FROM sources ORDER BY added_at, url")
        return [Source(**{k: row[k] for k in _SOURCE_COLUMNS}) for row in rows]

    def save(self, source: Source) -> None:
        assignments = ", ".join(f"{c} = :{c}" for c in _SOURCE_COLUMNS if c != "url")
        with self.db:
            self.db.execute(f"UPDATE sources SET {assignments} WHERE url = :url", {c: getattr(source, c) for c in _SOURCE_COLUMNS})

    def page(self, url: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM pages WHERE url = ?", (url,)).fetchone()

    def same_text(self, text_hash: str, article_id: str) -> str | None:
        row = self.db.execute("SELECT article_id FROM pages WHERE text_hash = ? AND article_id != ? AND duplicate_of IS NULL LIMIT 1",
                              (text_hash, article_id)).fetchone()
        return row["article_id"] if row else None

    def record_page(self, url: str, source: str, article_id: str | None, canonical: str | None, text_hash: str | None,
                    version: str | None, etag: str | None, last_modified: str | None, duplicate_of: str | None = None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO pages VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (url, source, article_id, canonical, text_hash, version, etag, last_modified, utc_now(), duplicate_of))



def freshness(index_dir: Path) -> list[dict[str, object]]:
    """Each source's url, last success, lag, newest item and last error (for status), without creating state."""
    if not (Path(index_dir) / "live.sqlite").exists():
        return []
    with SourceBook(index_dir) as book:
        return [{k: s.to_dict()[k] for k in ("url", "outlet", "last_success", "lag_s", "newest", "articles_added", "last_error")}
                for s in book.all()]


@dataclass
class PollResult:
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # corpus files written

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in ("source", "added", "updated", "unchanged", "duplicates", "errors")}


class Harvester:
    """Polls sources into `corpus_dir/feeds/`."""

    def __init__(self, book: SourceBook, corpus_dir: Path, client: PoliteClient, outlets: dict[str, list[str]] | None = None) -> None:
        self.book = book
        self.corpus_dir = Path(corpus_dir)
        self.client = client
        self.detector = OutletDetector(outlets)

    def poll(self, source: Source) -> PollResult:
        """One poll of one source; never raises for what the network or the site does."""
        result = PollResult(source.url)
        source.last_poll = utc_now()
        try:
            items = self._listing(source)
        except (FetchError, ListingError) as exc:
            source.last_error = f"{source.last_poll}: {exc}"
            result.errors.append(str(exc))
            self.book.save(source)
            return result
        for item in items:
            try:
                self._item(source, item, result)
            except (FetchError, ListingError) as exc:
                result.errors.append(str(exc))
        source.last_success = source.last_poll
        source.last_error = f"{source.last_poll}: {len(result.errors)} pages failed, e.g. {result.errors[0]}" if result.errors else None
        source.articles_added += result.added
        newest = max((i.published for i in items if i.published), default=None)
        source.newest = max(filter(None, [source.newest, newest]), default=None)
        self.book.save(source)
        return result

    def _listing(self, source: Source) -> list[FeedItem]:
        fetched = self.client.get(source.url, source.etag, source.last_modified)
        if fetched.not_modified:
            return []
        listing = parse_listing(fetched.body, fetched.url)
        items = list(listing.items)
        for child in listing.sitemaps:  # a sitemap index: its sitemaps, unconditionally (they are small)
            items.extend(parse_listing(self.client.get(child).body, child).items)
        source.etag, source.last_modified = fetched.etag, fetched.last_modified
        return items

    def _item(self, source: Source, item: FeedItem, result: PollResult) -> None:
        known = self.book.page(item.url)
        if known is not None and (known["version"] == item.version or item.version is None):
            result.unchanged += 1
            return
        fetched = self.client.get(item.url, known["etag"] if known else None, known["last_modified"] if known else None)
        if fetched.not_modified:
            self.book.record_page(item.url, source.url, known["article_id"], known["canonical"], known["text_hash"],
                                  item.version, known["etag"], known["last_modified"], known["duplicate_of"])
            result.unchanged += 1
            return
        record = self._read(fetched.body, fetched.url, item, source)
        canonical = _canonical(record.get("url"), fetched.url)
        record["url"] = canonical
        article_id = f"{urlsplit(canonical).netloc}/{hashlib.sha1(canonical.encode()).hexdigest()[:16]}"
        text_hash = hashlib.sha256(" ".join(str(record["text"]).split()).encode()).hexdigest()
        twin = self.book.same_text(text_hash, article_id)
        if twin is not None:
            self.book.record_page(item.url, source.url, article_id, canonical, text_hash, item.version, fetched.etag,
                                  fetched.last_modified, duplicate_of=twin)
            result.duplicates += 1
            return
        path = self._path(article_id)
        existed = path.exists()
        changed = self._write(path, {"id": article_id, **record})
        self.book.record_page(item.url, source.url, article_id, canonical, text_hash, item.version, fetched.etag, fetched.last_modified)
        if not changed:
            result.unchanged += 1
        elif existed:
            result.updated += 1
            result.files.append(str(path))
        else:
            result.added += 1
            result.files.append(str(path))

    def _read(self, body: bytes, url: str, item: FeedItem, source: Source) -> dict[str, object]:
        from rag.ingest.corpus import decode_bytes
        from rag.errors import CorpusError
        from rag.ingest.html import page_record

        try:
            record = page_record(decode_bytes(body, url), self.detector)
        except ImportError:
            raise ListingError("article pages are read with trafilatura: pip install '.[html]'") from None
        except CorpusError as exc:
            raise ListingError(f"{url}: {exc.message}") from None
        if record is None or not str(record.get("text") or "").strip():
            raise ListingError(f"{url}: no article text found in the page; is the feed linking to article pages?")
        record = {k: v for k, v in record.items() if v}
        record.setdefault("title", item.title or "")
        if not record.get("date") and item.published:
            record["date"] = item.published[:10]
        if source.outlet:
            record["outlet"] = source.outlet
        return record

    def _path(self, article_id: str) -> Path:
        host, _, digest = article_id.partition("/")
        return self.corpus_dir / FEEDS_DIR / _safe(host) / f"{digest}.json"

    @staticmethod
    def _write(path: Path, record: dict[str, object]) -> bool:
        """Write atomically (a hidden temporary file, renamed); False when the file already says this."""
        data = json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8")
        if path.exists() and path.read_bytes() == data:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return True


def _canonical(declared: object, fetched_url: str) -> str:
    """The page's canonical URL when it declares an http(s) one on its own site, else the URL it was fetched
    from; no fragment. (A page cannot claim another site's article: that would replace it.)"""
    url = fetched_url
    if isinstance(declared, str) and urlsplit(declared).scheme in ("http", "https"):
        if _site(urlsplit(declared).netloc) == _site(urlsplit(fetched_url).netloc):
            url = declared
    return url.split("#", 1)[0]


def _site(host: str) -> str:
    host = host.lower()
    for prefix in ("www.", "m.", "amp."):
        if host.startswith(prefix):
            return host[len(prefix):]
    return host


def _safe(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", host) or "site"
