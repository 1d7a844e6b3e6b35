"""Standing questions: after each update, the new articles are matched against every followed question.

    rag alerts add "What did Lavrov say about Raqqa?" [--outlet] [--since] [--webhook URL]

A match is a passage of a new (or changed) article that is about the question: its e5 similarity to the
question (CROSS_LANGUAGE_OFFSET added across languages, as for answers) is at least MATCH_SIMILARITY and
it holds at least MATCH_COVERAGE of the question's content words (names through their aliases, as the
search finds them). A question that names a speaker ("what did X say …") matches only passages that
name X; a time in the question ("in June 2018") or the alert's --since/--outlet restrict it like a
search filter. The thresholds are calibrated on the tune split of newsqa-dev
(bench/calibrate_alerts.py, bench/results/alerts-calibration.json; docs/live.md): at similarity .86
the 54 tune questions with gold articles, run as alerts over the whole dev index as one burst, matched
.81 of their gold articles with 0.5 other articles per question per 1,000 new ones; any words gate
(coverage ≥ .2) lost a quarter of the gold (English questions share few words with Arabic articles)
for less noise than raising the similarity by .01 — so MATCH_COVERAGE is 0 by default.

Matching is one matrix product per burst (questions × the burst's chunk vectors, read from the index,
never re-embedded) plus word checks on the candidates.

Matches are stored with the passage, outlet, date and URL (`alert_matches`, a growing `seq` as the
cursor for /api/alerts). With --webhook, each match is POSTed as JSON; failed deliveries are retried
with backoff on later updates (`deliveries`) and give up after WEBHOOK_ATTEMPTS.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

import numpy as np

from rag.answer.answerability import CROSS_LANGUAGE_OFFSET, coverage
from rag.errors import InputError
from rag.live.tables import LiveTables
from rag.language import detect_language, lexical_tokens, light_stem
from rag.news.questions import analyse, mentions
from rag.news.filters import Filters, date_bound

#: Calibrated on newsqa-dev tune (bench/calibrate_alerts.py, docs/live.md): recall .81, noise 0.5 per 1,000.
MATCH_SIMILARITY = 0.86
MATCH_COVERAGE = 0.0
PASSAGE_CHARS = 400
WEBHOOK_ATTEMPTS = 5
WEBHOOK_BACKOFF_S = 30


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@dataclass
class Alert:
    id: int
    question: str
    outlet: str | None
    since: str | None
    webhook: str | None
    created_at: str

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class AlertMatch:
    seq: int
    alert_id: int
    article_id: str
    title: str
    outlet: str
    date: str | None
    url: str | None
    passage: str
    score: float
    matched_at: str

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_ALERT = [f.name for f in fields(Alert)]
_MATCH = [f.name for f in fields(AlertMatch)]


class AlertBook(LiveTables):
    """The `alerts`, `alert_matches` and `deliveries` tables of `INDEX/live.sqlite`."""

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS alerts(id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL, outlet TEXT,"
        " since TEXT, webhook TEXT, created_at TEXT);"
        "CREATE TABLE IF NOT EXISTS alert_matches(seq INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER, article_id TEXT,"
        " title TEXT, outlet TEXT, date TEXT, url TEXT, passage TEXT, score REAL, matched_at TEXT,"
        " UNIQUE(alert_id, article_id));"
        "CREATE TABLE IF NOT EXISTS deliveries(seq INTEGER PRIMARY KEY, attempts INTEGER, next_try TEXT,"
        " last_error TEXT, delivered_at TEXT);"
    )

    def add(self, question: str, outlet: str | None = None, since: str | None = None, webhook: str | None = None) -> Alert:
        question = (question or "").strip()
        if not question:
            raise InputError("an alert needs a question, e.g. rag alerts add \"What did Lavrov say about Raqqa?\"", "question")
        filters = Filters.parse(outlet=outlet, since=since)  # the one validator: a bad date is an error here
        if webhook and (urlsplit(webhook).scheme not in ("http", "https") or not urlsplit(webhook).netloc):
            raise InputError(f"--webhook {webhook!r} is not an http(s) URL", "webhook")
        with self.db:
            cursor = self.db.execute("INSERT INTO alerts(question, outlet, since, webhook, created_at) VALUES (?,?,?,?,?)",
                                     (question, filters.outlet, filters.since, webhook or None, _now().isoformat()))
        return self.get(int(cursor.lastrowid or 0))  # type: ignore[return-value]

    def get(self, alert_id: int) -> Alert | None:
        row = self.db.execute(f"SELECT {', '.join(_ALERT)} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return Alert(**{k: row[k] for k in _ALERT}) if row else None

    def all(self) -> list[Alert]:
        return [Alert(**{k: r[k] for k in _ALERT}) for r in self.db.execute(f"SELECT {', '.join(_ALERT)} FROM alerts ORDER BY id")]

    def remove(self, alert_id: int) -> bool:
        with self.db:
            gone = self.db.execute("DELETE FROM alerts WHERE id = ?", (alert_id,)).rowcount > 0
            self.db.execute("DELETE FROM alert_matches WHERE alert_id = ?", (alert_id,))
        return gone

    def counts(self) -> dict[int, tuple[int, str | None]]:
        """alert id → (matches, last match time)."""
        rows = self.db.execute("SELECT alert_id, COUNT(*), MAX(matched_at) FROM alert_matches GROUP BY alert_id")
        return {r[0]: (r[1], r[2]) for r in rows}

    def store(self, matches: Sequence[AlertMatch]) -> list[AlertMatch]:
        """Keep new matches (an article already matched for an alert is not matched again); the stored ones."""
        stored = []
        with self.db:
            for m in matches:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO alert_matches(alert_id, article_id, title, outlet, date, url, passage, score, matched_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    (m.alert_id, m.article_id, m.title, m.outlet, m.date, m.url, m.passage, m.score, m.matched_at))
                if cursor.rowcount:
                    m.seq = int(cursor.lastrowid or 0)
                    stored.append(m)
                    self.db.execute("INSERT OR IGNORE INTO deliveries(seq, attempts) VALUES (?, 0)", (m.seq,))
        return stored

    def matches(self, alert_id: int | None = None, after: int = 0, limit: int = 100) -> list[AlertMatch]:
        """Matches with seq > `after` (the cursor), oldest first."""
        where, params = "seq > ?", [after]
        if alert_id is not None:
            where += " AND alert_id = ?"
            params.append(alert_id)
        rows = self.db.execute(f"SELECT {', '.join(_MATCH)} FROM alert_matches WHERE {where} ORDER BY seq LIMIT ?", [*params, limit])
        return [AlertMatch(**{k: r[k] for k in _MATCH}) for r in rows]

    def due_deliveries(self) -> list[tuple[AlertMatch, str, int]]:
        """(match, webhook, attempts so far) of matches whose webhook POST is due."""
        now = _now().isoformat()
        rows = self.db.execute(
            "SELECT d.seq, d.attempts, a.webhook FROM deliveries d JOIN alert_matches m ON m.seq = d.seq "
            "JOIN alerts a ON a.id = m.alert_id WHERE d.delivered_at IS NULL AND a.webhook IS NOT NULL "
            "AND d.attempts < ? AND (d.next_try IS NULL OR d.next_try <= ?) ORDER BY d.seq", (WEBHOOK_ATTEMPTS, now)).fetchall()
        found = []
        for seq, attempts, webhook in rows:
            match = self.matches(after=seq - 1, limit=1)
            if match and match[0].seq == seq:
                found.append((match[0], webhook, attempts))
        return found

    def delivered(self, seq: int, error: str | None, attempts: int) -> None:
        with self.db:
            if error is None:
                self.db.execute("UPDATE deliveries SET attempts = ?, delivered_at = ?, last_error = NULL WHERE seq = ?",
                                (attempts, _now().isoformat(), seq))
            else:
                retry_at = _now() + dt.timedelta(seconds=WEBHOOK_BACKOFF_S * 2 ** (attempts - 1))
                self.db.execute("UPDATE deliveries SET attempts = ?, next_try = ?, last_error = ? WHERE seq = ?",
                                (attempts, retry_at.isoformat(), error, seq))

    def delivery(self, seq: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM deliveries WHERE seq = ?", (seq,)).fetchone()



@dataclass
class _Question:
    vector: np.ndarray
    language: str
    terms: set[str]
    speaker_terms: list[str]
    window: tuple[int, int] | None


class AlertMatcher:
    """Matches a burst's articles against standing questions with the search's own words, names and dates."""

    def __init__(self, retriever, similarity: float = MATCH_SIMILARITY, min_coverage: float = MATCH_COVERAGE) -> None:
        self.retriever = retriever
        self.similarity = similarity
        self.min_coverage = min_coverage
        self._questions: dict[str, _Question] = {}

    def match(self, alerts: Sequence[Alert], article_ids: Sequence[str]) -> list[AlertMatch]:
        if not alerts or not article_ids:
            return []
        self.retriever.refresh()
        store = self.retriever.store
        chunks, vectors = store.article_passages(article_ids)
        if not chunks:
            return []
        questions = [self._question(a.question) for a in alerts]
        sims = np.stack([q.vector for q in questions]) @ vectors.T  # questions × chunks, one product per burst
        now = _now().isoformat()
        found: list[AlertMatch] = []
        for alert, question, row in zip(alerts, questions, sims):
            allowed = self._outlets(alert, store)
            best: dict[str, AlertMatch] = {}
            for c in np.flatnonzero(row >= self.similarity - CROSS_LANGUAGE_OFFSET):
                chunk = chunks[c]
                score = float(row[c]) + (CROSS_LANGUAGE_OFFSET if chunk.lang != question.language else 0.0)
                if score < self.similarity or not self._passes(alert, question, chunk, allowed):
                    continue
                if chunk.article_id not in best or score > best[chunk.article_id].score:
                    best[chunk.article_id] = AlertMatch(0, alert.id, chunk.article_id, chunk.title, chunk.outlet, chunk.date,
                                                        chunk.url, chunk.text[:PASSAGE_CHARS], round(score, 4), now)
            found.extend(best.values())
        return found

    def _passes(self, alert: Alert, question: _Question, chunk, allowed: set[str] | None) -> bool:
        if allowed is not None and chunk.outlet not in allowed:
            return False
        day = _day(chunk.date)
        if alert.since and (day is None or day < date_bound(alert.since, end=False)):
            return False
        if question.window and day is not None and not question.window[0] <= day <= question.window[1]:
            return False
        if question.speaker_terms and not mentions(chunk.text, question.speaker_terms):
            return False
        return coverage(question.terms, chunk.text) >= self.min_coverage

    def _outlets(self, alert: Alert, store) -> set[str] | None:
        if not alert.outlet:
            return None
        try:
            return set(store.resolve_outlet(alert.outlet))
        except Exception:  # an outlet the index does not hold yet: nothing of it can match
            return set()

    def _question(self, text: str) -> _Question:
        if text not in self._questions:
            names = self.retriever.name_terms(text)
            news = analyse(text)
            speaker: list[str] = []
            if news.speaker:
                speaker = [*lexical_tokens(news.speaker), *self.retriever.name_terms(news.speaker)]
            window = None
            if news.time_filter is not None:
                window = (date_bound(news.time_filter.since, end=False), date_bound(news.time_filter.until, end=True))
            self._questions[text] = _Question(
                self.retriever.embedder.embed_queries([text])[0], detect_language(text),
                {light_stem(t) for t in [*lexical_tokens(text), *names]}, speaker, window)
        return self._questions[text]


def _day(date: str | None) -> int | None:
    try:
        return dt.date.fromisoformat(date[:10]).toordinal() if date else None
    except ValueError:
        return None


def deliver(book: AlertBook, post=None) -> int:
    """POST each due match to its alert's webhook; returns how many were delivered. Failures are kept for
    a later retry (backoff doubles from WEBHOOK_BACKOFF_S), never raised."""
    import httpx

    post = post or (lambda url, payload: httpx.post(url, json=payload, timeout=10.0))
    delivered = 0
    for match, webhook, attempts in book.due_deliveries():
        try:
            response = post(webhook, {"alert_id": match.alert_id, "match": match.to_dict()})
            status = getattr(response, "status_code", 200)
            error = None if status < 300 else f"HTTP {status}"
        except Exception as exc:  # the receiver is down or unreachable: retried later
            error = f"{type(exc).__name__}: {exc}"
        book.delivered(match.seq, error, attempts + 1)
        delivered += error is None
    return delivered


class AlertRunner:
    """What `rag watch` runs after each update: match the changed articles, store, deliver webhooks."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._matcher: AlertMatcher | None = None

    def __call__(self, report) -> dict[str, object] | None:
        with AlertBook(self.settings.index_dir) as book:
            alerts = book.all()
            if not alerts:
                return None
            stored = book.store(self.matcher().match(alerts, report.changed_ids))
            delivered = deliver(book)
        return {"alert_matches": len(stored), "webhooks_delivered": delivered}

    def retry_deliveries(self) -> int:
        """Deliver the webhook POSTs that are due again (called by the watcher between updates too, so a
        failed delivery is retried on its schedule even when no new article arrives)."""
        with AlertBook(self.settings.index_dir) as book:
            return deliver(book)

    def matcher(self) -> AlertMatcher:
        if self._matcher is None:
            from rag import open_retriever

            self._matcher = AlertMatcher(open_retriever(self.settings))
        return self._matcher
