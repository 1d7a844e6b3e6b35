"""The live archive's CLI commands and HTTP routes: shapes, validation, the same answers on both."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from typer.testing import CliRunner

import cli
from helpers import write_article
from rag.config import Settings
from rag.models.embeddings import load_embedder
from rag.errors import RagError
from rag.live.watch import Watcher
from rag.retrieval import Retriever
from rag.index.store import IndexStore

runner = CliRunner()
SAMPLE = sorted((Path(__file__).parent.parent / "examples" / "corpus").glob("*.txt"))[0]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    body = SAMPLE.read_text(encoding="utf-8").split("\n", 1)[1]
    for name, outlet, date in (("sana", "SANA", "2018-06-02"), ("rt", "RT Arabic", "2018-06-02"), ("bbc", "BBC Arabic", "2018-06-04")):
        write_article(root / "corpus", f"{name}.md", f"لافروف والرقة {name}", body, date=date, outlet=outlet)
    write_article(root / "corpus", "sport.md", "مباراة", "فاز فريق الأهلي على فريق الزمالك في مباراة كرة القدم أمس.",
                  date="2018-06-03", outlet="Sport News")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", embedder="hash:64", llm="extractive")
    Watcher(settings, settings.corpus_dir, watch_folders=False).run_once()
    return root, settings


@pytest.fixture(autouse=True)
def _index_env(archive, monkeypatch):
    """The CLI finds the archive as a user's shell would (the conftest clears RAG_* for each test)."""
    monkeypatch.setenv("RAG_EMBEDDER", "hash:64")
    monkeypatch.setenv("RAG_INDEX_DIR", str(archive[1].index_dir))


@pytest.fixture()
def client(archive):
    from rag.answer.engine import AnswerEngine
    from rag.surfaces.server import create_app

    _, settings = archive
    engine = AnswerEngine(Retriever(IndexStore.open(settings.index_dir), load_embedder("hash:64")), FakeListChatModel(responses=["x"]), settings)
    return TestClient(create_app(settings, engine), base_url="http://127.0.0.1")


