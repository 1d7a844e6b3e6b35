"""Test doubles: a deterministic, fast embedder (bag of hashed tokens).

It is no model: it only lets store/retrieval tests run in milliseconds.
The real default model is exercised in tests marked `slow`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rag.models.embeddings import HashEmbedder as ProductHashEmbedder

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SAMPLE_CORPUS = ROOT / "examples" / "corpus"


class HashEmbedder(ProductHashEmbedder):
    """The product's hash embedder (rag.models.embeddings, `hash:<dim>`) at 64 dimensions, counting its calls and
    optionally slow (`delay`), so tests can see what an update embedded."""

    id = "test:hash-64"

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(64)
        self.delay = delay
        self.calls = 0
        self.embedded = 0

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.embedded += len(texts)
        if self.delay:
            time.sleep(self.delay)
        return super().embed_passages(list(texts)) if texts else np.zeros((0, self.dim), np.float32)


class HashWordEncoder(HashEmbedder):
    """A stand-in for the name matcher's word encoder."""

    id = "test:hash-words"

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embed_passages(texts)


def write_article(root, name: str, title: str, body: str, **meta) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if meta:
        front = "\n".join(f"{k}: {v}" for k, v in meta.items())
        path.write_text(f"---\ntitle: {title}\n{front}\n---\n{body}\n", encoding="utf-8")
    else:
        path.write_text(f"{title}\n\n{body}\n", encoding="utf-8")
