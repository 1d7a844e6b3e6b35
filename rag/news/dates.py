"""Dates in articles and time expressions in questions, in Arabic and English.

- `date_in_text`: an article's publication date from its text when metadata
  has none: ISO and numeric forms (12/06/2018), month names of the three Arabic
  families (يناير… ; كانون الثاني، شباط، آذار… ; Maghreb جانفي، فيفري، أفريل…),
  English month names, and Hijri dates (converted with `hijridate`). The
  dateline area (the first lines) is searched first.
- `time_filter`: "in May 2018", "last week of June 2018", "early July 2018",
  "between June and August 2018", "في أيار 2018", "أواخر يونيو 2018", "in 2018"
  → a date range the search applies as a filter (the output says it inferred
  it; `--since/--until` override it). Relative expressions ("last week") are
  not resolved: an archive has no "now".
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from rag.language import normalize

#: Arabic-Indic and Persian digits to ASCII (str.translate table)
DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def day_number(date: str | None) -> int:
    """Days since 0001-01-01 of an ISO date (or date-time); -1 when unknown."""
    if not date:
        return -1
    try:
        return dt.date.fromisoformat(date[:10]).toordinal()
    except ValueError:
        return -1

# Written forms; matched after rag.language.normalize (alef forms unified, ة→ه, ى→ي, Latin folded).
_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("يناير", "كانون الثاني", "جانفي", "january", "jan"),
    2: ("فبراير", "شباط", "فيفري", "february", "feb"),
    3: ("مارس", "آذار", "march", "mar"),
    4: ("أبريل", "إبريل", "نيسان", "أفريل", "april", "apr"),
    5: ("مايو", "أيار", "ماي", "may"),
    6: ("يونيو", "يونيه", "حزيران", "جوان", "june", "jun"),
    7: ("يوليو", "يوليه", "تموز", "جويلية", "july", "jul"),
    8: ("أغسطس", "آب", "أوت", "august", "aug"),
    9: ("سبتمبر", "أيلول", "september", "sept", "sep"),
    10: ("أكتوبر", "تشرين الأول", "october", "oct"),
    11: ("نوفمبر", "تشرين الثاني", "november", "nov"),
    12: ("ديسمبر", "كانون الأول", "december", "dec"),
}
_HIJRI_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("محرم",),
    2: ("صفر",),
    3: ("ربيع الأول",),
    4: ("ربيع الثاني", "ربيع الآخر"),
    5: ("جمادى الأولى",),
    6: ("جمادى الآخرة", "جمادى الثانية"),
    7: ("رجب",),
    8: ("شعبان",),
    9: ("رمضان",),
    10: ("شوال",),
    11: ("ذو القعدة",),
    12: ("ذو الحجة",),
}


def _alternation(table: dict[int, tuple[str, ...]]) -> tuple[str, dict[str, int]]:
    lookup = {normalize(name): month for month, names in table.items() for name in names}
    ordered = sorted(lookup, key=len, reverse=True)  # كانون الثاني before كانون
    return "|".join(re.escape(n) for n in ordered), lookup


_MONTHS, _MONTH_OF = _alternation(_MONTH_NAMES)
_HMONTHS, _HMONTH_OF = _alternation(_HIJRI_MONTHS)
_B = r"(?<![\w])"  # a word starts here
_E = r"(?![\w])"
_YEAR = r"((?:19|20)\d\d)"
_DAY = r"(\d{1,2})"

_ISO = re.compile(_B + _YEAR + r"-(\d{1,2})-(\d{1,2})(?!\d)")
_NUMERIC = re.compile(_B + _DAY + r"[/.\-](\d{1,2})[/.\-]" + _YEAR + _E)
_DAY_MONTH_YEAR = re.compile(_B + _DAY + r"\s*(?:من\s+)?(?:شهر\s+)?(" + _MONTHS + r")(?:\s*/\s*(?:" + _MONTHS + r"))?\s*،?\s*(?:عام\s+|سنه\s+)?" + _YEAR + _E)
_MONTH_DAY_YEAR = re.compile(_B + "(" + _MONTHS + r")\.?\s+" + _DAY + r"(?:st|nd|rd|th)?,?\s+" + _YEAR + _E)
_HIJRI = re.compile(_B + _DAY + r"\s*(?:من\s+)?(?:شهر\s+)?(" + _HMONTHS + r")\s*(?:عام\s+|سنه\s+)?(1[34]\d\d)\s*(?:ه|هـ|هجري|هجريه)?" + _E)


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _hijri(year: int, month: int, day: int) -> dt.date | None:
    try:
        from hijridate import Hijri

        gregorian = Hijri(year, month, day).to_gregorian()
        return dt.date(gregorian.year, gregorian.month, gregorian.day)
    except (ImportError, ValueError, OverflowError):
        return None


def _first_date(text: str) -> dt.date | None:
    found: list[tuple[int, dt.date]] = []
    for match in _ISO.finditer(text):
        day = _date(int(match[1]), int(match[2]), int(match[3]))
        if day:
            found.append((match.start(), day))
    for match in _NUMERIC.finditer(text):
        day = _date(int(match[3]), int(match[2]), int(match[1]))  # day first, as Arabic and European copy writes it
        if day:
            found.append((match.start(), day))
    for match in _DAY_MONTH_YEAR.finditer(text):
        day = _date(int(match[3]), _MONTH_OF[match[2]], int(match[1]))
        if day:
            found.append((match.start(), day))
    for match in _MONTH_DAY_YEAR.finditer(text):
        day = _date(int(match[3]), _MONTH_OF[match[1]], int(match[2]))
        if day:
            found.append((match.start(), day))
    for match in _HIJRI.finditer(text):
        day = _hijri(int(match[3]), _HMONTH_OF[match[2]], int(match[1]))
        if day:
            found.append((match.start(), day))
    return min(found)[1] if found else None


def date_in_text(text: str, dateline_chars: int = 300) -> str | None:
    """The publication date an article states in its dateline (ISO); None when it states none there.

    Only the opening counts: a date deeper in the body is when something happened ("the final was
    played on 7 February 2016"), and taking it as the publication date dated reference paragraphs
    by their events, so that "in 2015" filtered out the paragraph that answered it."""
    normalised = normalize(text[: dateline_chars * 2]).translate(DIGITS)
    day = _first_date(normalised[:dateline_chars])
    return day.isoformat() if day else None


@dataclass(frozen=True)
class TimeFilter:
    """A date range, and where it came from (shown as `time_filter` in JSON output)."""

    since: str
    until: str
    text: str = ""
    from_question: bool = True
    #: False when no article fell in the window and the search ran over all dates instead
    matched: bool = True

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"since": self.since, "until": self.until, "from_question": self.from_question}
        if not self.matched:
            data["matched"] = False
        if self.text:
            data["text"] = self.text
        return data


_PART = r"(early|mid|late|beginning of|end of|first half of|second half of|اوائل|مطلع|بدايه|منتصف|اواسط|اواخر|نهايه)"
_WEEK = r"(?:the\s+)?(first|second|third|fourth|last|الاول|الثاني|الثالث|الرابع|الاخير)\s+week\s+of|(?:ال)?اسبوع\s+(الاول|الثاني|الثالث|الرابع|الاخير)\s+(?:من|في)"
_Q_MONTH_YEAR = re.compile(r"(?:(" + _WEEK + r")\s+|" + _PART + r"\s+(?:شهر\s+)?)?(?:شهر\s+)?" + _B + "(" + _MONTHS + r")\s*،?\s*(?:عام\s+|سنه\s+|of\s+)?" + _YEAR + _E)
_Q_RANGE = re.compile(
    r"(?:between|from|بين|من)\s+(?:شهر\s+)?(" + _MONTHS + r")\s+(?:and|to|until|و|الي|حتي)\s*(?:شهر\s+)?" + _B + "(" + _MONTHS + r")\s*،?\s*(?:عام\s+|سنه\s+)?" + _YEAR + _E
)
_Q_DAY = re.compile(_B + _DAY + r"\s+(" + _MONTHS + r")\s*،?\s*" + _YEAR + _E + "|" + _B + "(" + _MONTHS + r")\s+" + _DAY + r"(?:st|nd|rd|th)?,?\s+" + _YEAR + _E)
_Q_YEAR = re.compile(r"(?:\bin\s+|\bduring\s+|في\s+|عام\s+|سنه\s+|خلال\s+)(?:عام\s+|سنه\s+)?" + _YEAR + _E)
_WEEK_NUMBER = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1, "الاول": 0, "الثاني": 1, "الثالث": 2, "الرابع": 3, "الاخير": -1}


def _month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def time_filter(question: str) -> TimeFilter | None:
    """The date range a question names, if it names one (see the module docstring)."""
    text = normalize(question).translate(DIGITS)
    match = _Q_DAY.search(text)
    if match:
        if match[1]:
            day = _date(int(match[3]), _MONTH_OF[match[2]], int(match[1]))
        else:
            day = _date(int(match[6]), _MONTH_OF[match[4]], int(match[5]))
        if day:
            return TimeFilter(day.isoformat(), day.isoformat(), match[0])
    match = _Q_RANGE.search(text)
    if match:
        year = int(match[3])
        first, last = _MONTH_OF[match[1]], _MONTH_OF[match[2]]
        if first <= last:
            return TimeFilter(_month_range(year, first)[0].isoformat(), _month_range(year, last)[1].isoformat(), match[0])
    match = _Q_MONTH_YEAR.search(text)
    if match:
        week = match[2] or match[3]
        part = match[4]
        month, year = _MONTH_OF[match[5]], int(match[6])
        start, end = _month_range(year, month)
        if week:
            number = _WEEK_NUMBER[week]
            if number < 0:
                start = end - dt.timedelta(days=6)
            else:
                start = start + dt.timedelta(days=7 * number)
                end = start + dt.timedelta(days=6)
        elif part:
            if part in ("early", "beginning of", "first half of", "اوائل", "مطلع", "بدايه"):
                end = start + dt.timedelta(days=14 if "half" in part else 9)
            elif part in ("mid", "منتصف", "اواسط"):
                start, end = start + dt.timedelta(days=10), start + dt.timedelta(days=19)
            else:
                start = (start + dt.timedelta(days=15)) if "half" in part else (end - dt.timedelta(days=9))
        return TimeFilter(start.isoformat(), end.isoformat(), match[0])
    match = _Q_YEAR.search(text)
    if match:
        year = int(match[1])
        return TimeFilter(f"{year}-01-01", f"{year}-12-31", match[0])
    return None


# Whole words that ask for news only: "آخر" alone is also "last" and "other" ("the last prime
# minister of East Germany"), "latest" also qualifies things ("the latest epoch"), "now"/"الآن",
# "today"/"اليوم" and "جديد"/"new" describe a state ("known today as"), and a bare pattern matched
# inside other words ("الانتخابات" holds "الان", "أواخر" holds "اخر").
_NEWS_NOUNS = r"news|developments?|reports?|updates?|statements?|comments?|remarks?|events?"
_LATEST = re.compile(
    r"\b(?:latest(?=\s+(?:" + _NEWS_NOUNS + r"|on|about|from|in|with)\b|\s*[?.!]*$)|most recent\s+(?:" + _NEWS_NOUNS + r")"
    r"|recent\s+(?:" + _NEWS_NOUNS + r")|recently|so far|this week)\b"
    r"|(?<!\w)(?:احدث|مستجدات|المستجدات|حتي الان|ما (?:هو )?الجديد"
    r"|اخر (?:ال)?(?:اخبار|تطورات|مستجدات|انباء|تصريحات|تصريح|ما))(?!\w)"
)


def asks_for_latest(question: str) -> bool:
    """'What is the latest news about X?': reports are then ordered by date."""
    return bool(_LATEST.search(normalize(question)))
