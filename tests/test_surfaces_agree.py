"""One question through every surface (CLI, HTTP, MCP, LangChain) gives the same passages and citations:
they are all argument parsing over one `rag.service.Archive`."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import cli
from helpers import SAMPLE_CORPUS
from rag.config import Settings
from rag.models.embeddings import load_embedder
from rag.index.writer import IndexWriter
from rag.service import Archive

QUESTION = "ماذا قال لافروف عن الرقة؟"


def _refs(answer: dict) -> dict:
    def ids(rows):
        return [(r["n"], r["article_id"], r["outlet"], r["quote"]) for r in rows]

    return {"answer": answer["answer"], "abstained": answer["abstained"], "citations": ids(answer["citations"]),
            "sources": ids(answer["sources"])}


def test_one_question_gives_the_same_citations_on_every_surface(tmp_path, monkeypatch):
    pytest.importorskip("mcp")
    from rag.surfaces.mcp import create_mcp
    from rag.surfaces.server import create_app

    IndexWriter(tmp_path / "index", load_embedder("hash:64"), 200, 40).update(SAMPLE_CORPUS)
    settings = Settings(index_dir=tmp_path / "index", embedder="hash:64", llm="extractive", k=4)
    archive = Archive.open(settings)
    expected = _refs(archive.ask(QUESTION).to_dict())
    assert expected["sources"], "the sample must give passages"

    monkeypatch.setenv("RAG_EMBEDDER", "hash:64")
    monkeypatch.setenv("RAG_LLM", "extractive")
    monkeypatch.setenv("RAG_K", "4")
    result = CliRunner().invoke(cli.app, ["ask", QUESTION, "--index", str(tmp_path / "index"), "--json"])
    assert result.exit_code == 0, result.output
    assert _refs(json.loads(result.stdout)) == expected

    client = TestClient(create_app(settings, archive.engine), base_url="http://127.0.0.1")
    assert _refs(client.post("/api/ask", json={"question": QUESTION}).json()) == expected

    mcp = create_mcp(settings, Archive.open(settings).engine)
    called = asyncio.run(mcp.call_tool("ask", {"question": QUESTION}))
    structured = getattr(called, "structured_content", None)
    payload = structured.get("result", structured) if structured else json.loads(called.content[0].text)
    assert _refs(payload) == expected

    assert _refs(archive.engine.as_runnable().invoke(QUESTION)) == expected