def cli_json(*args: str):
    result = runner.invoke(cli.app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_sources_on_the_cli_and_the_api(archive, client):
    added = cli_json("sources", "add", "https://news.example/feed.xml", "--outlet", "Example", "--every", "5m")
    assert added["url"] == "https://news.example/feed.xml" and added["every_s"] == 300 and added["outlet"] == "Example"
    listed = cli_json("sources", "list")
    assert [s["url"] for s in listed] == ["https://news.example/feed.xml"]
    assert {"last_success", "last_error", "articles_added", "newest", "lag_s"} <= set(listed[0])
    assert client.get("/api/sources").json() == listed
    posted = client.post("/api/sources", json={"url": "https://other.example/sitemap.xml", "every": "1h"})
    assert posted.status_code == 200 and posted.json()["every_s"] == 3600
    assert client.post("/api/sources", json={"url": "https://x.example/f", "every": "often"}).status_code == 422
    assert client.post("/api/sources", json={"url": "javascript:alert(1)"}).status_code == 422
    assert [s["url"] for s in client.get("/api/status").json()["sources"]] == ["https://news.example/feed.xml", "https://other.example/sitemap.xml"]
    assert runner.invoke(cli.app, ["sources", "remove", "https://other.example/sitemap.xml"]).exit_code == 0
    with pytest.raises(RagError, match="no source"):
        runner.invoke(cli.app, ["sources", "remove", "https://nowhere.example/"], catch_exceptions=False)


def test_alerts_on_the_cli_and_the_api(archive, client):
    result = runner.invoke(cli.app, ["alerts", "add", "ماذا قال لافروف عن الرقة؟", "--outlet", "SANA"])
    assert result.exit_code == 0 and result.stdout.strip().isdigit()  # prints the alert's id
    alert_id = int(result.stdout)
    listed = cli_json("alerts", "list")
    assert listed[-1]["id"] == alert_id and listed[-1]["outlet"] == "SANA" and listed[-1]["matches"] == 0
    shown = cli_json("alerts", "show", str(alert_id))
    assert shown["question"] == "ماذا قال لافروف عن الرقة؟" and shown["matches"] == []
    assert client.get(f"/api/alerts/{alert_id}").json()["question"] == shown["question"]
    created = client.post("/api/alerts", json={"question": "What did Lavrov say about Raqqa?", "since": "2018-06"})
    assert created.status_code == 200 and created.json()["since"] == "2018-06"
    bad = client.post("/api/alerts", json={"question": "q", "since": "last week"})
    assert bad.status_code == 422 and "not a date" in bad.text
    assert client.get("/api/alerts/matches", params={"after": 0}).json() == {"matches": [], "cursor": 0}
    assert client.delete(f"/api/alerts/{created.json()['id']}").status_code == 200
    assert client.get(f"/api/alerts/{created.json()['id']}").status_code == 404
    assert runner.invoke(cli.app, ["alerts", "remove", str(alert_id)]).exit_code == 0
    assert cli_json("alerts", "list") == []


def test_matches_arrive_on_the_cursor_and_the_event_stream(archive, client):
    from rag.live.alerts import AlertBook, AlertMatch

    root, settings = archive
    book = AlertBook(settings.index_dir)
    alert = book.add("ماذا قال لافروف عن الرقة؟")
    stored = book.store([AlertMatch(0, alert.id, "sana", "t", "SANA", "2018-06-02", None, "passage", 0.9, "2026-01-01T00:00:00+00:00")])
    page = client.get("/api/alerts/matches", params={"after": 0, "alert_id": alert.id}).json()
    assert [m["article_id"] for m in page["matches"]] == ["sana"] and page["cursor"] == stored[0].seq
    assert client.get("/api/alerts/matches", params={"after": page["cursor"]}).json()["matches"] == []
    with client.stream("GET", "/api/alerts/stream", params={"after": 0, "alert_id": alert.id}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = []
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("data: "):
                break
    assert f"id: {stored[0].seq}" in lines and "event: match" in lines
    assert json.loads(lines[-1][len("data: "):])["article_id"] == "sana"
    book.remove(alert.id)


def test_story_and_timeline_are_the_same_on_the_cli_and_the_api(archive, client):
    story = cli_json("story", "rt")
    assert story == client.get("/api/stories/rt").json()
    assert {e["article_id"] for e in story["entries"]} == {"sana", "rt", "bbc"} and story["not_reported_by"] == ["Sport News"]
    assert client.get("/api/stories/nothing-here").status_code == 404
    timeline = cli_json("timeline", "الرقة", "--since", "2018-06-01")
    assert timeline == client.get("/api/timeline", params={"subject": "الرقة", "since": "2018-06-01"}).json()
    assert [d["date"] for d in timeline["days"]] == ["2018-06-02", "2018-06-04"]
    assert timeline["days"][0]["outlets"] == {"RT Arabic": 1, "SANA": 1}  # one story, one count per outlet
    assert set(timeline["days"][0]) == {"date", "outlets", "headline", "url", "article_id"}
    assert timeline["not_reported_by"] == ["Sport News"]
    assert client.get("/api/timeline", params={"subject": "x", "since": "soon"}).status_code == 422
    assert client.get("/api/timeline", params={"subject": "x", "outlet": "Nowhere"}).status_code == 422
    table = runner.invoke(cli.app, ["timeline", "الرقة"])
    assert table.exit_code == 0 and "not reported by: Sport News" in table.stdout and "2018-06-02" in table.stdout


def test_status_shows_freshness(archive):
    status = cli_json("index", "status")
    assert status["newest_article"] == "2018-06-04" and status["updated_at"]
    text = runner.invoke(cli.app, ["index", "status"]).stdout
    assert "newest article 2018-06-04" in text
