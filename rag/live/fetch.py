"""A polite HTTP client for feeds, sitemaps and article pages.

What a newsroom's crawler owes the sites it reads, each in one place:
- robots.txt is read once per host per hour (stdlib `urllib.robotparser`, RFC 9309): a 4xx means no
  rules, a 5xx or an unreachable file means "disallow everything" for now;
- requests to one host are spaced by `min_interval` seconds (per-host rate limit);
- a failed request (connection error, timeout, 429, 5xx) is retried with exponential backoff
  (`tenacity`, a kept retry library, rather than a hand-written loop), honouring `Retry-After`;
- a conditional GET sends the ETag / Last-Modified of the last fetch; 304 is `not_modified`;
- a page over `max_bytes` or slower than `max_seconds` in total is abandoned with a clear error.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt, wait_exponential

from rag import __version__

USER_AGENT = f"rag-news-archive/{__version__} (+https://example.invalid/rag; polite crawler)"
ROBOTS_AGENT = "rag-news-archive"
#: An article page is at most a few hundred kB of HTML; 5 MB leaves room for inline data and stops a
#: runaway response.
MAX_PAGE_BYTES = 5 * 2**20
#: Total time for one page, connect to last byte (a slow drip is abandoned, not waited on).
MAX_PAGE_SECONDS = 30.0
ROBOTS_TTL_S = 3600.0
RETRIES = 3


class FetchError(Exception):
    """A URL that could not be fetched; the message says why and what to do."""


class _Retryable(FetchError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    backoff = wait_exponential(multiplier=0.5, max=30)(state)
    given = getattr(error, "retry_after", None)
    return max(backoff, min(given, 60.0)) if given is not None else backoff


class PoliteClient:
    """One client for every source of a `rag watch` process (thread-safe)."""

    def __init__(self, min_interval: float = 1.0, max_bytes: int = MAX_PAGE_BYTES, max_seconds: float = MAX_PAGE_SECONDS,
                 retries: int = RETRIES, transport: httpx.BaseTransport | None = None) -> None:
        self.min_interval = min_interval
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.retries = retries
        self.http = httpx.Client(headers={"User-Agent": USER_AGENT}, follow_redirects=True, transport=transport,
                                 timeout=httpx.Timeout(min(10.0, max_seconds), connect=min(10.0, max_seconds)))
        self._robots: dict[str, tuple[float, urllib.robotparser.RobotFileParser | None]] = {}
        self._next_slot: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET `url` if robots.txt allows it; raises FetchError with the reason otherwise."""
        if not self.allowed(url):
            raise FetchError(f"{url}: disallowed by {_origin(url)}/robots.txt for {ROBOTS_AGENT}; not fetched")
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = retry(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            stop=stop_after_attempt(self.retries), wait=_wait, reraise=True,
        )(self._get_once)
        try:
            return attempt(url, headers)
        except _Retryable as exc:
            raise FetchError(f"{exc} (after {self.retries} tries)") from None

    def _get_once(self, url: str, headers: dict[str, str]) -> Fetched:
        self._take_slot(urlsplit(url).netloc)
        started = time.monotonic()
        try:
            with self.http.stream("GET", url, headers=headers) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Retryable(f"{url}: HTTP {response.status_code}", _retry_after(response.headers.get("Retry-After")))
                if response.status_code >= 400:
                    raise FetchError(f"{url}: HTTP {response.status_code}; check the URL")
                body = bytearray()
                for part in response.iter_bytes():
                    body.extend(part)
                    if len(body) > self.max_bytes:
                        raise FetchError(f"{url}: over {self.max_bytes // 2**20} MB; not an article page, skipped")
                    if time.monotonic() - started > self.max_seconds:
                        raise FetchError(f"{url}: slower than {self.max_seconds:.0f} s; skipped, tried again next poll")
                return Fetched(str(response.url), response.status_code, bytes(body), response.headers.get("ETag"),
                               response.headers.get("Last-Modified"), response.headers.get("Content-Type", ""))
        except httpx.TimeoutException:
            raise _Retryable(f"{url}: timed out") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"{url}: {type(exc).__name__}: {exc or 'connection failed'}") from None

    def allowed(self, url: str) -> bool:
        origin = _origin(url)
        with self._lock:
            cached = self._robots.get(origin)
        if cached is None or time.monotonic() - cached[0] > ROBOTS_TTL_S:
            cached = (time.monotonic(), self._read_robots(origin))
            with self._lock:
                self._robots[origin] = cached
        rules = cached[1]
        return False if rules is None else rules.can_fetch(ROBOTS_AGENT, url)

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser | None:
        """The host's rules; None (disallow all) when robots.txt is unreachable or answers 5xx (RFC 9309 §2.3.1)."""
        rules = urllib.robotparser.RobotFileParser()
        try:
            self._take_slot(urlsplit(origin).netloc)
            response = self.http.get(f"{origin}/robots.txt")
        except httpx.HTTPError:
            return None
        if response.status_code >= 500:
            return None
        rules.parse([] if response.status_code >= 400 else response.text[:500_000].splitlines())
        return rules

    def _take_slot(self, host: str) -> None:
        """Wait until `host` may be asked again (at most one request per `min_interval`)."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot.get(host, 0.0))
            self._next_slot[host] = slot + self.min_interval
        if slot > now:
            time.sleep(slot - now)

    def close(self) -> None:
        self.http.close()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
