"""What every surface (CLI, HTTP, MCP, LangChain) checks of a question before any work: one rule, one message."""

from __future__ import annotations

from rag.config import Settings
from rag.errors import InputError


def check_question(settings: Settings, text: str, k: int | None = None, field: str = "question") -> None:
    """A question or query: not empty, not longer than `max_question_chars`; k from 1 to `max_k`."""
    if not text or not text.strip():
        raise InputError(f"{field} is empty; ask a question", field)
    if len(text) > settings.max_question_chars:
        raise InputError(f"{field} is over {settings.max_question_chars} characters; shorten it", field)
    if k is not None and not 1 <= k <= settings.max_k:
        raise InputError(f"k must be from 1 to {settings.max_k} (got {k})", "k")
