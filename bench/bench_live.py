"""The live archive's costs (not a test), three measurements:

    python bench/bench_live.py freshness [--items 1000 --burst 20 --every 5]
        Time from an item appearing in a local feed to its article being searchable, under `rag watch`
        (rag.live.watch.Watcher) with the source's schedule shortened to --every seconds, the per-host
        rate limit at --crawl-interval (a local site), hash:384 vectors. Pages are real Arabic news
        (dev-multisource) served as HTML by a local server; p50/p95 over all items.

    python bench/bench_live.py day [--articles 100000 --bursts 200 --burst 10]
        A day of news against an archive: an index of --articles (Jawhara FM replicated, bench_scale.py's
        corpus), then --bursts bursts of --burst new articles, each a file, each one update. Also on a
        small index of 10,000, so the two show whether a burst's cost follows its size or the index's.

    python bench/bench_live.py alerts [--questions 1000 --burst 100 --index /tmp/dev/index]
        Matching N standing questions against a burst of new articles (rag.live.alerts.AlertMatcher) on the
        dev index (e5 vectors): the first burst (questions prepared: embedded, names looked up) and the next.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the local news site the tests use

from record import record  # noqa: E402

from rag.config import Settings  # noqa: E402

DEV = ROOT.parent / "shared" / "corpus" / "dev-multisource"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3) if values else 0.0


def freshness(args: argparse.Namespace) -> None:
    from newsroom import Newsroom, article_page, rss

    from rag.live.sources import SourceBook
    from rag.live.watch import Watcher

    with gzip.open(next(DEV.glob("*.jsonl.gz")), "rt", encoding="utf-8") as handle:
        articles = [json.loads(next(handle)) for _ in range(args.items)]
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    settings = Settings(corpus_dir=work / "corpus", index_dir=work / "index", embedder="hash:384",
                        crawl_interval_s=args.crawl_interval)
    (work / "corpus").mkdir()
    appeared: dict[str, float] = {}
    searchable: dict[str, float] = {}
    with Newsroom() as site:
        site.set("/feed.xml", rss([]))
        book = SourceBook(settings.index_dir)
        book.add(site.url("/feed.xml"), None, args.every)
        book.close()

        def on_event(event) -> None:
            if event.kind == "update" and event.report is not None:
                now = time.monotonic()
                for article_id in event.report.changed_ids:
                    searchable.setdefault(article_id, now)

        watcher = Watcher(settings, settings.corpus_dir, on_event=on_event)
        thread = threading.Thread(target=watcher.run)
        thread.start()
        try:
            items: list[dict[str, str]] = []
            for start in range(0, len(articles), args.burst):
                for i, article in enumerate(articles[start : start + args.burst], start):
                    path = f"/news/{i}"
                    site.set(path, article_page(article.get("title") or "خبر", article["text"], article.get("date") or "2018-06-01"))
                    items.insert(0, {"title": article.get("title") or "خبر", "link": site.url(path)})
                    url = site.url(path)
                    appeared[f"127.0.0.1:{url.split(':')[2].split('/')[0]}/{hashlib.sha1(url.encode()).hexdigest()[:16]}"] = time.monotonic()
                site.set("/feed.xml", rss(items[:200]))  # a feed lists its newest items
                time.sleep(args.interval)
            deadline = time.monotonic() + 120
            while len(searchable.keys() & appeared.keys()) < len(appeared) and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            watcher.stop.set()
            thread.join(30)
    lags = [searchable[a] - t for a, t in appeared.items() if a in searchable]
    record("live", {"measure": "freshness", "items": len(appeared), "searchable": len(lags), "burst": args.burst,
                    "every_s": args.every, "feed_interval_s": args.interval, "crawl_interval_s": args.crawl_interval,
                    "embedder": "hash:384", "lag_p50_s": pct(lags, 0.5), "lag_p95_s": pct(lags, 0.95), "lag_max_s": pct(lags, 1.0)})
    shutil.rmtree(work, ignore_errors=True)


def day(args: argparse.Namespace) -> None:
    from bench_scale import DEFAULT_CORPUS, write_corpus

    from rag.models.embeddings import load_embedder
    from rag.index.writer import IndexWriter

    embedder = load_embedder("hash:384")
    with gzip.open(next(DEV.glob("*.jsonl.gz")), "rt", encoding="utf-8") as handle:
        news = [json.loads(line) for _, line in zip(range(args.bursts * args.burst), handle)]
    for size in (10_000, args.articles):
        work = Path(tempfile.mkdtemp(prefix="bench-day-"))
        write_corpus(DEFAULT_CORPUS, work / "corpus", size)
        writer = IndexWriter(work / "index", embedder, 200, 40)
        started = time.monotonic()
        writer.update(work / "corpus")
        build_s = time.monotonic() - started
        costs = []
        for b in range(args.bursts):
            burst = news[b * args.burst : (b + 1) * args.burst]
            with (work / "corpus" / f"feed-{b:04d}.jsonl").open("w", encoding="utf-8") as out:
                for article in burst:
                    out.write(json.dumps({**article, "id": f"live-{article['id']}"}, ensure_ascii=False) + "\n")
            started = time.monotonic()
            report = writer.update(work / "corpus")
            costs.append(time.monotonic() - started)
            assert report.added == len(burst), report
        record("live", {"measure": "day of news", "index_articles": size, "build_s": round(build_s, 1), "bursts": args.bursts,
                        "burst_articles": args.burst, "embedder": "hash:384", "update_p50_s": pct(costs, 0.5),
                        "update_p95_s": pct(costs, 0.95), "update_max_s": pct(costs, 1.0), "day_total_s": round(sum(costs), 1)})
        shutil.rmtree(work, ignore_errors=True)


def alerts(args: argparse.Namespace) -> None:
    from rag import load_settings, open_retriever
    from rag.live.alerts import Alert, AlertMatcher

    retriever = open_retriever(load_settings(index_dir=args.index))
    listed = retriever.store.list_articles(None, 0, 1_000_000)[1]
    titles = [a.title for a in listed if a.title][: args.questions]
    standing = [Alert(i + 1, f"ما آخر الأخبار عن {t}؟" if i % 2 else f"What is new about: {t}", None, None, None, "") for i, t in enumerate(titles)]
    matcher = AlertMatcher(retriever)
    rows = {}
    for name, burst in (("first burst (questions prepared)", listed[-args.burst:]), ("next burst", listed[-2 * args.burst : -args.burst])):
        started = time.monotonic()
        found = matcher.match(standing, [a.id for a in burst])
        rows[name] = (round(time.monotonic() - started, 2), len(found))
    record("live", {"measure": "alert matching", "questions": len(standing), "burst_articles": args.burst, "index": str(args.index),
                    "first_burst_s": rows["first burst (questions prepared)"][0], "next_burst_s": rows["next burst"][0],
                    "matches_next_burst": rows["next burst"][1]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="measure", required=True)
    f = sub.add_parser("freshness")
    f.add_argument("--items", type=int, default=1000)
    f.add_argument("--burst", type=int, default=20)
    f.add_argument("--every", type=int, default=5, help="the source's schedule (s); the default in use is 600")
    f.add_argument("--interval", type=float, default=5.0, help="seconds between two bursts in the feed")
    f.add_argument("--crawl-interval", type=float, default=0.05)
    d = sub.add_parser("day")
    d.add_argument("--articles", type=int, default=100_000)
    d.add_argument("--bursts", type=int, default=200)
    d.add_argument("--burst", type=int, default=10)
    a = sub.add_parser("alerts")
    a.add_argument("--questions", type=int, default=1000)
    a.add_argument("--burst", type=int, default=100)
    a.add_argument("--index", type=Path, default=Path("/tmp/dev/index"))
    args = parser.parse_args()
    {"freshness": freshness, "day": day, "alerts": alerts}[args.measure](args)


if __name__ == "__main__":
    main()
