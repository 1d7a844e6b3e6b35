"""`rag watch` (one long-running writer), standing questions and timelines, offline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from helpers import write_article
from newsroom import Newsroom, article_page, rss
from rag.config import Settings
from rag.models.embeddings import load_embedder
from rag.live.alerts import AlertBook, AlertMatcher, deliver
from rag.live.sources import SourceBook
from rag.live.timeline import speakers_in, story_timeline, subject_timeline
from rag.live.watch import Watcher
from rag.retrieval import Retriever
from rag.index.store import IndexStore

pytest.importorskip("trafilatura", reason="article pages are read with trafilatura (the html extra)")
ROOT = Path(__file__).parent.parent
SAMPLES = sorted((ROOT / "examples" / "corpus").glob("*.txt"))


def settings_for(tmp_path: Path, **extra) -> Settings:
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", embedder="hash:64", crawl_interval_s=0.0, **extra)


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def indexed_ids(index: Path) -> list[str]:
    if not (index / "CURRENT").exists():
        return []
    store = IndexStore.open(index)
    try:
        return [a.id for a in store.list_articles(None, 0, 100_000)[1]]
    finally:
        store.close()


def test_watch_indexes_a_burst_of_files_and_stops_on_request(tmp_path):
    settings = settings_for(tmp_path)
    (tmp_path / "corpus").mkdir()
    events = []
    watcher = Watcher(settings, settings.corpus_dir, on_event=events.append)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        for i in range(5):
            write_article(tmp_path / "corpus", f"burst/{i}.md", f"خبر رقم {i}", f"نص الخبر رقم {i} عن مدينة الرقة والتحالف الدولي.",
                          date="2018-06-0" + str(i + 1), outlet="Test News")
        assert wait_for(lambda: len(indexed_ids(settings.index_dir)) == 5)
        updates = [e for e in events if e.kind == "update"]
        assert 1 <= len(updates) <= 3  # the burst was debounced into few updates, not five
        (tmp_path / "corpus" / "burst" / "0.md").unlink()
        assert wait_for(lambda: len(indexed_ids(settings.index_dir)) == 4)
    finally:
        watcher.stop.set()
        thread.join(20)
    assert not thread.is_alive()


def test_a_second_watcher_on_one_index_is_refused(tmp_path):
    from filelock import FileLock

    from rag.errors import RagError

    settings = settings_for(tmp_path)
    (tmp_path / "index").mkdir()
    (tmp_path / "corpus").mkdir()
    with FileLock(str(tmp_path / "index" / ".watch.lock")):
        with pytest.raises(RagError, match="already"):
            Watcher(settings, settings.corpus_dir, watch_folders=False).run()


def _feed_site(site: Newsroom, n: int) -> list[str]:
    texts = [p.read_text(encoding="utf-8").split("\n", 1) for p in SAMPLES]
    items = []
    for i in range(n):
        title, body = texts[i % len(texts)]
        site.set(f"/a/{i}", article_page(f"{title.strip()} {i}", f"تحديث رقم {i}.\n{body}", "2018-06-02"))
        items.append({"title": title, "link": site.url(f"/a/{i}")})
    site.set("/feed.xml", rss(items))
    return [site.url(f"/a/{i}") for i in range(n)]


def _rag(*args: str, env: dict[str, str], **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rag", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **options)


def test_watch_survives_kill_9_without_losing_or_doubling_articles(tmp_path):
    env = {**os.environ, "RAG_EMBEDDER": "hash:64", "RAG_CRAWL_INTERVAL_S": "0.05", "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_CORPUS_DIR": str(tmp_path / "corpus")}
    with Newsroom() as site:
        urls = _feed_site(site, 24)
        assert _rag("sources", "add", site.url("/feed.xml"), "--every", "1h", env=env).wait(60) == 0
        watcher = _rag("watch", env=env)
        feeds = tmp_path / "corpus" / "feeds"
        assert wait_for(lambda: feeds.exists() and len(list(feeds.rglob("*.json"))) >= 8, 60), watcher.stderr.read() if watcher.poll() is not None else ""
        watcher.send_signal(signal.SIGKILL)  # mid-poll: some pages fetched, none indexed yet
        watcher.wait(10)
        done = _rag("watch", "--once", "--json", env=env)
        out, err = done.communicate(timeout=120)
        assert done.returncode == 0, err
    files = [json.loads(p.read_text(encoding="utf-8")) for p in feeds.rglob("*.json")]
    ids = indexed_ids(tmp_path / "index")
    assert sorted(r["url"] for r in files) == sorted(urls)  # every item once on disk
    assert sorted(ids) == sorted(r["id"] for r in files) and len(set(ids)) == len(ids) == 24  # and once in the index


def test_watch_stops_cleanly_on_sigterm(tmp_path):
    env = {**os.environ, "RAG_EMBEDDER": "hash:64", "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CORPUS_DIR": str(tmp_path / "corpus")}
    write_article(tmp_path / "corpus", "one.md", "خبر", "نص الخبر عن الرقة.", date="2018-06-01")
    watcher = _rag("watch", env=env)
    assert wait_for(lambda: len(indexed_ids(tmp_path / "index")) == 1, 60)
    watcher.send_signal(signal.SIGTERM)
    _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0 and "stopped" in err


def test_watch_refuses_the_bundled_sample_corpus(tmp_path):
    env = {**os.environ, "RAG_EMBEDDER": "hash:64", "RAG_INDEX_DIR": str(tmp_path / "index")}
    env.pop("RAG_CORPUS_DIR", None)
    done = subprocess.run([sys.executable, "-m", "rag", "watch", "--once"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode != 0 and "corpus folder of your own" in done.stderr


def test_the_server_answers_from_each_generation_the_watcher_writes(tmp_path):
    from rag.answer.engine import AnswerEngine
    from rag.surfaces.server import create_app

    settings = settings_for(tmp_path, llm="extractive")
    write_article(tmp_path / "corpus", "first.md", "الخبر الأول", "نص الخبر الأول عن الرقة.", date="2018-06-01", outlet="Test News")
    Watcher(settings, settings.corpus_dir, watch_folders=False).run_once()
    embedder = load_embedder("hash:64")
    engine = AnswerEngine(Retriever(IndexStore.open(settings.index_dir), embedder), FakeListChatModel(responses=["x"]), settings)
    client = TestClient(create_app(settings, engine), base_url="http://127.0.0.1")
    assert client.get("/api/status").json()["articles"] == 1
    watcher = Watcher(settings, settings.corpus_dir)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        write_article(tmp_path / "corpus", "second.md", "الخبر الثاني", "نص الخبر الثاني عن إدلب.", date="2018-06-03", outlet="Test News")
        assert wait_for(lambda: client.get("/api/status").json()["articles"] == 2)
        status = client.get("/api/status").json()
        assert status["newest_article"] == "2018-06-03" and status["updated_at"]
        assert client.get("/api/articles/second").json()["title"] == "الخبر الثاني"
    finally:
        watcher.stop.set()
        thread.join(20)


# --- standing questions ---------------------------------------------------------------------------


def _index(tmp_path: Path, articles: list[tuple[str, str, str, str, str]]) -> Retriever:
    for name, title, body, date, outlet in articles:
        write_article(tmp_path / "corpus", name, title, body, date=date, outlet=outlet)
    settings = settings_for(tmp_path)
    Watcher(settings, settings.corpus_dir, watch_folders=False).run_once()
    return Retriever(IndexStore.open(settings.index_dir), load_embedder("hash:64"))


RAQQA = "قال وزير الخارجية الروسي سيرغي لافروف إن مدينة الرقة هدف للتحالف الدولي ضد الإرهاب مثل مدينة الموصل."
FOOTBALL = "فاز فريق الأهلي على فريق الزمالك في مباراة كرة القدم أمس بهدفين مقابل هدف واحد في الدوري."


def test_alerts_match_new_articles_about_the_question_only(tmp_path):
    retriever = _index(tmp_path, [("a.md", "لافروف والرقة", RAQQA, "2018-06-02", "SANA"),
                                  ("b.md", "مباراة", FOOTBALL, "2018-06-02", "Sport News"),
                                  ("c.md", "لافروف والرقة مجددا", RAQQA + " وأضاف أن التنسيق مستمر.", "2018-06-03", "BBC Arabic")])
    book = AlertBook(tmp_path / "index")
    raqqa = book.add("ماذا قال لافروف عن الرقة؟")
    only_bbc = book.add("ماذا قال لافروف عن الرقة؟", outlet="BBC Arabic")
    later = book.add("ماذا قال لافروف عن الرقة؟", since="2018-06-03")
    matcher = AlertMatcher(retriever, similarity=0.3, min_coverage=0.5)  # the hash embedder's scale, not e5's
    matches = book.store(matcher.match(book.all(), ["a", "b", "c"]))
    by_alert = {a.id: sorted(m.article_id for m in matches if m.alert_id == a.id) for a in (raqqa, only_bbc, later)}
    assert by_alert == {raqqa.id: ["a", "c"], only_bbc.id: ["c"], later.id: ["c"]}
    assert all(m.url is None and m.outlet and m.passage and m.seq for m in matches)
    assert book.store(matcher.match(book.all(), ["a"])) == []  # matched once per article
    assert [m.article_id for m in book.matches(raqqa.id, after=0)] == ["a", "c"]
    assert book.matches(raqqa.id, after=max(m.seq for m in matches)) == []  # the cursor


def test_an_alert_that_names_a_speaker_needs_that_speaker(tmp_path):
    retriever = _index(tmp_path, [("a.md", "الرقة", RAQQA.replace("سيرغي لافروف", "جون كيري"), "2018-06-02", "SANA")])
    book = AlertBook(tmp_path / "index")
    book.add("ماذا قال لافروف عن الرقة؟")
    assert AlertMatcher(retriever, similarity=0.3, min_coverage=0.3).match(book.all(), ["a"]) == []


def test_alerts_are_validated(tmp_path):
    from rag.errors import FilterError, RagError

    book = AlertBook(tmp_path / "index")
    with pytest.raises(RagError, match="needs a question"):
        book.add("  ")
    with pytest.raises(FilterError, match="not a date"):
        book.add("q", since="yesterday")
    with pytest.raises(RagError, match="http"):
        book.add("q", webhook="ftp://x")


def test_webhooks_are_retried_until_delivered(tmp_path, monkeypatch):
    from rag.live import alerts

    retriever = _index(tmp_path, [("a.md", "لافروف والرقة", RAQQA, "2018-06-02", "SANA")])
    book = AlertBook(tmp_path / "index")
    book.add("ماذا قال لافروف عن الرقة؟", webhook="http://hooks.test/in")
    book.store(AlertMatcher(retriever, similarity=0.3, min_coverage=0.5).match(book.all(), ["a"]))
    monkeypatch.setattr(alerts, "WEBHOOK_BACKOFF_S", 0)
    calls = []

    def post(url, payload):
        calls.append((url, payload))
        if len(calls) < 3:
            raise ConnectionError("receiver down")
        return type("R", (), {"status_code": 204})()

    assert [deliver(book, post) for _ in range(4)] == [0, 0, 1, 0]
    assert calls[-1][0] == "http://hooks.test/in" and calls[-1][1]["match"]["article_id"] == "a"
    assert book.delivery(calls[-1][1]["match"]["seq"])["delivered_at"]


def test_watch_runs_the_alerts_after_each_update(tmp_path, monkeypatch):
    from rag.live import alerts

    monkeypatch.setattr(alerts, "MATCH_SIMILARITY", 0.3)
    monkeypatch.setattr(alerts.AlertMatcher.__init__, "__defaults__", (0.3, 0.5))
    settings = settings_for(tmp_path)
    write_article(tmp_path / "corpus", "old.md", "قديم", FOOTBALL, date="2018-06-01", outlet="Sport News")
    Watcher(settings, settings.corpus_dir, watch_folders=False).run_once()
    book = AlertBook(settings.index_dir)
    alert = book.add("ماذا قال لافروف عن الرقة؟")
    write_article(tmp_path / "corpus", "new.md", "لافروف والرقة", RAQQA, date="2018-06-02", outlet="SANA")
    events = []
    Watcher(settings, settings.corpus_dir, watch_folders=False, on_event=events.append,
            after_update=alerts.AlertRunner(settings)).run_once()
    assert [m.article_id for m in book.matches(alert.id)] == ["new"]
    assert events[-1].extra["alert_matches"] == 1


# --- stories and timelines --------------------------------------------------------------------------


def test_story_and_subject_timelines_with_coverage(tmp_path):
    copy = RAQQA + "\n" + SAMPLES[0].read_text(encoding="utf-8").split("\n", 1)[1]  # a whole article, copied
    retriever = _index(tmp_path, [
        ("sana.md", "لافروف - الرقة هدف", copy, "2018-06-02", "SANA"),
        ("rt.md", "لافروف يتحدث عن الرقة", copy, "2018-06-02", "RT Arabic"),
        ("bbc.md", "لافروف يتحدث عن الرقة والموصل", copy, "2018-06-03", "BBC Arabic"),
        ("sport.md", "مباراة", FOOTBALL, "2018-06-02", "Sport News"),
        ("undated.md", "بلا تاريخ", "تقرير عن مدينة الرقة والتحالف.", "", "Undated News"),
    ])
    store = retriever.store
    story = story_timeline(store, "rt")  # an article's id gives its story
    assert story is not None and story.first_report.article_id in {"sana", "rt"}
    assert sorted(e.article_id for e in story.entries) == ["bbc", "rt", "sana"]
    assert story.outlets["BBC Arabic"] == "2018-06-03" and set(story.outlets) == {"SANA", "RT Arabic", "BBC Arabic"}
    assert [h.title for h in story.headlines][-1] == "لافروف يتحدث عن الرقة والموصل"
    assert story.not_reported_by == ["Sport News", "Undated News"]
    assert any("لافروف" in s["name"] for s in story.speakers)
    assert story_timeline(store, "no-such-story") is None
    timeline = subject_timeline(retriever, "الرقة")
    assert [(d.date, d.outlets) for d in timeline.days] == [("2018-06-02", {"RT Arabic": 1, "SANA": 1}), ("2018-06-03", {"BBC Arabic": 1})]
    assert timeline.first_by_outlet == {"SANA": "2018-06-02", "RT Arabic": "2018-06-02", "BBC Arabic": "2018-06-03"}
    # an undated report counts as reported (it is not on any day of the table)
    assert timeline.not_reported_by == ["Sport News"] and timeline.articles == 4 and timeline.undated == 1


def test_speakers_are_read_from_attributions():
    text = ("وقال وزير الخارجية الروسي سيرغي لافروف إن الرقة هدف. وأكد المتحدث باسم الكرملين ديمتري بيسكوف أن الاتصالات مستمرة. "
            "Lavrov said the talks went well. قال في بيان إن …")
    assert speakers_in(text) == ["وزير الخارجية الروسي سيرغي لافروف", "المتحدث باسم الكرملين ديمتري بيسكوف", "Lavrov"]


def test_timeline_on_the_dev_corpus_counts_what_the_articles_say(tmp_path):
    """A sample of real multi-outlet news: every counted article names the subject, and none that does is missed."""
    import gzip

    source = ROOT.parent / "shared" / "corpus" / "dev-multisource"
    files = sorted(source.glob("*.jsonl.gz"))
    if not files:
        pytest.skip("../shared/corpus/dev-multisource is not here")
    with gzip.open(files[0], "rt", encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(600)]
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "dev.jsonl").write_text("".join(lines), encoding="utf-8")
    settings = settings_for(tmp_path)
    Watcher(settings, settings.corpus_dir, watch_folders=False).run_once()
    retriever = Retriever(IndexStore.open(settings.index_dir), load_embedder("hash:64"))
    timeline = subject_timeline(retriever, "سوريا")
    records = [json.loads(line) for line in lines]
    expected = {r["id"] for r in records if "سوريا" in (r.get("title", "") + r["text"]) and r.get("date")}
    counted = sum(sum(d.outlets.values()) for d in timeline.days)
    assert timeline.articles >= 0.9 * len(expected) and counted <= timeline.articles
    assert set(timeline.first_by_outlet) <= set(retriever.store.outlet_names()) - set(timeline.not_reported_by)
    assert all(d.headline and d.article_id for d in timeline.days)


def test_serve_watch_runs_both_in_one_process(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAG_EMBEDDER": "hash:64", "RAG_LLM": "extractive", "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_CORPUS_DIR": str(tmp_path / "corpus")}
    write_article(tmp_path / "corpus", "one.md", "الخبر الأول", "نص الخبر الأول عن الرقة.", date="2018-06-01")
    server = _rag("serve", "--watch", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"

    def articles() -> int:
        try:
            return httpx.get(f"{base}/api/status", timeout=5).json()["articles"]
        except (httpx.HTTPError, KeyError, ValueError):
            return -1

    try:
        assert wait_for(lambda: articles() == 1, 90), server.stderr.read() if server.poll() is not None else "no answer"
        write_article(tmp_path / "corpus", "two.md", "الخبر الثاني", "نص الخبر الثاني عن إدلب.", date="2018-06-02")
        assert wait_for(lambda: articles() == 2, 60)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)


def test_the_watcher_retries_due_webhooks_between_updates(tmp_path, monkeypatch):
    from rag.live import watch

    monkeypatch.setattr(watch, "DELIVERY_CHECK_S", 0.2)
    settings = settings_for(tmp_path)
    (tmp_path / "corpus").mkdir()
    calls = []

    class Runner:
        def __call__(self, report):
            return None

        def retry_deliveries(self):
            calls.append(time.monotonic())
            return 0

    watcher = Watcher(settings, settings.corpus_dir, after_update=Runner(), watch_folders=False)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        assert wait_for(lambda: len(calls) >= 2, 10)  # no article arrived, the retries still ran
    finally:
        watcher.stop.set()
        thread.join(20)
