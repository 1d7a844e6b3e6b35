"""Cross-lingual names (placeholder until the alias index lands)."""

from __future__ import annotations

from rag.config import Settings
from rag.embeddings import Embedder
from rag.retrieval import Expansion
from rag.store import IndexStore


def install(settings: Settings) -> None:
    """Register the alias-index builder with the store."""


class NameExpander:
    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder) -> "NameExpander":
        return cls()

    def expand(self, query: str, store: IndexStore) -> Expansion:
        return Expansion()
