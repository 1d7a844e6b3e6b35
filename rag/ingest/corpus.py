"""Reading a corpus directory into clean, attributed articles.

Formats (read recursively, hidden files skipped):
- `.txt`: the first non-empty line is the title, the rest the body;
- `.txt`/`.md` with YAML front matter (`title, outlet, date, url, lang, id, author, section`);
- `.jsonl` (one record a line) and `.json` (a record, a list of records, or
  `{"articles": [...]}`) with the same fields plus `text`.

A file or record that cannot be read becomes a `CorpusError` in the stream
instead of an exception, so one bad article never stops a build.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rag.article import ArticleMeta
from rag.errors import CorpusError
from rag.language import detect_language, has_lone_surrogate, script_counts
from rag.news.dates import date_in_text
from rag.news.outlets import OutletDetector
from rag.registry import READERS

# Bumped whenever reading or cleaning changes what an article's text becomes: an update then
# re-reads every file instead of skipping unchanged ones (rag.index.writer.UpdatePlanner).
READER_VERSION = 5  # 5: author and section
TEXT_SUFFIXES = {".txt", ".md"}
RECORD_SUFFIXES = {".jsonl", ".json"}
MAX_ARTICLE_BYTES = 5 * 1024 * 1024
MAX_RECORD_FILE_BYTES = 2 * 1024 * 1024 * 1024
#: Below this share of letters among the visible characters a text is junk (binary read as cp1256, base64, …).
#: Measured: dev-multisource (5,745 articles) lowest .79, jawharafm-10k none under .5, the samples ≥ .97.
MIN_LETTER_SHARE = 0.4


def letter_share(text: str) -> float:
    visible = [ch for ch in text[:20000] if not ch.isspace()]
    return sum(ch.isalpha() for ch in visible) / len(visible) if visible else 0.0


@dataclass(frozen=True, kw_only=True)
class Article(ArticleMeta):
    """An article as read: its record (rag.article.ArticleMeta) and its text."""

    text: str
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def meta(self) -> ArticleMeta:
        return ArticleMeta(**{name: getattr(self, name) for name in ArticleMeta.field_names()})

    @property
    def content_hash(self) -> str:
        """Changes when anything that is indexed or shown changes (not where it was read from)."""
        shown = [getattr(self, name) for name in ArticleMeta.field_names() if name not in ("id", "source_path", "story")]
        payload = json.dumps([self.text, *shown], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --- cleaning ---------------------------------------------------------------

# Lines that are the page around the article, not the article: calls to
# subscribe/follow/share/print/comment, app and social links.
_PROMO = re.compile(
    r"(?<!\w)(اشترك|اشتراك|للاشتراك|تابعونا|تابعوا|تابعنا|طباعة|ارسال الخبر|إرسال الخبر|أرسل لصديق|ارسل لصديق|"
    r"اضافة تعليق|إضافة تعليق|أضف تعليق|اضف تعليق|شارك(?:وا)? (?:على|عبر|الخبر)|انقر هنا|اضغط هنا|"
    r"حمل(?:وا)? تطبيق|تحميل (?:أحدث نسخة من )?تطبيق|إشعارات|اشعارات|رمز الخبر|التحديث الاخير|التحديث الأخير|"
    r"follow us|subscribe|share (?:on|this)|print (?:this|article)|click here|download our app)",
    re.IGNORECASE,
)
# A related-story link ("للمزيد: …", "اقرأ أيضا: …"), a separator line, a bare credit ("فرانس24/ أ ف ب").
_LINK_LINE = re.compile(r"^\s*(?:للمزيد|لمزيد من التفاصيل|اقرأ أيضا|اقرأ أيضاً|اقرأ ايضا|شاهد أيضا|شاهد ايضا|read more|see also)\s*[:：\-–]", re.IGNORECASE)
_SEPARATOR = re.compile(r"^[\W_]{3,}$")
_BARE_CREDIT = re.compile(
    r"^\s*[\w\s]{0,25}(?:/\s*(?:أ ?ف ?ب|رويترز|أ ب|د ب أ|الأناضول|وكالات|afp|reuters|ap|dpa)\s*)+$", re.IGNORECASE
)
_URL_ONLY = re.compile(r"^\s*(?:https?://|www\.|t\.me/|telegram\.me/)\S*\s*$", re.IGNORECASE)
_SOCIAL_ONLY = re.compile(r"^\s*(?:facebook|twitter|x|instagram|youtube|telegram|whatsapp|واتس ?[أا]ب|فيسبوك|تويتر|يوتيوب)\s*[:：]?\s*$", re.IGNORECASE)
# Headings after which the page lists other stories.
_TAIL = re.compile(
    r"^\s*(أخبار متعلقة|اخبار متعلقة|أخبار ذات صلة|مواضيع ذات صلة|مقالات ذات صلة|اقرأ أيضا|اقرأ أيضاً|اقرأ ايضا|"
    r"أحدث الأخبار|احدث الاخبار|الأكثر قراءة|أقسام|related (?:news|articles|stories)|read more|more stories)\s*[:：]?\s*$",
    re.IGNORECASE,
)
_PROMO_MAX_CHARS = 160
# Photo captions and credits: a short line that ends with an agency credit in brackets, or a
# Latin-script line inside an Arabic article (wire captions are often left in English). They
# describe a picture, not the story, and an English one outranked the Arabic passage that
# answers an English question (docs/answers.md, "Same-language bias").
_CREDIT = re.compile(
    r"[(\[]\s*(?:رويترز|الأوروبية|الفرنسية|الألمانية|أ ?ف ?ب|أسوشيتد برس|غيتي|غيتي إيميجز|الأناضول|أرشيف|أرشيفية|"
    r"مواقع التواصل|وكالات|reuters|afp|epa|ap|getty(?: images)?|anadolu|file photo|archive)\s*[)\]]\s*$",
    re.IGNORECASE,
)
_CAPTION_MAX_CHARS = 300


def is_caption(line: str, arabic_article: bool) -> bool:
    """A photo caption or credit line (see `_CREDIT`)."""
    stripped = line.strip()
    if not stripped or len(stripped) > _CAPTION_MAX_CHARS:
        return False
    if _CREDIT.search(stripped):
        return True
    arabic, latin = script_counts(stripped)
    return arabic_article and latin >= 20 and arabic == 0


def clean_text(text: str) -> tuple[str, list[str]]:
    """Article body without page furniture, and the removed promotional lines.

    Photo captions and credits (`is_caption`) go too, and are not returned.

    Only short lines are candidates, so a body sentence that happens to use
    one of the words stays. A "related news" heading in the second half of
    the text cuts everything after it.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    removed: list[str] = []
    total = sum(len(line) for line in lines) or 1
    arabic, latin = script_counts(text)
    arabic_article = arabic > 2 * latin
    first = next((i for i, line in enumerate(lines) if line.strip()), -1)  # may be the title: never a caption
    seen = 0
    for number, line in enumerate(lines):
        seen += len(line)
        stripped = line.strip()
        if number != first and is_caption(stripped, arabic_article):
            continue
        if _TAIL.match(stripped) and seen > total * 0.5:
            removed.append(stripped)
            break
        if stripped and len(stripped) <= _PROMO_MAX_CHARS and (
            _PROMO.search(stripped) or _URL_ONLY.match(stripped) or _SOCIAL_ONLY.match(stripped)
            or _LINK_LINE.match(stripped) or _SEPARATOR.match(stripped) or _BARE_CREDIT.match(stripped)
        ):
            removed.append(stripped)
            continue
        kept.append(line.rstrip())
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return body, removed


