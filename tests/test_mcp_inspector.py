"""`rag mcp` driven by the official MCP Inspector CLI (npm `@modelcontextprotocol/inspector`, `--cli`).

`.ci/run` installs it under .ci/node/ in CI; on a user's machine without it (or without node) this skips with
a message saying how to get it. Its answers are validated with the Python SDK's own result types.
"""

import json
import os
import shutil
import subprocess

import pytest

from helpers import ROOT
from helpers import write_article
from rag.models.embeddings import load_embedder
from rag.index.writer import IndexWriter

pytest.importorskip("mcp.server.mcpserver", reason="the mcp extra is not installed: pip install '.[mcp]'")


def inspector() -> list[str]:
    local = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "mcp-inspector"
    found = os.environ.get("MCP_INSPECTOR") or (str(local) if local.exists() else shutil.which("mcp-inspector"))
    if not found or not shutil.which("node"):
        if os.environ.get("REQUIRE_MCP_INSPECTOR"):
            pytest.fail("the MCP Inspector is not installed")
        pytest.skip("the MCP Inspector CLI is not installed: npm install --prefix .ci/node @modelcontextprotocol/inspector")
    return [found, "--cli"]


@pytest.fixture(scope="module")
def server_command(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspector")
    write_article(root / "corpus", "a.md", "لافروف يتحدث عن الرقة", "قال وزير الخارجية الروسي سيرغي لافروف إن معركة الرقة "
                  "ستبدأ قريبا.", outlet="SANA", date="2016-03-01", url="https://example.org/a")
    IndexWriter(root / "index", load_embedder("hash:64"), 200, 40).update(root / "corpus")
    env = {"RAG_INDEX_DIR": str(root / "index"), "RAG_EMBEDDER": "hash:64", "RAG_LLM": "extractive",
           "RAG_CACHE_DIR": str(root / "cache")}
    rag = shutil.which("rag") or str(ROOT / ".venv" / "bin" / "rag")
    return [*(part for k, v in env.items() for part in ("-e", f"{k}={v}")), rag, "mcp"]


def run(server_command, *args) -> dict:
    done = subprocess.run([*inspector(), *server_command, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_tools_list_is_valid(server_command):
    from mcp.types import ListToolsResult

    listed = ListToolsResult.model_validate(run(server_command, "--method", "tools/list"))
    assert {t.name for t in listed.tools} == {"search_articles", "ask", "get_article", "list_outlets", "timeline", "story"}
    for tool in listed.tools:
        assert tool.description and tool.input_schema["type"] == "object"


@pytest.mark.parametrize("name, args, ok", [
    ("search_articles", ["query=الرقة", "k=2"], True),
    ("search_articles", ["query=الرقة", "k=0"], False),
    ("search_articles", ["query= "], False),
    ("search_articles", ["query=الرقة", "since=2016-13"], False),
    ("ask", ["question=ماذا قال لافروف عن الرقة؟"], True),
    ("ask", ["question=الرقة", "outlet=Le Monde"], False),
    ("get_article", ["article_id=a"], True),
    ("get_article", ["article_id=nope"], False),
    ("list_outlets", [], True),
    ("timeline", ["subject=الرقة"], True),
    ("timeline", ["subject=الرقة", "since=soon"], False),
    ("story", ["story_id=a"], True),
    ("story", ["story_id=nope"], False),
])
def test_every_tool_valid_and_invalid(server_command, name, args, ok):
    from mcp.types import CallToolResult

    extra = [part for arg in args for part in ("--tool-arg", arg)]
    result = CallToolResult.model_validate(run(server_command, "--method", "tools/call", "--tool-name", name, *extra))
    assert result.is_error is (not ok), result
    if not ok:
        assert "Traceback" not in result.content[0].text
