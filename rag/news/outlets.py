"""Who published an article, when the article itself does not say in metadata.

Only *signature positions* are trusted: a "source:" footer, a dateline
(`موسكو-سانا`), a byline near the top, or the publisher's own promotional
lines (`اشترك في وكالة تسنيم`). A name mentioned in the body ("…نقلت قناة
روسيا اليوم") is a quoted source, not the publisher, and is never used.
When nothing reliable is found the outlet is `unknown`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from rag.language import normalize

UNKNOWN = "unknown"

# Canonical name → spellings seen in Arabic and Latin copy. Names that are also
# common words (الأخبار "the news", الوطن "the homeland", تشرين "October") are
# left out on purpose: they would turn boilerplate into false attributions.
KNOWN_OUTLETS: dict[str, tuple[str, ...]] = {
    "SANA": ("سانا", "SANA", "الوكالة العربية السورية للأنباء", "SyrianArabNewsAgency"),
    "Al Jazeera": ("الجزيرة", "الجزيرة نت", "Al Jazeera", "aljazeera"),
    "Tasnim News Agency": ("تسنيم", "Tasnim"),
    "Al-Rai": ("الرأي", "Al-Rai", "Alrai"),
    "Al Arabiya": ("العربية نت", "قناة العربية", "Al Arabiya", "alarabiya"),
    "Anadolu Agency": ("الأناضول", "وكالة الأناضول", "Anadolu", "aa.com.tr"),
    "Reuters": ("رويترز", "Reuters"),
    "AFP": ("فرانس برس", "أ ف ب", "AFP"),
    "Associated Press": ("أسوشيتد برس", "Associated Press"),
    "RT Arabic": ("روسيا اليوم", "RT Arabic", "arabic.rt.com"),
    "Sputnik Arabic": ("سبوتنيك", "Sputnik"),
    "BBC Arabic": ("بي بي سي عربي", "BBC Arabic", "bbc.com/arabic"),
    "Sky News Arabia": ("سكاي نيوز عربية", "Sky News Arabia"),
    "Asharq Al-Awsat": ("الشرق الأوسط", "Asharq Al-Awsat", "aawsat"),
    "Al-Ahram": ("الأهرام", "Al-Ahram", "ahram.org.eg"),
    "Al Mayadeen": ("الميادين", "Al Mayadeen"),
    "Al-Manar": ("المنار", "Al-Manar"),
    "Enab Baladi": ("عنب بلدي", "Enab Baladi"),
    "Al-Quds Al-Arabi": ("القدس العربي", "Al-Quds Al-Arabi", "alquds.co.uk"),
    "Alhurra": ("الحرة", "Alhurra"),
    "France 24": ("فرانس 24", "France 24"),
    "Euronews": ("يورونيوز", "Euronews"),
    "Xinhua": ("شينخوا", "Xinhua"),
    "IRNA": ("إرنا", "IRNA"),
    "Petra": ("بترا", "Petra"),
    "WAM": ("وام", "WAM"),
    "Saudi Press Agency": ("واس", "SPA"),
    "KUNA": ("كونا", "KUNA"),
    "QNA": ("قنا", "QNA"),
    "MENA": ("أ ش أ", "MENA"),
    "Jawhara FM": ("جوهرة أف أم", "جوهرة اف ام", "Jawhara FM", "jawharafm"),
    "Mosaique FM": ("موزاييك", "Mosaique FM"),
    "Hespress": ("هسبريس", "Hespress"),
}

# Tokens that look like an agency in a dateline but are not one.
_NOT_OUTLETS = {normalize(w) for w in ("خاص", "وكالات", "متابعات", "مراسلنا", "عاجل")}

_SOURCE_LINE = re.compile(r"^\s*(?:المصدر|المصادر|source)\s*[:：]\s*(.{2,60}?)\s*$", re.IGNORECASE)
_DATELINE = re.compile(r"^\s*[\u0600-\u06ff ]{2,25}?\s*[-–—]\s*([\u0600-\u06ff ]{2,25}?)\s*[-–—]?\s*$")
_BYLINE_SEPARATORS = re.compile(r"\s*[-–—|]\s*")


class OutletDetector:
    """Finds the publisher from signature positions, using a table users can extend."""

    def __init__(self, extra: Mapping[str, Sequence[str]] | None = None) -> None:
        self._aliases: dict[str, str] = {}
        for name, spellings in KNOWN_OUTLETS.items():
            for spelling in (name, *spellings):
                self._aliases[normalize(spelling)] = name
        self._user_rules: list[tuple[str, re.Pattern[str]]] = []
        for name, patterns in (extra or {}).items():
            for pattern in patterns:
                self._user_rules.append((name, re.compile(pattern, re.IGNORECASE | re.MULTILINE)))
                self._aliases.setdefault(normalize(pattern), name)

    def canonical(self, name: str) -> str | None:
        """The table's name for a spelling, or None when the spelling is not known."""
        return self._aliases.get(normalize(name.strip(" .:()\"'«»")))

    def detect(self, text: str, promo_lines: Iterable[str] = ()) -> str:
        """Publisher of `text`, or UNKNOWN. `promo_lines` are boilerplate lines that cleaning removed."""
        for name, pattern in self._user_rules:
            if pattern.search(text):
                return name
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        # 1. An explicit "source:" footer names the publisher (first name before "+" or "و").
        for line in reversed(lines[-8:]):
            if match := _SOURCE_LINE.match(line):
                first = re.split(r"\s*[+،,]\s*|\s+و", match.group(1))[0]
                if first and normalize(first) not in _NOT_OUTLETS:
                    return self.canonical(first) or first.strip()
        # 2. A dateline or a byline near the top, if it names a known outlet.
        for line in lines[:6]:
            if len(line) > 80:
                continue
            if match := _DATELINE.match(line):
                if name := self.canonical(match.group(1)):
                    return name
            for segment in _BYLINE_SEPARATORS.split(line):
                if segment and len(_BYLINE_SEPARATORS.split(line)) >= 3:
                    if name := self.canonical(segment):
                        return name
        # 3. The publisher's own promotional lines ("subscribe to …", "follow us on …").
        for line in promo_lines:
            if name := self._known_name_in(line):
                return name
        return UNKNOWN

    def _known_name_in(self, line: str) -> str | None:
        normalized = normalize(line)
        words = re.findall(r"[^\W_]+", normalized)
        for size in (4, 3, 2, 1):
            for start in range(len(words) - size + 1):
                if name := self._aliases.get(" ".join(words[start : start + size])):
                    return name
        for url_part in re.findall(r"[a-z0-9.]+(?:/[a-z0-9]+)?", normalized):
            for alias, name in self._aliases.items():
                if len(alias) >= 5 and alias.isascii() and alias.replace(" ", "") in url_part:
                    return name
        return None