# --- metadata ---------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y%m%d")


def parse_date(value: Any) -> str | None:
    """ISO date (YYYY-MM-DD) from common spellings; None when it cannot be read."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text[:10], fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _article_id(root: Path, path: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def build_article(
    record: Mapping[str, Any],
    *,
    default_id: str,
    source_path: str,
    detector: OutletDetector,
    where: str,
) -> Article:
    """An `Article` from a metadata mapping plus `text`; raises CorpusError with `where` (file or file:line)."""
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CorpusError(where, "article has no text (field 'text' is missing or empty); add the body or remove it")
    for name, value in record.items():
        if isinstance(value, str) and has_lone_surrogate(value):
            raise CorpusError(where, f"field {name!r} holds a lone UTF-16 surrogate (e.g. \\ud800), not text; fix the encoder that wrote it")
    if len(text.encode("utf-8")) > MAX_ARTICLE_BYTES:
        raise CorpusError(where, f"article is over {MAX_ARTICLE_BYTES // 2**20} MB; split it into separate articles")
    body, promo = clean_text(text)
    title = str(record.get("title") or "").strip()
    if record.get("title") is None:  # no title field at all: the first line is the title
        first, _, rest = body.partition("\n")
        title, body = first.strip(), rest.strip() or first.strip()
    if not body.strip():
        raise CorpusError(where, "article has a title but no text; add the body or remove it")
    letters = letter_share(body)
    if letters < MIN_LETTER_SHARE:
        raise CorpusError(where, f"text is mostly not letters ({letters:.0%}): binary or encoded data, not an article; remove it")
    warnings: list[str] = []
    date = parse_date(record.get("date"))
    if record.get("date") and date is None:
        date = date_in_text(str(record.get("date")))  # "12 حزيران 2018", "15 رمضان 1439 هـ"
        if date is None:
            warnings.append(f"{where}: field 'date' {record.get('date')!r} is not a date (use YYYY-MM-DD); date left empty")
    date_source = "metadata" if date else None
    if date is None:
        date = date_in_text(text)
        date_source = "text" if date else None
    outlet = str(record.get("outlet") or "").strip()
    if outlet:
        outlet = detector.canonical(outlet) or outlet
    else:
        outlet = detector.detect(text, promo)
    lang = str(record.get("lang") or "").strip() or detect_language(f"{title}\n{body}")
    url = record.get("url")
    return Article(
        id=str(record.get("id") or default_id),
        title=title,
        text=body,
        outlet=outlet,
        date=date,
        url=str(url) if url else None,
        lang=lang,
        source_path=source_path,
        date_source=date_source,
        author=_one_line(record.get("author")),
        section=_one_line(record.get("section")),
        warnings=warnings,
    )


def _one_line(value: Any) -> str | None:
    """A byline or section as one line of text ("A, B" for a list); None when absent."""
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v).strip() for v in value if str(v).strip())
    text = " ".join(str(value or "").split())
    return text or None


# --- files ------------------------------------------------------------------


def decode_bytes(data: bytes, where: str) -> str:
    """UTF-8 (with or without BOM), else Windows-1256 when that yields Arabic text."""
    if b"\x00" in data[:8192]:
        raise CorpusError(where, "looks like a binary file, not text; remove it from the corpus")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1256")
    except UnicodeDecodeError:
        text = ""
    arabic = sum("\u0621" <= ch <= "\u064a" for ch in text)
    if text and arabic >= 0.3 * sum(ch.isalpha() for ch in text):
        return text
    raise CorpusError(where, "is not UTF-8 text; convert it, e.g. `iconv -f WINDOWS-1256 -t UTF-8`")


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML without timestamp construction: `date: 2017-02-30` stays a string (then a warning), never a crash."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _split_front_matter(text: str, where: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise CorpusError(where, "front matter opened with '---' is never closed; add a closing '---' line")
    try:
        meta = yaml.load(parts[0][3:], Loader=_FrontMatterLoader) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" (line {line + 1})" if line is not None else ""
        raise CorpusError(where, f"front matter is not valid YAML{at}; fix the field syntax") from None
    if not isinstance(meta, dict):
        raise CorpusError(where, "front matter must be 'key: value' lines")
    return meta, parts[1].lstrip("-\n")


def _read_text_file(root: Path, path: Path, detector: OutletDetector) -> Article:
    where = str(path)
    size = path.stat().st_size
    if size == 0:
        raise CorpusError(where, "empty file; remove it or add the article text")
    if size > MAX_ARTICLE_BYTES:
        raise CorpusError(where, f"file is {size / 2**20:.0f} MB, over the {MAX_ARTICLE_BYTES // 2**20} MB article limit; split it into articles")
    text = decode_bytes(path.read_bytes(), where)
    meta, body = _split_front_matter(text, where)
    if path.suffix == ".md" and not meta.get("title"):
        first, _, rest = body.strip().partition("\n")
        meta["title"], body = first.lstrip("# ").strip(), rest
    record = {**meta, "text": body}
    return build_article(
        record, default_id=_article_id(root, path), source_path=str(path.relative_to(root)), detector=detector, where=where
    )


def _records_from_json(path: Path) -> list[tuple[int, Any]]:
    where = str(path)
    data = json.loads(decode_bytes(path.read_bytes(), where))
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise CorpusError(where, "expected an article object, a list of them, or {\"articles\": [...]}")
    return list(enumerate(data, 1))


def _read_record_file(root: Path, path: Path, detector: OutletDetector) -> Iterator[Article | CorpusError]:
    rel = path.relative_to(root).with_suffix("").as_posix()
    if path.suffix == ".json":
        try:
            items: Iterator[tuple[int, Any]] = iter(_records_from_json(path))
            label = "record"
        except json.JSONDecodeError as exc:
            yield CorpusError(f"{path}:{exc.lineno}", f"invalid JSON ({exc.msg}); fix the file")
            return
        except CorpusError as exc:
            yield exc
            return
    else:
        items = _jsonl_lines(path)
        label = "line"
    empty = True
    try:
        for number, item in items:
            empty = False
            where = f"{path}:{number}"
            if isinstance(item, CorpusError):
                yield item
                continue
            if not isinstance(item, dict):
                yield CorpusError(where, f"{label} is not a JSON object with 'text'; fix or remove it")
                continue
            default_id = f"{rel}#{hashlib.sha1(str(item.get('text', '')).encode()).hexdigest()[:12]}"
            try:
                yield build_article(item, default_id=default_id, source_path=f"{path.relative_to(root)}:{number}", detector=detector, where=where)
            except CorpusError as exc:
                yield exc
    except CorpusError as exc:
        yield exc
    if empty:
        yield CorpusError(str(path), "holds no articles (empty file); remove it or add records")


def _jsonl_lines(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                yield number, json.loads(decode_bytes(raw, where))
            except json.JSONDecodeError as exc:
                yield number, CorpusError(where, f"malformed JSON ({exc.msg} at column {exc.colno}); fix or remove the line")
            except CorpusError as exc:
                yield number, exc


@dataclass(frozen=True)
class CorpusFile:
    """A file of the corpus as listed (not read): enough to tell whether it changed."""

    path: Path
    rel: str  # relative to the corpus root, as articles' `source_path` starts
    size: int
    mtime_ns: int


def list_corpus(root: Path) -> tuple[Path, list[CorpusFile]]:
    """(base the relative paths start from, the article files under `root` in path order)."""
    root = Path(root)
    if not root.exists():
        raise CorpusError(str(root), "corpus directory does not exist; pass --corpus or set RAG_CORPUS_DIR")
    paths = [root] if root.is_file() else sorted(root.rglob("*"))
    base = root.parent if root.is_file() else root
    files = []
    for path in paths:
        if READERS.get(path.suffix.lower()) is None:
            continue
        if any(part.startswith(".") for part in path.relative_to(base).parts):
            continue
        try:
            info = path.stat()
        except OSError:
            continue
        if path.is_file():
            files.append(CorpusFile(path, printable_path(path.relative_to(base)), info.st_size, info.st_mtime_ns))
    return base, files


def read_corpus_file(base: Path, file: CorpusFile, detector: OutletDetector) -> list[Article | CorpusError]:
    """The articles of one file; what cannot be read comes back as CorpusError items."""
    where = printable_path(file.path)
    reader = READERS.get(file.path.suffix.lower())
    if reader is None:
        return [CorpusError(where, "no reader for this kind of file; remove it or install a reader plugin")]
    if where != str(file.path):
        return [CorpusError(where, "file name is not valid UTF-8; rename it (e.g. `convmv -f cp1256 -t utf8`)")]
    if not _inside(base, file.path):
        return [CorpusError(where, f"is a link to {file.path.resolve()}, outside the corpus; links out of the corpus are "
                                   "not followed: copy the file in instead")]
    try:
        return list(reader(base, file.path, detector))
    except CorpusError as exc:
        return [exc]
    except OSError as exc:
        return [CorpusError(where, f"cannot be read ({exc.strerror}); check its permissions")]
    except Exception as exc:  # a reader's bug or a format it did not expect: this file is skipped, the rest indexed
        return [CorpusError(where, f"could not be read ({type(exc).__name__}: {exc}); fix or remove the file")]


def printable_path(path: Path) -> str:
    """The path as text; bytes that are not UTF-8 in its name are shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _inside(base: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(base.resolve())
    except ValueError:
        return False
    return True


def _text_reader(base: Path, path: Path, detector: OutletDetector) -> list[Article | CorpusError]:
    return [_read_text_file(base, path, detector)]


def _html_reader(base: Path, path: Path, detector: OutletDetector) -> list[Article | CorpusError]:
    from rag.ingest.html import read_html  # a built-in like a plugin: imported when an .html file is read

    return read_html(base, path, detector)


# Readers by file suffix; plugins add theirs through the "rag.readers" entry points.
READERS.register(".txt", _text_reader, *(TEXT_SUFFIXES - {".txt"}))
READERS.register(".jsonl", _read_record_file, *(RECORD_SUFFIXES - {".jsonl"}))
READERS.register(".html", _html_reader, ".htm")


def iter_corpus(root: Path, outlets: Mapping[str, Sequence[str]] | None = None) -> Iterator[Article | CorpusError]:
    """Articles under `root`, in path order; unreadable inputs come as CorpusError items."""
    base, files = list_corpus(root)
    detector = OutletDetector(outlets)
    seen_ids: dict[str, str] = {}
    for file in files:
        for item in read_corpus_file(base, file, detector):
            if isinstance(item, Article):
                if item.id in seen_ids:
                    item = CorpusError(item.source_path, f"duplicate article id {item.id!r} (also in {seen_ids[item.id]}); give one a unique 'id'")
                else:
                    seen_ids[item.id] = item.source_path
            yield item


def read_corpus(root: Path, outlets: Mapping[str, Sequence[str]] | None = None) -> tuple[list[Article], list[CorpusError]]:
    articles: list[Article] = []
    errors: list[CorpusError] = []
    for item in iter_corpus(root, outlets):
        (articles if isinstance(item, Article) else errors).append(item)
    return articles, errors
