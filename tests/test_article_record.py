"""One article record (rag.article.ArticleMeta): read once, stored by name, the same on every surface.

`author` and `section` were added by touching the record (rag/article.py), the readers (rag/ingest/corpus.py,
rag/ingest/html.py) and nothing else; these tests follow them from the corpus to the CLI, search JSON, citations,
the HTTP API, MCP's get_article and LangChain metadata.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields

import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from typer.testing import CliRunner

import cli
from helpers import write_article
from rag.article import ARTICLE_SCHEMA, ArticleMeta
from rag.config import Settings
from rag.ingest.corpus import read_corpus
from rag.models.embeddings import load_embedder
from rag.index.writer import IndexWriter
from rag.retrieval import Retriever
from rag.index.store import IndexStore

BODY = "قال وزير الخارجية الروسي سيرغي لافروف إن مدينة الرقة هدف للتحالف الدولي. وأضاف أن التنسيق مع واشنطن مستمر."


@pytest.fixture()
def archive(tmp_path):
    write_article(tmp_path / "corpus", "a.md", "لافروف والرقة", BODY, outlet="SANA", date="2016-03-01",
                  url="https://example.org/a", author="سامي علي", section="سياسة")
    write_article(tmp_path / "corpus", "b.md", "النفط", "ارتفعت أسعار النفط في الأسواق العالمية بعد قرار أوبك.", outlet="Al Jazeera", date="2017-01-02")
    IndexWriter(tmp_path / "index", load_embedder("hash:64"), 200, 40).update(tmp_path / "corpus")
    return tmp_path


def test_the_readers_fill_author_and_section(archive, tmp_path):
    articles, errors = read_corpus(archive / "corpus")
    a = next(x for x in articles if x.id == "a")
    assert not errors and (a.author, a.section) == ("سامي علي", "سياسة") and a.meta == ArticleMeta(**{
        f.name: getattr(a, f.name) for f in fields(ArticleMeta)})
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "x.jsonl").write_text(json.dumps({"id": "j", "title": "t", "text": BODY, "author": ["A", "B"], "section": " World "},
                                                          ensure_ascii=False) + "\n", encoding="utf-8")
    j = read_corpus(tmp_path / "json")[0][0]
    assert (j.author, j.section) == ("A, B", "World")


def test_html_pages_give_author_and_section(tmp_path):
    pytest.importorskip("trafilatura")
    page = ('<html><head><title>T</title><meta name="author" content="Sami Ali"><meta property="article:section" content="Politics">'
            f'<meta property="og:site_name" content="Test News"></head><body><article><h1>T</h1><p>{BODY * 4}</p></article></body></html>')
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "p.html").write_text(page, encoding="utf-8")
    article = read_corpus(tmp_path / "c")[0][0]
    assert (article.author, article.section, article.outlet) == ("Sami Ali", "Politics", "Test News")


def test_the_docstore_columns_are_the_record_and_rows_are_read_by_name(archive):
    db = sqlite3.connect(next((archive / "index").glob("seg-*")) / "docstore.sqlite")
    columns = [row[1] for row in db.execute("PRAGMA table_info(articles)")]
    assert columns == ["ord", *ArticleMeta.field_names(), "source_file", "content_hash", "n_chunks", "first_pos"]
    assert "author TEXT" in ARTICLE_SCHEMA and "section TEXT" in ARTICLE_SCHEMA


def test_every_surface_shows_the_same_record(archive, monkeypatch):
    from rag.answer.engine import AnswerEngine
    from rag.surfaces.langchain import RagRetriever
    from rag.surfaces.server import create_app

    expected = {"article_id": "a", "outlet": "SANA", "date": "2016-03-01", "url": "https://example.org/a", "author": "سامي علي",
                "section": "سياسة", "story_id": "a"}
    store = IndexStore.open(archive / "index")
    assert {k: store.find_articles(["a"])["a"].to_dict()[k] for k in expected} == expected
    retriever = Retriever(store, load_embedder("hash:64"))
    hit = retriever.search("لافروف الرقة", k=1).to_dict()["hits"][0]
    assert {k: hit[k] for k in expected} == expected
    monkeypatch.setenv("RAG_EMBEDDER", "hash:64")
    shown = CliRunner().invoke(cli.app, ["articles", "show", "a", "--index", str(archive / "index"), "--json"])
    assert {k: json.loads(shown.stdout)[k] for k in expected} == expected
    text = CliRunner().invoke(cli.app, ["articles", "show", "a", "--index", str(archive / "index")]).stdout
    assert "سامي علي — سياسة" in text
    settings = Settings(index_dir=archive / "index", embedder="hash:64", llm="extractive", k=2)
    engine = AnswerEngine(retriever, FakeListChatModel(responses=["x"]), settings)
    client = TestClient(create_app(settings, engine), base_url="http://127.0.0.1")
    api_hit = client.post("/api/search", json={"query": "لافروف الرقة", "k": 1}).json()["hits"][0]
    assert {k: api_hit[k] for k in expected} == expected
    assert {k: client.get("/api/articles/a").json()[k] for k in expected} == expected
    asked = client.post("/api/ask", json={"question": "لافروف الرقة"}).json()
    for reference in [*asked["sources"], *asked["citations"]]:
        if reference["article_id"] == "a":
            assert {k: reference[k] for k in expected} == expected
    docs = RagRetriever(retriever=retriever, k=1).invoke("لافروف الرقة")
    assert {k: docs[0].metadata[k] for k in expected} == expected


def test_mcp_get_article_is_the_record_plus_text(archive):
    pytest.importorskip("mcp")
    from rag.surfaces.mcp import create_mcp

    settings = Settings(index_dir=archive / "index", embedder="hash:64", llm="extractive")
    server = create_mcp(settings)
    import asyncio

    result = asyncio.run(server.call_tool("get_article", {"article_id": "a"}))
    structured = getattr(result, "structured_content", None)
    payload = structured.get("result", structured) if structured else json.loads(result.content[0].text)
    assert payload["author"] == "سامي علي" and payload["section"] == "سياسة" and "الرقة" in payload["text"]


def test_an_index_of_the_older_format_says_to_rebuild_and_the_rebuild_reuses_its_vectors(archive):
    from rag.errors import IndexMismatchError

    manifest = next((archive / "index").glob("manifest-*.json"))
    data = json.loads(manifest.read_text())
    data["format_version"] = 7
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="rag index build"):
        IndexStore.open(archive / "index")
    report = IndexWriter(archive / "index", load_embedder("hash:64"), 200, 40).update(archive / "corpus", rebuild=True)
    assert report.added == 2 and report.chunks_embedded == 0 and report.chunks_reused > 0
