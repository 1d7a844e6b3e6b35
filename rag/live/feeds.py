"""What a source lists: the items of an RSS/Atom feed or a (news) sitemap.

Feeds are read with feedparser (every RSS version, Atom, CDF, broken XML in its lenient mode, dates in
any of the formats feeds use); we fetch the bytes ourselves (rag.live.fetch) so that robots.txt, the
rate limit and conditional GETs apply, and hand feedparser bytes, never a URL. Sitemaps are a fixed XML
schema (sitemaps.org, plus Google's news extension) read with the standard library: trafilatura's
sitemap module fetches the URLs itself, which would bypass the client above.
"""

from __future__ import annotations

import calendar
import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urljoin

import feedparser

from rag.ingest.corpus import parse_date

#: At most this many items of one listing are read per poll (a sitemap can list 50,000 URLs).
MAX_ITEMS = 500
MAX_CHILD_SITEMAPS = 20


@dataclass(frozen=True)
class FeedItem:
    url: str
    title: str | None = None
    #: publication (or last update) time as ISO 8601 UTC, when the listing gives one
    published: str | None = None
    #: changes when the listing says the item changed (feed `updated`, sitemap `lastmod`)
    version: str | None = None


@dataclass
class Listing:
    kind: str  # "feed" | "sitemap" | "sitemapindex"
    items: list[FeedItem] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)  # children of a sitemap index
    site: str | None = None  # the feed's own title


class ListingError(ValueError):
    pass


def parse_listing(body: bytes, url: str) -> Listing:
    """A feed or a sitemap, whichever `body` is; ListingError when it is neither."""
    head = body[:2048].lstrip().lower()
    if b"<urlset" in head or b"<sitemapindex" in head:
        return _sitemap(body, url)
    return _feed(body, url)


def _feed(body: bytes, url: str) -> Listing:
    parsed = feedparser.parse(body, response_headers={"content-location": url})
    if not parsed.entries and (parsed.get("bozo") or not parsed.get("version")):
        reason = getattr(parsed, "bozo_exception", None) or "no RSS/Atom items"
        raise ListingError(f"{url}: not a feed or sitemap ({reason}); give the URL of an RSS/Atom feed or a sitemap")
    items = []
    for entry in parsed.entries[:MAX_ITEMS]:
        link = entry.get("link")
        if not link:
            continue
        # dict.get: the raw fields (feedparser's own get maps a missing `updated` to `published`, with a warning)
        published = _iso(dict.get(entry, "published_parsed")) or _iso(dict.get(entry, "updated_parsed"))
        version = dict.get(entry, "updated") or dict.get(entry, "published")
        items.append(FeedItem(urljoin(url, link), (entry.get("title") or "").strip() or None, published, version))
    return Listing("feed", items, site=(parsed.feed.get("title") or "").strip() or None)


def _iso(parsed_time: object) -> str | None:
    if not parsed_time:
        return None
    return dt.datetime.fromtimestamp(calendar.timegm(parsed_time), dt.timezone.utc).isoformat()  # type: ignore[arg-type]


def _sitemap(body: bytes, url: str) -> Listing:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ListingError(f"{url}: sitemap is not valid XML ({exc}); check the URL") from None
    tag = _local(root.tag)
    if tag == "sitemapindex":
        children = [_text(s, "loc") for s in root if _local(s.tag) == "sitemap"]
        return Listing("sitemapindex", sitemaps=[urljoin(url, c) for c in children if c][:MAX_CHILD_SITEMAPS])
    items = []
    for node in root:
        if _local(node.tag) != "url":
            continue
        loc = _text(node, "loc")
        if not loc:
            continue
        news = next((n for n in node if _local(n.tag) == "news"), None)
        published = _text(news, "publication_date") if news is not None else None
        lastmod = _text(node, "lastmod")
        title = _text(news, "title") if news is not None else None
        items.append(FeedItem(urljoin(url, loc), title, _normal_time(published or lastmod), lastmod or published))
    # newest first, so that MAX_ITEMS keeps the fresh end of a long sitemap
    items.sort(key=lambda i: i.published or "", reverse=True)
    return Listing("sitemap", items[:MAX_ITEMS])


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(node: ET.Element | None, name: str) -> str | None:
    if node is None:
        return None
    for child in node.iter():
        if _local(child.tag) == name and child.text and child.text.strip():
            return child.text.strip()
    return None


def _normal_time(value: str | None) -> str | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        day = parse_date(value)
        return f"{day}T00:00:00+00:00" if day else None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat()
