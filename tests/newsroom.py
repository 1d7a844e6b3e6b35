"""A local news site for the live-archive tests: feeds, sitemaps, article pages and robots.txt over HTTP.

Routes are set per test; the server answers conditional GETs (ETag / Last-Modified), can fail a route a
number of times (503), drip a page slowly, and logs every request (path, headers, time).
"""

from __future__ import annotations

import hashlib
import html
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAST_MODIFIED = "Mon, 04 Jun 2018 10:00:00 GMT"


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    fail_times: int = 0  # answer 503 this many times first
    drip_s: float = 0.0  # send the body in ten parts over this many seconds
    conditional: bool = True
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    at: float
    status: int = 0


def article_page(title: str, text: str, date: str, canonical: str | None = None, site: str = "Test News") -> bytes:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>{link}'
            f'<meta property="og:site_name" content="{html.escape(site)}">'
            f'<meta property="article:published_time" content="{date}T08:00:00Z"></head>'
            f'<body><nav><a href="/">Home</a></nav><article><h1>{html.escape(title)}</h1>{paragraphs}</article>'
            f'<footer>© Test News</footer></body></html>').encode("utf-8")


def rss(items: list[dict[str, str]], title: str = "Test News") -> bytes:
    entries = "".join(
        f"<item><title>{html.escape(i['title'])}</title><link>{html.escape(i['link'])}</link>"
        f"<guid>{html.escape(i['link'])}</guid><pubDate>{i.get('pubDate', 'Mon, 04 Jun 2018 08:00:00 GMT')}</pubDate>"
        + (f"<atom:updated>{i['updated']}</atom:updated>" if i.get("updated") else "") + "</item>"
        for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
            f"<channel><title>{title}</title><link>http://example.invalid/</link><description>news</description>"
            f"{entries}</channel></rss>").encode("utf-8")


def news_sitemap(items: list[dict[str, str]]) -> bytes:
    urls = "".join(
        f"<url><loc>{html.escape(i['link'])}</loc><news:news><news:publication><news:name>Test News</news:name>"
        f"<news:language>ar</news:language></news:publication><news:publication_date>{i['date']}</news:publication_date>"
        f"<news:title>{html.escape(i['title'])}</news:title></news:news>"
        + (f"<lastmod>{i['lastmod']}</lastmod>" if i.get("lastmod") else "") + "</url>"
        for i in items)
    return ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>').encode("utf-8")


class Newsroom:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {"/robots.txt": Route(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        room = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                record = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
                with room.lock:
                    room.requests.append(record)
                    route = room.routes.get(self.path)
                    failing = route is not None and route.fail_times > 0
                    if failing:
                        route.fail_times -= 1
                if route is None:
                    return self._send(record, 404, b"not found", "text/plain")
                if failing:
                    return self._send(record, 503, b"busy", "text/plain", {"Retry-After": "0"})
                etag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
                if route.conditional and route.status == 200 and self.headers.get("If-None-Match") == etag:
                    return self._send(record, 304, b"", route.content_type, {"ETag": etag})
                headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED, **route.headers} if route.conditional else dict(route.headers)
                self._send(record, route.status, route.body, route.content_type, headers, route.drip_s)

            def _send(self, record: Request, status: int, body: bytes, content_type: str,
                      headers: dict[str, str] | None = None, drip_s: float = 0.0) -> None:
                record.status = status
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if status == 304:
                    return
                try:
                    if drip_s:
                        step = max(1, len(body) // 10)
                        for start in range(0, len(body), step):
                            self.wfile.write(body[start : start + step])
                            self.wfile.flush()
                            time.sleep(drip_s / 10)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def set(self, path: str, body: bytes, **options: object) -> None:
        with self.lock:
            self.routes[path] = Route(body, **options)  # type: ignore[arg-type]

    def hits(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> "Newsroom":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
