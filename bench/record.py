"""One place that appends a benchmark's result row to bench/results/<name>.jsonl, stamped with the
machine it ran on and when, and prints it: every bench script writes its rows through `record`."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}


def record(name: str, row: dict, *, echo: bool = True, indent: int | None = None) -> dict:
    """Stamp `row`, append it to results/<name>.jsonl and (with `echo`) print it; returns the stamped row."""
    row = {**row, **{k: v for k, v in machine().items() if k not in row}, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if echo:
        print(json.dumps(row, ensure_ascii=False, indent=indent), flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with (RESULTS_DIR / f"{name}.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return row
