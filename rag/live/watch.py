"""`rag watch`: one long-running writer that keeps the index current.

    start ─► update once (finishes whatever a killed watcher left: files written, not yet indexed)
      └─► loop until SIGTERM / Ctrl-C:
            poll the sources that are due (rag.live.sources) ─┐
            a burst of file changes in the corpus (watchfiles) ┴─► one update (rag.index.writer) ─► alerts

- Folder changes come from watchfiles (inotify/FSEvents through the Rust `notify` crate, with its own
  debounce that groups a burst into one set of changes), not from polling by hand.
- Every write goes through the index's writer lock, so a `rag index update` run by hand meanwhile is
  simply waited for; a second `rag watch` on the same index is refused (`.watch.lock`).
- Nothing is lost or doubled by a crash or kill -9: a fetched article is a corpus file (written atomically)
  before it is recorded as fetched, and article ids come from canonical URLs; the first update after a
  restart indexes whatever files are not in the index yet.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from rag.config import Settings
from rag.errors import IndexLockedError, RagError
from rag.live.fetch import PoliteClient
from rag.live.sources import Harvester, PollResult, SourceBook
from rag.index.store import UpdateReport

#: watchfiles groups changes that arrive within this many milliseconds into one set (one update).
DEBOUNCE_MS = 1000
#: The longest the loop sleeps before looking at the sources' schedules again.
TICK_S = 1.0
#: How often due webhook deliveries are looked for between updates.
DELIVERY_CHECK_S = 10.0


@dataclass
class WatchEvent:
    """One thing the watcher did, for the log line and for tests."""

    kind: str  # "poll" | "update" | "error"
    at: str
    poll: PollResult | None = None
    report: UpdateReport | None = None
    seconds: float = 0.0
    message: str = ""
    extra: dict[str, object] = field(default_factory=dict)


class Watcher:
    def __init__(
        self,
        settings: Settings,
        corpus_dir: Path,
        *,
        client: PoliteClient | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
        after_update: Callable[[UpdateReport], dict[str, object] | None] | None = None,
        watch_folders: bool = True,
    ) -> None:
        self.settings = settings
        self.corpus_dir = Path(corpus_dir)
        self.index_dir = Path(settings.index_dir)
        self.client = client or PoliteClient(min_interval=settings.crawl_interval_s)
        self.on_event = on_event or (lambda event: None)
        self.after_update = after_update
        self.watch_folders = watch_folders
        self.stop = threading.Event()
        self.dirty = threading.Event()
        self._writer = None
        self._next_delivery = 0.0

    # the loop

    def run(self) -> None:
        """Until `stop` is set (the CLI sets it on SIGTERM / SIGINT)."""
        with self._watching(), SourceBook(self.index_dir) as book:
            folders = self._start_folder_watch() if self.watch_folders else None
            self.dirty.set()  # the first pass indexes whatever is not indexed yet
            while not self.stop.is_set():
                if self._poll_due(book):
                    self.dirty.set()
                if self.dirty.is_set():
                    self.dirty.clear()
                    if not self._update():
                        self.dirty.set()  # the index was locked by another writer: try again next tick
                self._retry_deliveries()
                self.dirty.wait(TICK_S)
                if self.dirty.is_set():
                    self.stop.wait(DEBOUNCE_MS / 1000 / 4)  # let a burst settle a little more
            if folders is not None:
                folders.join(timeout=10)

    def run_once(self) -> None:
        """Poll the due sources and update once (cron, tests); the same locks as `run`."""
        with self._watching(), SourceBook(self.index_dir) as book:
            self._poll_due(book)
            if not self._update():
                raise IndexLockedError(f"index {self.index_dir} is locked by another writer; run again when it is done")

    @contextmanager
    def _watching(self) -> Iterator[None]:
        """The one-watcher lock of this index (`.watch.lock`) for the run; the HTTP client closed after it."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.index_dir / ".watch.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise RagError(f"another `rag watch` is already keeping {self.index_dir} current; stop it first") from None
        try:
            yield
        finally:
            self.client.close()
            lock.release()

    def _start_folder_watch(self) -> threading.Thread:
        import watchfiles

        index_dir = self.index_dir.resolve()

        def wanted(change: object, path: str) -> bool:
            p = Path(path)
            if any(part.startswith(".") for part in p.relative_to(self.corpus_dir.resolve()).parts):
                return False  # hidden files, and our own temporary files before their rename
            return not p.is_relative_to(index_dir)

        def run() -> None:
            try:
                for _ in watchfiles.watch(self.corpus_dir.resolve(), watch_filter=wanted, debounce=DEBOUNCE_MS,
                                          stop_event=self.stop, raise_interrupt=False):
                    self.dirty.set()
            except Exception as exc:  # a vanished folder: say so, keep polling sources
                self.on_event(WatchEvent("error", _now(), message=f"watching {self.corpus_dir} stopped: {exc}"))

        thread = threading.Thread(target=run, name="rag-watch-folders", daemon=True)
        thread.start()
        return thread

    def _poll_due(self, book: SourceBook) -> bool:
        """Poll every source that is due; True when one wrote files. A source's failure stays on it."""
        now = dt.datetime.now(dt.timezone.utc)
        due = [source for source in book.all() if source.due(now)]
        if not due:
            return False
        wrote = False
        harvester = Harvester(book, self.corpus_dir, self.client, self.settings.outlets)
        for source in due:
            if self.stop.is_set():
                break
            started = time.monotonic()
            result = harvester.poll(source)
            wrote = wrote or bool(result.files)
            self.on_event(WatchEvent("poll", _now(), poll=result, seconds=time.monotonic() - started))
        return wrote

    def _retry_deliveries(self) -> None:
        """Webhook POSTs that failed are retried on their backoff, whether or not articles arrive."""
        retry = getattr(self.after_update, "retry_deliveries", None)
        if retry is None or time.monotonic() < self._next_delivery:
            return
        self._next_delivery = time.monotonic() + DELIVERY_CHECK_S
        try:
            retry()
        except Exception as exc:  # the alerts' tables are busy or gone: say so, keep watching
            self.on_event(WatchEvent("error", _now(), message=f"webhook deliveries: {exc}"))

    def _update(self) -> bool:
        started = time.monotonic()
        try:
            report = self.writer().update(self.corpus_dir, outlets=self.settings.outlets)
        except IndexLockedError:
            return False
        except RagError as exc:
            self.on_event(WatchEvent("error", _now(), message=str(exc)))
            return True
        extra = None
        if self.after_update is not None and (report.changed_ids or report.removed):
            extra = self.after_update(report)
        if report.added or report.updated or report.removed or report.errors:
            self.on_event(WatchEvent("update", _now(), report=report, seconds=time.monotonic() - started, extra=extra or {}))
        return True

    def writer(self):
        """One writer (and one loaded embedder) for the life of the watcher."""
        if self._writer is None:
            from rag import _writer
            from rag.models.embeddings import load_embedder, load_word_encoder

            embedder = load_embedder(self.settings.embedder, self.settings.threads)
            self._writer = _writer(self.settings, embedder, load_word_encoder(self.settings.threads))
        return self._writer


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
