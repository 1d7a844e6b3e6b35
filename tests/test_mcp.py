"""`rag mcp` driven by the MCP SDK's own client, over stdio and over Streamable HTTP."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytest.importorskip("mcp.server.mcpserver", reason="the mcp extra is not installed: pip install '.[mcp]'")

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from rag.models.embeddings import load_embedder  # noqa: E402
from rag.index.writer import IndexWriter  # noqa: E402

from helpers import ROOT  # noqa: E402
from helpers import write_article  # noqa: E402

TOOLS = {"search_articles", "ask", "get_article", "list_outlets", "timeline", "story"}


@pytest.fixture(scope="module")
def mcp_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp")
    corpus = root / "corpus"
    write_article(corpus, "a.md", "لافروف يتحدث عن الرقة", "قال وزير الخارجية الروسي سيرغي لافروف إن معركة الرقة ستبدأ قريبا. "
                  "وأضاف أن التنسيق مع واشنطن ضروري.", outlet="SANA", date="2016-03-01", url="https://example.org/a")
    write_article(corpus, "b.md", "أسعار النفط", "ارتفعت أسعار النفط في الأسواق العالمية بعد قرار أوبك.", outlet="Al Jazeera", date="2017-01-02")
    IndexWriter(root / "index", load_embedder("hash:64"), 200, 40).update(corpus)
    env = {**os.environ, "RAG_INDEX_DIR": str(root / "index"), "RAG_EMBEDDER": "hash:64", "RAG_LLM": "extractive",
           "RAG_CACHE_DIR": str(root / "cache"), "PYTHONPATH": str(ROOT)}
    return env


def _payload(result) -> dict:
    assert not result.is_error, result
    if result.structured_content is not None:
        return result.structured_content.get("result", result.structured_content)
    return json.loads(result.content[0].text)


async def _exercise(client) -> None:
    tools = await client.list_tools()
    assert TOOLS <= {t.name for t in tools.tools}
    search = next(t for t in tools.tools if t.name == "search_articles")
    assert {"query", "k", "outlet", "since", "until"} <= set(search.input_schema["properties"])
    found = _payload(await client.call_tool("search_articles", {"query": "الرقة لافروف", "k": 2}))
    assert found["hits"][0]["article_id"] == "a" and found["hits"][0]["outlet"] == "SANA"
    outlets = _payload(await client.call_tool("list_outlets", {}))
    assert outlets["outlets"] == {"SANA": 1, "Al Jazeera": 1}
    article = _payload(await client.call_tool("get_article", {"article_id": "a"}))
    assert article["url"] == "https://example.org/a" and "معركة الرقة" in article["text"]
    answer = _payload(await client.call_tool("ask", {"question": "ماذا قال لافروف عن الرقة؟"}))
    assert {"answer", "citations", "abstained"} <= set(answer)
    bad = await client.call_tool("search_articles", {"query": "x", "since": "soon"})
    assert bad.is_error and "since" in bad.content[0].text
    timeline = _payload(await client.call_tool("timeline", {"subject": "الرقة"}))
    assert [d["date"] for d in timeline["days"]] == ["2016-03-01"] and timeline["not_reported_by"] == ["Al Jazeera"]
    story = _payload(await client.call_tool("story", {"story_id": "a"}))
    assert story["first_report"]["article_id"] == "a" and story["not_reported_by"] == ["Al Jazeera"]
    missing = await client.call_tool("get_article", {"article_id": "nope"})
    assert missing.is_error and "no article" in missing.content[0].text


def test_mcp_over_stdio(mcp_env):
    async def main():
        params = StdioServerParameters(command=sys.executable, args=["-m", "rag", "mcp"], env=mcp_env, cwd=str(ROOT))
        async with Client(params) as client:
            await _exercise(client)

    asyncio.run(asyncio.wait_for(main(), 120))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mcp_over_http_needs_the_key(mcp_env):
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    port = _free_port()
    env = {**mcp_env, "RAG_API_KEY": "s3cret"}
    proc = subprocess.Popen([sys.executable, "-m", "rag", "mcp", "--http", "--port", str(port)], env=env, cwd=str(ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        accept = {"Accept": "application/json, text/event-stream"}
        assert httpx.post(url, json=hello, headers=accept).status_code == 401
        assert httpx.post(url, json=hello, headers={**accept, "Authorization": "Bearer wrong"}).status_code == 401
        rebound = httpx.post(url, json=hello, headers={**accept, "Authorization": "Bearer s3cret", "Host": "evil.example"})
        assert rebound.status_code == 421

        async def main():
            http = create_mcp_http_client(headers={"Authorization": "Bearer s3cret"})
            async with Client(streamable_http_client(url, http_client=http)) as client:
                await _exercise(client)
                for bad in ({"query": "", "k": 3}, {"query": "الرقة", "k": 0}, {"query": "الرقة", "k": 10_000}):
                    refused = await client.call_tool("search_articles", bad)
                    assert refused.is_error, bad  # the same rule as the HTTP API: never silently clamped
                refused = await client.call_tool("ask", {"question": "  "})
                assert refused.is_error and "empty" in refused.content[0].text

        asyncio.run(asyncio.wait_for(main(), 120))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize("command", [["mcp", "--http"], ["serve"]])
def test_a_network_address_without_a_key_is_refused(mcp_env, command):
    done = subprocess.run([sys.executable, "-m", "rag", *command, "--host", "0.0.0.0", "--port", str(_free_port())],
                          env=mcp_env, cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "--insecure" in done.stderr and "Traceback" not in done.stderr
