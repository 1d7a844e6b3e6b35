"""Test doubles: a deterministic, fast embedder (bag of hashed tokens).

It is no model: it only lets store/retrieval tests run in milliseconds.
The real default model is exercised in tests marked `slow`.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from rag.language import lexical_tokens


class HashEmbedder:
    id = "test:hash-64"
    dim = 64

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0
        self.embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for token in lexical_tokens(text) or ["<empty>"]:
            v[int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dim] += 1.0
        return v / np.linalg.norm(v)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.embedded += len(texts)
        if self.delay:
            time.sleep(self.delay)
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])

    def count_tokens(self, text: str) -> int:
        return len(text.split())


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
