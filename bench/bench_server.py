"""Bounded local load test of `rag serve` on 127.0.0.1 (not a test).

Starts the server in-process on a free loopback port over the sample corpus,
then: 20 concurrent /api/search requests; 4 concurrent /api/ask requests
(they queue on the one local LLM) while searches keep running. Every loop is
bounded in count and time. Appends a JSON line to bench/results/server.jsonl.

    python bench/bench_server.py [--llm llama|extractive]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from record import record  # noqa: E402

from rag import load_settings, update_index  # noqa: E402
from rag.surfaces.server import create_app  # noqa: E402

SEARCHES = ["What did Lavrov say about Raqqa?", "ماذا قال لافروف عن الرقة؟", "Kerry Geneva", "روسيا وتركيا إدلب"]


def timed(fn):
    start = time.perf_counter()
    response = fn()
    return time.perf_counter() - start, response.status_code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llm", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    settings = load_settings(corpus_dir=ROOT / "examples" / "corpus", index_dir=work / "index", llm=args.llm)
    update_index(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(timeout=300)
    search = lambda i: timed(lambda: client.post(f"{base}/api/search", json={"query": SEARCHES[i % 4], "k": 5}))  # noqa: E731
    ask = lambda i: timed(lambda: client.post(f"{base}/api/ask", json={"question": SEARCHES[i % 2]}))  # noqa: E731
    try:
        search(0)
        client.post(f"{base}/api/ask", json={"question": "warm-up"})
        start = time.perf_counter()
        with ThreadPoolExecutor(20) as pool:
            searches = list(pool.map(search, range(20)))
        search_wall = time.perf_counter() - start
        during: list[tuple[float, int]] = []
        start = time.perf_counter()
        with ThreadPoolExecutor(5) as pool:
            asks = [pool.submit(ask, i) for i in range(4)]
            while not all(a.done() for a in asks) and time.perf_counter() - start < 600:
                during.append(search(len(during)))
            ask_results = [a.result() for a in asks]
        ask_wall = time.perf_counter() - start
        result = {
            "phase": "server", "llm": settings.llm,
            "search_20_concurrent": {"ok": sum(c == 200 for _, c in searches), "wall_s": round(search_wall, 2),
                                     "per_s": round(20 / search_wall, 1),
                                     "p50_ms": round(1000 * statistics.median(t for t, _ in searches)),
                                     "max_ms": round(1000 * max(t for t, _ in searches))},
            "ask_4_concurrent": {"ok": sum(c == 200 for _, c in ask_results), "wall_s": round(ask_wall, 2),
                                 "latencies_s": sorted(round(t, 1) for t, _ in ask_results)},
            "search_during_asks": {"n": len(during), "ok": sum(c == 200 for _, c in during),
                                   "p50_ms": round(1000 * statistics.median(t for t, _ in during)) if during else None,
                                   "max_ms": round(1000 * max(t for t, _ in during)) if during else None},
        }
        record("server", result, indent=1)
    finally:
        server.should_exit = True
        thread.join(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
