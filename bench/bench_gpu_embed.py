"""The embedding step of a Ray GPU worker, on one GPU (not a test; run on the device machine).

What a Ray GPU worker runs per batch is `rag.index.distributed.EmbedActor`: a sentence-transformers
model (`st:` backend) on CUDA in fp16, batches of 512 passages. No weights can reach the GPU
machine (no network, 64 MiB carried), so the model is *randomly initialised* with the shape of
multilingual-e5-small (12 layers, hidden 384, 12 heads, FFN 1536): speed is honest, vectors are
not meaningful. Tokenizer: all-MiniLM-L6-v2's WordPiece (carried, 0.7 MB); vocabulary size only
changes the embedding table, not the compute per token. Passages are sized to ~224 tokens.

    python bench/bench_gpu_embed.py --tokenizer .gpu/tokenizer --passages 40000 --out results.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_model(tokenizer_dir: Path, target: Path) -> Path:
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=1536, max_position_embeddings=512,
    )
    bert = BertModel(config)  # random weights: same shape as multilingual-e5-small
    raw = target / "hf"
    bert.save_pretrained(str(raw))
    tokenizer.save_pretrained(str(raw))
    transformer = models.Transformer(str(raw), max_seq_length=256)
    pooling = models.Pooling(384, pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling]).save(str(target / "e5-small-shape-random"))
    return target / "e5-small-shape-random"


def passages(tokenizer_dir: Path, count: int, tokens: int) -> list[str]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    words = [w for w in tokenizer.vocab if w.isalpha() and len(w) > 2]
    rng = random.Random(0)
    texts = []
    for _ in range(count):
        texts.append(" ".join(rng.choice(words) for _ in range(tokens - 4)))  # + [CLS], [SEP] and "passage:"
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts[:200]]
    print(json.dumps({"mean_tokens": sum(lengths) / len(lengths)}), flush=True)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--passages", type=int, default=40000)
    parser.add_argument("--tokens", type=int, default=224)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu-embed"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import numpy as np
    import torch

    from rag.index.distributed import EmbedActor

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model_dir = make_model(args.tokenizer, args.work)
    texts = passages(args.tokenizer, args.passages, args.tokens)
    results = []

    def emit(row: dict) -> None:
        row = {**row, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "passages": len(texts), "random_weights": True}
        print(json.dumps(row), flush=True)
        results.append(row)

    # 1. The worker's step as shipped: EmbedActor (fp16, batch 512 on CUDA).
    actor = EmbedActor(f"st:{model_dir}", threads=8, device=device if device == "cuda" else None)
    batch_rows = 256  # RayOptions.batch_rows: what Ray hands the actor per call
    warm = {"key": np.arange(batch_rows), "text": np.array(texts[:batch_rows], dtype=object)}
    actor(warm)
    if device == "cuda":
        torch.cuda.synchronize()
    for rows in (256, 2048):
        start = time.perf_counter()
        for s in range(0, len(texts), rows):
            actor({"key": np.arange(len(texts[s : s + rows])), "text": np.array(texts[s : s + rows], dtype=object)})
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        emit({"step": "EmbedActor fp16", "rows_per_call": rows, "model_batch": actor.embedder.batch_size, "per_s": round(len(texts) / seconds)})

    # 2. Batch size and precision (bf16) on the same path.
    inner = actor.embedder
    for dtype in ("fp16", "bf16"):
        if device == "cuda":
            inner._model.to(torch.float16 if dtype == "fp16" else torch.bfloat16)
        for batch in (256, 1024):
            inner.batch_size = batch
            inner.embed_passages(texts[:batch])
            start = time.perf_counter()
            inner.embed_passages(texts)
            if device == "cuda":
                torch.cuda.synchronize()
            emit({"step": f"embed_passages {dtype}", "model_batch": batch, "rows_per_call": len(texts), "per_s": round(len(texts) / (time.perf_counter() - start))})

    # 3. Reference: the bare forward pass of this shape (pre-tokenised, bf16), no tokenizer or pooling.
    model = inner._model[0].auto_model.to(torch.bfloat16 if device == "cuda" else torch.float32)
    ids = torch.randint(1000, 20000, (512, args.tokens), device=device)
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        rounds = 20 if device == "cuda" else 1
        for _ in range(rounds):
            model(input_ids=ids, attention_mask=mask)
        if device == "cuda":
            torch.cuda.synchronize()
    emit({"step": "bare forward bf16 (reference)", "model_batch": 512, "per_s": round(512 * rounds / (time.perf_counter() - start))})
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(json.dumps(r) for r in results) + "\n")


if __name__ == "__main__":
    main()
