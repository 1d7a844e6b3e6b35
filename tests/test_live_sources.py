"""Sources that pull themselves (rag.live.fetch, feeds, sources), offline against a local news site."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from newsroom import Newsroom, article_page, news_sitemap, rss
from rag.errors import RagError
from rag.live.feeds import ListingError, parse_listing
from rag.live.fetch import FetchError, PoliteClient
from rag.live.sources import Harvester, SourceBook, parse_duration

pytest.importorskip("trafilatura", reason="article pages are read with trafilatura (the html extra)")

SAMPLES = sorted((Path(__file__).parent.parent / "examples" / "corpus").glob("*.txt"))


def sample(i: int) -> tuple[str, str]:
    lines = [l for l in SAMPLES[i].read_text(encoding="utf-8").splitlines() if l.strip()]
    return lines[0].strip(), "\n".join(lines[1:])


@pytest.fixture()
def site():
    with Newsroom() as room:
        yield room


def client(**options) -> PoliteClient:
    options.setdefault("min_interval", 0.0)
    return PoliteClient(**options)


def publish(site: Newsroom, n: int, prefix: str = "/news") -> list[dict[str, str]]:
    items = []
    for i in range(n):
        title, text = sample(i)
        site.set(f"{prefix}/{i}", article_page(title, text, f"2018-06-0{i + 1}"))
        items.append({"title": title, "link": site.url(f"{prefix}/{i}")})
    return items


def harvest(tmp_path: Path, site: Newsroom, feed: str = "/feed.xml", **client_options):
    book = SourceBook(tmp_path / "index")
    source = book.add(site.url(feed), None, 600)
    return book, source, Harvester(book, tmp_path / "corpus", client(**client_options))


def written(tmp_path: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((tmp_path / "corpus").rglob("*.json"))]


# --- listings ---------------------------------------------------------------------------------


def test_rss_atom_and_news_sitemaps_list_their_items():
    feed = parse_listing(rss([{"title": "A", "link": "http://x.test/a"}, {"title": "B", "link": "/b"}]), "http://x.test/feed")
    assert feed.kind == "feed" and [i.url for i in feed.items] == ["http://x.test/a", "http://x.test/b"]
    assert feed.items[0].published == "2018-06-04T08:00:00+00:00"
    atom = ('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
            '<entry><title>Z</title><link href="http://x.test/z"/><id>z</id><updated>2018-06-05T10:00:00Z</updated></entry></feed>')
    assert [(i.url, i.version) for i in parse_listing(atom.encode(), "http://x.test/atom").items] == [("http://x.test/z", "2018-06-05T10:00:00Z")]
    sitemap = parse_listing(news_sitemap([{"link": "http://x.test/old", "title": "Old", "date": "2018-06-01"},
                                          {"link": "http://x.test/new", "title": "جديد", "date": "2018-06-03T10:00:00+03:00"}]), "http://x.test/s")
    assert [i.url for i in sitemap.items] == ["http://x.test/new", "http://x.test/old"]  # newest first
    assert sitemap.items[0].published == "2018-06-03T07:00:00+00:00" and sitemap.items[0].title == "جديد"
    index = parse_listing(b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>/s1.xml</loc></sitemap></sitemapindex>',
                          "http://x.test/index.xml")
    assert index.sitemaps == ["http://x.test/s1.xml"]


@pytest.mark.parametrize("body", [b"<html><body>a page</body></html>", b"", b"\x00\x01binary", b"<urlset><url><loc>x"])
def test_what_is_neither_feed_nor_sitemap_is_a_clear_error(body):
    with pytest.raises(ListingError, match="not a feed or sitemap|not valid XML"):
        parse_listing(body, "http://x.test/page")


def test_durations():
    assert [parse_duration(d) for d in ("5s", "10m", "1h", "1d", "90")] == [5, 600, 3600, 86400, 90]
    for bad in ("soon", "0s", "-5m", "10 minutes"):
        with pytest.raises(RagError, match="duration|under"):
            parse_duration(bad)


# --- harvesting ---------------------------------------------------------------------------------


def test_a_feed_becomes_corpus_files_once_and_is_then_asked_conditionally(tmp_path, site):
    items = publish(site, 3)
    site.set("/feed.xml", rss(items), content_type="application/rss+xml")
    book, source, harvester = harvest(tmp_path, site)
    result = harvester.poll(source)
    assert (result.added, result.errors) == (3, [])
    records = written(tmp_path)
    assert len(records) == 3 and all(r["id"].startswith("127.0.0.1:") for r in records)
    first = next(r for r in records if r["url"] == site.url("/news/0"))
    assert first["title"] == sample(0)[0] and first["outlet"] == "Test News" and first["date"] == "2018-06-01"
    assert "لافروف" in first["text"]
    # the next poll: the feed is unchanged (If-None-Match → 304), no page is fetched again
    again = harvester.poll(book.get(source.url))
    assert (again.added, again.updated) == (0, 0)
    assert site.hits("/feed.xml")[-1].status == 304 and "if-none-match" in site.hits("/feed.xml")[-1].headers
    assert len(site.hits("/news/0")) == 1
    listed = book.get(source.url)
    assert listed.articles_added == 3 and listed.last_error is None and listed.last_success is not None


def test_robots_txt_is_obeyed_and_said(tmp_path, site):
    items = publish(site, 1) + publish(site, 1, prefix="/private")
    site.set("/feed.xml", rss(items))
    _, source, harvester = harvest(tmp_path, site)
    result = harvester.poll(source)
    assert result.added == 1 and not site.hits("/private/0")
    assert any("robots.txt" in e for e in result.errors)


def test_unreachable_robots_txt_means_disallow(site):
    site.set("/robots.txt", b"oops", status=500, conditional=False)
    site.set("/page", b"hello")
    with pytest.raises(FetchError, match="robots.txt"):
        client(retries=1).get(site.url("/page"))
    assert not site.hits("/page")


def test_requests_to_one_host_are_spaced(site):
    site.set("/a", b"a")
    polite = client(min_interval=0.3)
    for _ in range(3):
        polite.get(site.url("/a"))
    times = [r.at for r in site.hits("/a")]
    assert all(b - a >= 0.25 for a, b in zip(times, times[1:]))


def test_failures_are_retried_with_backoff_then_given_up(site):
    site.set("/flaky", b"finally", fail_times=2)
    assert client(retries=3).get(site.url("/flaky")).body == b"finally"
    assert [r.status for r in site.hits("/flaky")] == [503, 503, 200]
    site.set("/down", b"x", fail_times=99)
    with pytest.raises(FetchError, match=r"HTTP 503 \(after 2 tries\)"):
        client(retries=2).get(site.url("/down"))
    with pytest.raises(FetchError, match="HTTP 404"):
        client().get(site.url("/missing"))


def test_slow_and_huge_pages_are_abandoned(site):
    site.set("/slow", b"x" * 5000, drip_s=3.0)
    started = time.monotonic()
    with pytest.raises(FetchError, match="slower than"):
        client(max_seconds=1.0).get(site.url("/slow"))
    assert time.monotonic() - started < 2.5
    site.set("/huge", b"x" * 300_000)
    with pytest.raises(FetchError, match="over"):
        client(max_bytes=100_000).get(site.url("/huge"))


def test_one_broken_source_never_stops_the_others(tmp_path, site):
    items = publish(site, 2)
    site.set("/feed.xml", rss(items))
    site.set("/broken.xml", b"<html>not a feed</html>")
    book = SourceBook(tmp_path / "index")
    broken = book.add(site.url("/broken.xml"), None, 600)
    good = book.add(site.url("/feed.xml"), "My Outlet", 600)
    dead = book.add("http://127.0.0.1:9/feed", None, 600)  # nothing listens there
    harvester = Harvester(book, tmp_path / "corpus", client(retries=1))
    results = [harvester.poll(s) for s in (broken, dead, good)]
    assert [r.added for r in results] == [0, 0, 2]
    assert "not a feed or sitemap" in book.get(broken.url).last_error
    assert book.get(dead.url).last_error and book.get(dead.url).last_success is None
    assert {r["outlet"] for r in written(tmp_path)} == {"My Outlet"}  # --outlet names the source's articles


def test_the_same_article_twice_is_one_and_an_update_replaces_it(tmp_path, site):
    title, text = sample(0)
    canonical = site.url("/story/lavrov")
    site.set("/story/lavrov", article_page(title, text, "2018-06-01", canonical))
    site.set("/story/lavrov?utm_source=feed", article_page(title, text, "2018-06-01", canonical))
    site.set("/mirror/lavrov", article_page(title, text, "2018-06-01", site.url("/mirror/lavrov")))  # same text, own URL
    items = [{"title": title, "link": site.url("/story/lavrov?utm_source=feed"), "updated": "v1"},
             {"title": title, "link": site.url("/story/lavrov"), "updated": "v1"},
             {"title": title, "link": site.url("/mirror/lavrov"), "updated": "v1"}]
    site.set("/feed.xml", rss(items))
    book, source, harvester = harvest(tmp_path, site)
    result = harvester.poll(source)
    assert (result.added, result.duplicates, result.unchanged) == (1, 1, 1)
    assert [r["url"] for r in written(tmp_path)] == [canonical]
    # the article is corrected: the feed says so (a new `updated`), the page is fetched again and rewritten
    site.set("/story/lavrov", article_page(title + " (محدث)", text, "2018-06-01", canonical))
    items[1]["updated"] = "v2"
    site.set("/feed.xml", rss(items))
    result = harvester.poll(book.get(source.url))
    assert result.updated == 1 and result.added == 0
    assert [r["title"] for r in written(tmp_path)] == [title + " (محدث)"]


def test_a_news_sitemap_is_a_source_too(tmp_path, site):
    items = publish(site, 2)
    site.set("/sitemap-news.xml", news_sitemap([{"link": i["link"], "title": i["title"], "date": "2018-06-02"} for i in items]),
             content_type="application/xml")
    book, source, harvester = harvest(tmp_path, site, feed="/sitemap-news.xml")
    assert harvester.poll(source).added == 2
    assert book.get(source.url).newest == "2018-06-02T00:00:00+00:00"


def test_a_source_must_be_an_http_url(tmp_path):
    book = SourceBook(tmp_path / "index")
    for bad in ("file:///etc/passwd", "javascript:alert(1)", "example.com/feed", ""):
        with pytest.raises(RagError, match="not an http"):
            book.add(bad, None, 600)
