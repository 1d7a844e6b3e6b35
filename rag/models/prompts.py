"""Prompts live as files in `prompts/` (shipped in the wheel): a `[system]` and a `[user]` section."""

from __future__ import annotations

from functools import lru_cache

from langchain_core.prompts import ChatPromptTemplate

from rag.config import resource_path
from rag.errors import RagError


@lru_cache(maxsize=16)
def load_prompt(name: str) -> ChatPromptTemplate:
    """A chat prompt from `prompts/<name>.md`."""
    path = resource_path("prompts") / f"{name}.md"
    if not path.exists():
        raise RagError(f"prompt file {path} is missing; reinstall rag or restore prompts/")
    text = path.read_text(encoding="utf-8")
    system, _, user = text.partition("[user]")
    return ChatPromptTemplate.from_messages(
        [("system", system.replace("[system]", "", 1).strip()), ("human", user.strip())]
    )
