"""Consonant skeletons: a script-neutral key for names, with no model.

Arabic writes names without short vowels, and foreign names are rendered by
sound: Lavrov → لافروف, Raqqa → الرقة, Peyton Manning → بايتون مانينغ. Both
scripts are reduced to a string of consonant *classes* (vowels and the glides
w/y/و/ي dropped, doubled letters collapsed, the Arabic article removed), and
two skeletons are compared with an edit distance whose substitution costs
know the usual correspondences (v→ف, g→غ/ج/ق, ch→تش/ش, th→ث/ت, p→ب …).
"""

from __future__ import annotations

import functools
import unicodedata

from rag.language import normalize_arabic, strip_article

# Arabic letter → class (letters absent here are dropped: alef, hamza, ع, و, ي).
_ARABIC_CLASS = {
    "ب": "b", "پ": "b", "ف": "f", "ڤ": "f", "ت": "t", "ط": "t", "ث": "t",
    "د": "d", "ض": "d", "ذ": "d", "ز": "z", "ظ": "z", "س": "s", "ص": "s",
    "ش": "S", "ج": "j", "چ": "C", "غ": "g", "گ": "g", "ق": "q", "ك": "k", "خ": "x",
    "ه": "h", "ح": "h", "ر": "r", "ل": "l", "م": "m", "ن": "n",
}

# Latin, longest spelling first; vowels and w/y are dropped.
_LATIN_MULTI = [
    ("tch", "C"), ("sch", "S"), ("ch", "C"), ("sh", "S"), ("zh", "j"), ("kh", "x"), ("gh", "g"),
    ("th", "t"), ("ph", "f"), ("dh", "d"), ("ck", "k"), ("qu", "k"), ("dj", "j"), ("dz", "j"),
    ("ts", "ts"), ("ks", "ks"), ("x", "ks"),
]
_LATIN_SINGLE = {
    "b": "b", "p": "b", "f": "f", "v": "f", "t": "t", "d": "d", "z": "z", "s": "s",
    "j": "j", "g": "g", "q": "q", "k": "k", "h": "h", "r": "r", "l": "l", "m": "m", "n": "n",
}
# Letters with diacritics that carry a distinct sound (Turkish, Slavic, …), before folding.
_LATIN_SPECIAL = str.maketrans({"ç": "ch", "Ç": "ch", "ş": "sh", "Ş": "sh", "ğ": "gh", "Ğ": "gh",
                                "č": "ch", "š": "sh", "ž": "zh", "ı": "i", "İ": "i", "ß": "ss"})

# Substitution costs between classes that transliteration confuses (symmetric).
_NEAR = {
    ("k", "q"): 0.2, ("C", "S"): 0.2, ("g", "q"): 0.3, ("g", "j"): 0.3, ("g", "k"): 0.4,
    ("s", "S"): 0.4, ("s", "z"): 0.4, ("k", "x"): 0.4, ("h", "x"): 0.4, ("C", "k"): 0.4,
    ("C", "j"): 0.4, ("C", "x"): 0.5, ("t", "d"): 0.5, ("d", "z"): 0.5, ("s", "t"): 0.6,
    ("b", "f"): 0.6, ("j", "z"): 0.6, ("j", "S"): 0.6,
}
_NEAR.update({(b, a): c for (a, b), c in list(_NEAR.items())})
# Letters that one script often writes and the other omits.
_WEAK = {"h": 0.5, "g": 0.6}


def _collapse(classes: list[str]) -> str:
    out: list[str] = []
    for c in classes:
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


def arabic_skeleton(word: str) -> str:
    """Skeleton of one Arabic word or a phrase (words joined without separator)."""
    classes: list[str] = []
    for token in normalize_arabic(word).split():
        token = strip_article(token)
        if len(token) > 2 and token.endswith("ه"):  # ة (normalised to ه) is a vowel ending
            token = token[:-1]
        token = token.replace("تش", "چ")
        classes.extend(_ARABIC_CLASS[ch] for ch in token if ch in _ARABIC_CLASS)
    return _collapse(classes)


def latin_skeleton(name: str) -> str:
    """Skeleton of a Latin-script name (diacritics and case ignored)."""
    text = name.translate(_LATIN_SPECIAL)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)).lower()
    classes: list[str] = []
    i = 0
    while i < len(text):
        for spelling, cls in _LATIN_MULTI:
            if text.startswith(spelling, i):
                classes.extend(cls)
                i += len(spelling)
                break
        else:
            ch = text[i]
            if ch == "c":
                classes.append("s" if text[i + 1 : i + 2] in ("e", "i", "y") else "k")
            elif ch in _LATIN_SINGLE:
                classes.append(_LATIN_SINGLE[ch])
            i += 1
    return _collapse(classes)


@functools.lru_cache(maxsize=65536)
def skeleton_distance(a: str, b: str) -> float:
    """Weighted edit distance between two skeletons."""
    previous = [0.0]
    for ch in b:
        previous.append(previous[-1] + _WEAK.get(ch, 1.0))
    for ca in a:
        current = [previous[0] + _WEAK.get(ca, 1.0)]
        for j, cb in enumerate(b, 1):
            substitution = 0.0 if ca == cb else _NEAR.get((ca, cb), 1.0)
            current.append(
                min(
                    previous[j] + _WEAK.get(ca, 1.0),
                    current[j - 1] + _WEAK.get(cb, 1.0),
                    previous[j - 1] + substitution,
                )
            )
        previous = current
    return previous[-1]


def skeleton_similarity(a: str, b: str) -> float:
    """1.0 for equal skeletons, falling towards 0 as they differ (length-normalised)."""
    if not a or not b:
        return 0.0
    return max(0.0, 1.0 - skeleton_distance(a, b) / max(len(a), len(b)))
