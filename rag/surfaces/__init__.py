"""Thin surfaces over `rag.service.Archive`: `cli`, `server` (HTTP: native + OpenAI), `mcp`, `langchain`;
`http_guard` (Host check, body limit, auth)."""
