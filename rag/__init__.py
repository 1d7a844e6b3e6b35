"""rag: cited question answering over (mostly Arabic) news articles.

The library calls behind the CLI and the server::

    from rag import load_settings, update_index, open_retriever
    settings = load_settings(corpus_dir="examples/corpus")
    update_index(settings)
    hits = open_retriever(settings).search("What did Lavrov say about Raqqa?").hits
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings, load_settings
from rag.errors import RagError

if TYPE_CHECKING:
    from rag.index.distributed import RayOptions
    from rag.index.writer import IndexWriter
    from rag.retrieval import Retriever
    from rag.index.store import UpdateReport

__all__ = [
    "RagError",
    "Settings",
    "load_settings",
    "open_retriever",
    "optimize_index",
    "remove_articles",
    "restore_articles",
    "update_index",
]
__version__ = "0.1.0"


def update_index(
    settings: Settings,
    *,
    corpus_dir: Path | None = None,
    rebuild: bool = False,
    progress: Callable[[int, int], None] | None = None,
    ray: "RayOptions | None" = None,
) -> "UpdateReport":
    """Bring the index in `settings.index_dir` up to date with the corpus (or rebuild it).

    With `ray`, the chunks to embed are embedded on a Ray cluster (rag.index.distributed)."""
    from rag.models.embeddings import load_embedder, load_word_encoder

    embed_elsewhere = None
    if ray is not None:
        from rag.index.distributed import RayEmbedding

        embed_elsewhere = RayEmbedding(settings.embedder, settings.index_dir, ray)
    writer = _writer(settings, load_embedder(settings.embedder, settings.threads), load_word_encoder(settings.threads))
    return writer.update(
        corpus_dir or settings.corpus_dir, rebuild=rebuild, outlets=settings.outlets, progress=progress, embed_elsewhere=embed_elsewhere
    )


def optimize_index(settings: Settings) -> "UpdateReport":
    """Merge the index's segments into one (drops deleted rows; 8-bit vectors once it is big)."""
    from rag.models.embeddings import load_embedder

    return _writer(settings, load_embedder(settings.embedder, settings.threads), None).optimize()


def remove_articles(settings: Settings, article_ids: list[str]) -> "UpdateReport":
    """Take articles out of the index and keep them out while their files stay (`restore_articles` undoes it)."""
    from rag.models.embeddings import load_embedder

    return _writer(settings, load_embedder(settings.embedder, settings.threads), None).remove(article_ids)


def restore_articles(settings: Settings, article_ids: list[str]) -> None:
    from rag.models.embeddings import load_embedder

    _writer(settings, load_embedder(settings.embedder, settings.threads), None).restore(article_ids)


def _writer(settings: Settings, embedder: Any, word_encoder: Any) -> "IndexWriter":
    from rag.index.writer import IndexWriter

    return IndexWriter(
        settings.index_dir,
        embedder,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap_tokens=settings.chunk_overlap_tokens,
        word_encoder=word_encoder,
    )


def open_retriever(settings: Settings, *, expand_names: bool = True) -> "Retriever":
    """A retriever over the built index, with the configured query expanders."""
    from rag.models.embeddings import load_embedder
    from rag.names.expansion import NameExpander
    from rag.retrieval import Retriever
    from rag.index.store import IndexStore

    store = IndexStore.open(settings.index_dir)
    embedder = load_embedder(settings.embedder, settings.threads)
    expanders = [NameExpander.from_settings(settings, embedder)] if expand_names else []
    return Retriever(store, embedder, expanders)