def _fold(name: str) -> str:
    """Outlet spelling → comparable key: one script form, no spaces/punctuation, no domain suffix."""
    folded = normalize(name.strip()).removeprefix("https://").removeprefix("http://").removeprefix("www.")
    folded = re.sub(r"\.(?:com|net|org|co\.uk|tv|fm|me|info)(?:/.*)?$", "", folded)
    return re.sub(r"[\W_]+", "", folded)


def resolve_outlet(query: str, indexed: Iterable[str]) -> list[str]:
    """The indexed outlet names a user means by `query`, typed in either script or as a domain.

    "الجزيرة", "al jazeera", "aljazeera.net" → "Al Jazeera"; "bbc" → "BBC Arabic"; "france 24" →
    "France 24 Arabic". Empty when nothing matches (the caller lists the known names).
    """
    key = _fold(query)
    if not key:
        return []
    names = list(dict.fromkeys(indexed))
    keys_of: dict[str, set[str]] = {}
    for name in names:
        keys = {_fold(name)}
        for canonical, spellings in KNOWN_OUTLETS.items():
            ck = _fold(canonical)
            if ck and (keys & {ck} or _fold(name).startswith(ck)):
                keys.update(_fold(s) for s in spellings)
        keys_of[name] = {k for k in keys if k}
    exact = [name for name in names if key in keys_of[name]]
    if exact:
        return exact
    if len(key) < 3:
        return []
    return [name for name in names if any(k.startswith(key) for k in keys_of[name])]
