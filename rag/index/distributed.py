"""The Ray engine: embeds the chunks an update needs on Ray workers (CPU or GPU).

Only the embedding step moves (it is >99% of a build's time with a real model,
docs/scale.md): the driver lists and reads the corpus, decides what changed
and chunks it (rag.index.writer), sends the texts whose vectors are in neither the
embedding cache nor the index to a Ray Data pipeline of embedding actors,
and writes each returned batch into the index's embedding cache as it
arrives. Then the ordinary local path writes segments and commits with the
same atomic swap, so a Ray build equals a local one. Ray retries a task whose
worker died; a driver killed mid-build leaves the old index live and every
finished batch in the cache, so a rerun embeds only what is left.

Needs the `ray` extra: `pip install '.[ray]'`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ConfigError

# Rows per actor call: large enough to keep a GPU busy, small enough that a retried
# task repeats little work.
BATCH_ROWS = 256


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local cluster; "auto" or "ray://host:port": join one
    workers: int = 2
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    batch_rows: int = BATCH_ROWS


class EmbedActor:
    """Holds one embedder on a worker; called with batches of {"key", "text"}."""

    def __init__(self, spec: str, threads: int, device: str | None) -> None:
        from rag.models.embeddings import load_embedder

        self.embedder = load_embedder(spec, threads, device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed_passages([str(t) for t in batch["text"]])
        return {"key": batch["key"], "vector": np.asarray(vectors, dtype=np.float32)}


class RayEmbedding:
    """`embed_elsewhere(keys, texts)` for `IndexWriter.update`: vectors into the index's cache via Ray."""

    def __init__(self, spec: str, index_dir: Path, options: RayOptions) -> None:
        try:
            import ray  # noqa: F401
            import ray.data  # noqa: F401
        except ImportError:
            raise ConfigError("--engine ray needs the ray extra: pip install '.[ray]'") from None
        if options.workers < 1:
            raise ConfigError("--workers must be at least 1")
        self.spec = spec
        self.index_dir = Path(index_dir)
        self.options = options

    def _connect(self) -> None:
        import ray

        if ray.is_initialized():
            return
        if self.options.address:
            ray.init(address=self.options.address, ignore_reinit_error=True, log_to_driver=False)
        else:
            cpus = max(1, int(self.options.workers * self.options.cpus_per_worker))
            ray.init(num_cpus=cpus, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)

    def __call__(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        import ray.data

        self._connect()
        options = self.options
        device = "cuda" if options.gpus_per_worker > 0 else None
        threads = max(1, int(options.cpus_per_worker))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        items = [{"key": k, "text": t} for k, t in zip(keys, texts)]
        # Small jobs are cut so that every worker gets several batches (one 256-row batch on one
        # worker halved the throughput of a 300-chunk build, docs/scale.md); big ones use batch_rows.
        rows = max(8, min(options.batch_rows, math.ceil(len(items) / (options.workers * 4))))
        blocks = max(1, math.ceil(len(items) / rows))
        dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            EmbedActor,
            fn_constructor_kwargs={"spec": self.spec, "threads": threads, "device": device},
            batch_size=rows,
            batch_format="numpy",
            # Ray Data restarts an actor that dies and retries its batch (max_restarts=-1 by default).
            compute=ray.data.ActorPoolStrategy(size=options.workers),
            num_cpus=options.cpus_per_worker,
            num_gpus=options.gpus_per_worker or None,
        )
        from rag.index.store import EmbeddingCache

        cache = EmbeddingCache(self.index_dir / "embeddings.sqlite")
        try:
            for batch in dataset.iter_batches(batch_size=options.batch_rows, batch_format="numpy"):
                cache.put_many(zip((str(k) for k in batch["key"]), batch["vector"]))
        finally:
            cache.close()

