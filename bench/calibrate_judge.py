"""Re-calibrate the quote-first judge threshold on the pipeline as it is, from an evaluation run's rows.

`bench/calibrate_answerability.py` chose `judge_threshold` from its own judging of the tune questions; the
answer pipeline changed after that (copies grouped before judging, the answer-type gate), so the product
judged other sentences than the calibration did and answered 7 of 34 tune near misses at .60 instead of 3.
This reads what the product itself judged — `signals.judge`, the best P(yes) of each question, from

    rag eval answers --questions …/newsqa-dev/questions.jsonl --split tune --limit 0 --rows ROWS.jsonl

— and applies the same policy: the lowest threshold (steps of .01) at which at most NEAR_MISS_LIMIT of the tune near
misses are answered. Rows of the test split are refused (never used to choose anything).

    python bench/calibrate_judge.py ROWS.jsonl [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.answer.answerability import MODEL_FILE  # noqa: E402
from rag.evaluation import NEAR_MISS_LIMIT  # noqa: E402



def rates_at(rows: list[dict], threshold: float, current: float) -> dict[str, object]:
    """Near misses and answerable questions the judge would let answer at `threshold`; answered right only
    where it is known (at or above the threshold the rows were produced with)."""
    def judged(r: dict) -> float:
        return r["signals"].get("judge") or 0.0
    near = [r for r in rows if r["kind"] == "near_miss"]
    answerable = [r for r in rows if r["kind"] == "answerable"]
    right = sum(bool(r.get("right")) and judged(r) >= threshold for r in answerable) if threshold >= current else None
    return {"threshold": threshold, "near_misses_answered": [sum(judged(r) >= threshold for r in near), len(near)],
            "answerable_answered": [sum(judged(r) >= threshold for r in answerable), len(answerable)],
            "answerable_right": [right, len(answerable)]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", type=Path)
    parser.add_argument("--write", action="store_true", help=f"write the threshold to {MODEL_FILE}")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.rows.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any(r.get("split") != "tune" for r in rows):
        raise SystemExit("rows of another split than tune: calibrate on the tune split only (--split tune)")
    rows = [r for r in rows if r["kind"] in ("answerable", "near_miss")]
    model = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    current = model["judge_threshold"]
    table = [rates_at(rows, step / 100, current) for step in range(40, 96)]
    chosen = next(t for t in table if t["near_misses_answered"][0] <= NEAR_MISS_LIMIT * t["near_misses_answered"][1])
    print(json.dumps({"was": rates_at(rows, current, current), "chosen": chosen}, indent=1))
    if args.write:
        model["judge_threshold"] = chosen["threshold"]
        model["judge_recalibrated"] = {"on": f"{args.rows.name}: the product's own judgements, tune split",
                                       "at_previous": rates_at(rows, current, current), "chosen": chosen}
        MODEL_FILE.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
