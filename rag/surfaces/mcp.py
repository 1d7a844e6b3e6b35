"""An MCP server: the archive as tools for agents (Claude Desktop, IDEs, any MCP client).

`rag mcp` speaks MCP over stdio (what desktop clients launch); `rag mcp --http` serves Streamable
HTTP at http://HOST:PORT/mcp. Tools, thin over the same library calls as the CLI and the HTTP API:

- `search_articles(query, k, outlet, since, until, lang, all_copies)`: ranked passages with outlet,
  date, URL, story copies and, for "what did X say" questions, the quote type;
- `ask(question, k, outlet, since, until, lang, compare_outlets)`: a cited answer (checked claims,
  verbatim quotes with translations), or one section per outlet;
- `get_article(article_id)`: an indexed article's metadata and text;
- `list_outlets()`: the outlets of the index with their article counts.

Needs the `mcp` extra: `pip install '.[mcp]'`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from rag.config import Settings
from rag.errors import ConfigError, RagError
from rag.surfaces.http_guard import BearerGuard, allowed_hosts, check_bind
from rag.service import Archive

INSTRUCTIONS = (
    "Search and answer questions over indexed news articles (mostly Arabic, many outlets). Answers cite "
    "numbered passages with their outlet, date and URL; quotes are verbatim. Questions may be in English or "
    "Arabic; answers come in the question's language. Filters: outlet (either script), since/until (YYYY-MM-DD)."
)


class Tools:
    """The MCP tools: each is one `Archive` call, and its signature is the tool's input schema."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def search_articles(self, query: str, k: int = 5, outlet: str | None = None, since: str | None = None,
                        until: str | None = None, lang: str | None = None, all_copies: bool = False) -> dict[str, Any]:
        self.archive.check(query, k, "query")
        filters = self.archive.filters(outlet, since, until, lang)
        return self.archive.search(query, k, filters, all_copies=all_copies).to_dict()

    def ask(self, question: str, k: int | None = None, outlet: str | None = None, since: str | None = None,
            until: str | None = None, lang: str | None = None, compare_outlets: bool = False) -> dict[str, Any]:
        self.archive.check(question, k)
        filters = self.archive.filters(outlet, since, until, lang)
        return self.archive.ask(question, (), k, filters, compare=compare_outlets).to_dict()

    def get_article(self, article_id: str) -> dict[str, Any]:
        return self.archive.article(article_id)

    def timeline(self, subject: str, since: str | None = None, until: str | None = None, outlet: str | None = None) -> dict[str, Any]:
        return self.archive.timeline(subject, self.archive.filters(outlet, since, until))

    def story(self, story_id: str) -> dict[str, Any]:
        return self.archive.story(story_id)

    def list_outlets(self) -> dict[str, Any]:
        return self.archive.outlets()


DESCRIPTIONS = {
    "search_articles": "Search the indexed news articles. Returns ranked passages with outlet, date, URL and other outlets "
                       "that ran the same story; one hit per story unless all_copies.",
    "ask": "Answer a question from the articles, in the question's language, every claim cited [n] to a passage (outlet, "
           "date, URL, verbatim quote). Says so when the articles do not cover it. compare_outlets: one cited section per "
           "outlet instead.",
    "get_article": "One indexed article: title, outlet, date, URL, author, section, story and its text.",
    "timeline": "Day by day, which outlets reported about a subject (a name, a place, an event): "
                "{days: [{date, outlets: {name: count}, headline, url}], first_by_outlet, not_reported_by}.",
    "story": "A story's timeline (a story_id from search_articles, or an article_id): first report, every copy and update "
             "by outlet and date, headline changes, speakers, not_reported_by.",
    "list_outlets": "The outlets in the index, with how many articles each has.",
}


def create_mcp(settings: Settings, engine: Any = None) -> Any:
    """The MCP server (an `mcp.server.mcpserver.MCPServer`) for the configured index."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
    except ImportError:
        raise ConfigError("`rag mcp` needs the mcp extra: pip install '.[mcp]'") from None
    from rag import __version__

    archive = Archive(settings, engine)
    tools = Tools(archive)
    server = MCPServer(name="rag", instructions=INSTRUCTIONS, version=__version__)
    warmed = threading.Event()

    def user_errors(tool: Callable[..., Any]) -> Callable[..., Any]:
        """Bad input comes back to the agent as a tool error that says what to do, not a crash."""

        @functools.wraps(tool)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not warmed.is_set():  # a session lives long: read the index ahead once
                warmed.set()
                archive.warm()
            try:
                return tool(*args, **kwargs)
            except (RagError, LookupError) as exc:
                raise ToolError(str(exc).strip("'\"")) from None

        return wrapper

    for name, description in DESCRIPTIONS.items():
        server.tool(description=description)(user_errors(getattr(tools, name)))
    return server


def mcp_http_app(settings: Settings, host: str = "127.0.0.1", engine: Any = None) -> Any:
    """The Streamable HTTP app at /mcp: the bearer key of `rag serve` (RAG_API_KEY) on every request, and the
    same Host-header rule (`rag.surfaces.http_guard.allowed_hosts`, enforced by the SDK's DNS-rebinding check)."""
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = allowed_hosts(host, settings.allowed_hosts)
    if hosts is None:
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    else:
        names = [f"[{h}]" if ":" in h else h for h in sorted(hosts)]
        security = TransportSecuritySettings(
            allowed_hosts=[*names, *(f"{n}:*" for n in names)],
            allowed_origins=[f"{scheme}://{n}{port}" for n in names for scheme in ("http", "https") for port in ("", ":*")])
    app = create_mcp(settings, engine).streamable_http_app(host=host, transport_security=security)
    return BearerGuard(app, settings.api_key)


def run_mcp(settings: Settings, http: bool = False, host: str = "127.0.0.1", port: int = 8001, insecure: bool = False) -> None:
    if not http:
        create_mcp(settings).run("stdio")
        return
    import uvicorn

    check_bind(host, settings.api_key, insecure, "rag mcp --http")
    uvicorn.run(mcp_http_app(settings, host), host=host, port=port, log_level="info", timeout_graceful_shutdown=3)
