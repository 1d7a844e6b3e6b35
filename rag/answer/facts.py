"""What a claim must keep from its sentence: whole words, numbers, months, names and polarity.

A claim is shown only if it says no more and no other than a sentence of its
passage says. The similarity checks (rag.answer.claims) judge the topic; these judge
the facts a rendering or a paraphrase most often gets wrong, in English and
Arabic, without a model:

- `cut`: a claim that stops inside a word, a name or a quotation (a model that
  opens a quotation with `"` inside a JSON string ends the string there);
- `numbers`: every count or figure of the claim, digits or words ("four",
  "أربعين", "29 ألفا و358", "dozens"/"عشرات"), must be one of the sentence's;
- `months`: every month the claim names must be one the sentence names;
- `negation`: a negation (not, never, denied / لم، لا، لن، ليس، نفى، رفض) is in
  both or in neither;
- `names`: every name of an English claim that the alias index spells as a
  transliteration must be written in the sentence (one of its Arabic spellings,
  or an Arabic word with the same transliteration skeleton).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rag.news.dates import DIGITS, _MONTH_NAMES
from rag.language import ARABIC_DIACRITICS, arabic_phrases, lexical_tokens, normalize, normalize_arabic, strip_article
from rag.names.transliteration import arabic_skeleton, latin_skeleton, skeleton_similarity

# -- whole claims ---------------------------------------------------------------------------

_END = ".!?؟…。"
_CLOSERS = "\"'”’»)]"
_PAIRS = (("«", "»"), ("“", "”"), ("(", ")"))
# A bare Arabic article or a one-letter Arabic word at the end is a word cut in two ("مدينة ال").
_CUT_ARABIC = re.compile(r"(?:^|\s)(?:ال|وال|بال|لل|فال|كال|[\u0621-\u064a])$")


def cut_reason(text: str, ended: bool = False) -> str | None:
    """Why `text` is not a whole claim (None when it is): it closes its quotes, does not stop on a bare
    Arabic article, and ends a sentence — unless `ended` says it was seen to end (a line of the line
    format that its newline closed)."""
    body = text.strip()
    if not body:
        return "empty"
    if _CUT_ARABIC.search(body.rstrip(_END + _CLOSERS + " ")):
        return "cut inside a word"
    if body.count('"') % 2:
        return "unbalanced quotation"
    for opening, closing in _PAIRS:
        if body.count(opening) != body.count(closing):
            return "unbalanced quotation"
    if not ended and body.rstrip(_CLOSERS + " ")[-1:] not in _END:
        return "no sentence end"
    return None


# -- numbers ---------------------------------------------------------------------------------

_EN_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_EN_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_EN_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "dozen": 12,
              "trillion": 1_000_000_000_000, "mn": 1_000_000, "bn": 1_000_000_000}  # "$1.2bn", as English copy writes
_AR_UNITS = {
    "واحد": 1, "واحده": 1, "احد": 1, "احدي": 1, "اثنان": 2, "اثنين": 2, "اثنتان": 2, "اثنتين": 2, "اثنا": 2, "اثني": 2,
    "اثنتا": 2, "اثنتي": 2, "ثلاث": 3, "ثلاثه": 3, "اربع": 4,
    "اربعه": 4, "خمس": 5, "خمسه": 5, "ست": 6, "سته": 6, "سبع": 7, "سبعه": 7, "ثماني": 8, "ثمانيه": 8, "ثمان": 8,
    "تسع": 9, "تسعه": 9, "عشر": 10, "عشره": 10,
}
_AR_TENS = {"عشرون": 20, "عشرين": 20, "ثلاثون": 30, "ثلاثين": 30, "اربعون": 40, "اربعين": 40, "خمسون": 50,
            "خمسين": 50, "ستون": 60, "ستين": 60, "سبعون": 70, "سبعين": 70, "ثمانون": 80, "ثمانين": 80,
            "تسعون": 90, "تسعين": 90}
_AR_SCALES = {"مئة": 100, "مائة": 100, "مئتين": 200, "مئتان": 200, "مائتين": 200, "مائتان": 200, "مئتي": 200,
              "مائتي": 200, "الف": 1_000, "الفا": 1_000, "الفين": 2_000, "الفان": 2_000, "الفي": 2_000,
              "مليون": 1_000_000, "مليونا": 1_000_000, "مليار": 1_000_000_000, "مليارا": 1_000_000_000,
              "بليون": 1_000_000_000,
              # the hundreds are one word: ثلاثمئة, خمسمائة …
              **{f"{unit}{hundred}": n * 100 for n, unit in enumerate("_ _ _ ثلاث اربع خمس ست سبع ثمان تسع".split())
                 if unit != "_" for hundred in ("مئة", "مائة")}}
# Vague quantities: "dozens" and عشرات say the same, whatever the exact count.
_VAGUE = {"dozens": "tens", "tens": "tens", "عشرات": "tens", "hundreds": "hundreds", "مئات": "hundreds",
          "thousands": "thousands", "الاف": "thousands", "millions": "millions", "ملايين": "millions"}
_PLURAL_SCALES = {"thousands": 1_000, "الاف": 1_000, "millions": 1_000_000, "ملايين": 1_000_000,
                  "billions": 1_000_000_000, "مليارات": 1_000_000_000}
# The Arabic keys as the reader meets them: normalised (مئة is read ميه — its hamza seat folded — so the
# tables, written with hamzas, had never matched مئة, مائة or مئات).
_AR_UNITS, _AR_TENS, _AR_SCALES = ({normalize_arabic(k): v for k, v in table.items()} for table in (_AR_UNITS, _AR_TENS, _AR_SCALES))
_VAGUE = {normalize_arabic(k): v for k, v in _VAGUE.items()}
_PLURAL_SCALES = {normalize_arabic(k): v for k, v in _PLURAL_SCALES.items()}
_TOKEN = re.compile(r"\d+(?:[.,٫]\d+)*|[^\W\d_]+", re.UNICODE)


def _digits_value(token: str) -> float:
    """`3,200` → 3200; `10,8` / `1.15` / `10٫8` → a decimal (a comma before 1–2 digits is a decimal comma)."""
    token = token.replace("٫", ".")
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", token):
        return float(token.replace(",", ""))
    return float(token.replace(",", ".")) if token.count(",") + token.count(".") <= 1 else float(re.sub(r"[.,]", "", token))


_HALF = {"half", "نصف"}


def _word_value(word: str) -> tuple[float, str] | None:
    """(value, kind) of one number word: kind unit | tens | scale | half."""
    lower = word.lower()
    if lower in _HALF or normalize_arabic(word).removeprefix("و") in _HALF:
        return 0.5, "half"
    for table, kind in ((_EN_UNITS, "unit"), (_EN_TENS, "tens"), (_EN_SCALES, "scale")):
        for form in (lower, lower.removesuffix("s")):
            if form in table:
                return float(table[form]), kind
    folded = normalize_arabic(word)
    for prefix in ("", "و", "ب", "ل"):
        if prefix and not folded.startswith(prefix):
            continue
        bare = folded[len(prefix):]
        for table, kind in ((_AR_UNITS, "unit"), (_AR_TENS, "tens"), (_AR_SCALES, "scale")):
            if bare in table:
                return float(table[bare]), kind
    return None


@dataclass(frozen=True)
class Figures:
    """The numbers a text states: exact values and vague quantities ("tens", "hundreds", …)."""

    values: frozenset[float]
    vague: frozenset[str]


def figures(text: str) -> Figures:
    """Every number `text` states, composed as it is written ("29 ألفا و358" → 29358, "forty-five" → 45,
    "1.5 million" → 1500000, "ثلاثة وعشرون" → 23).

    The words for one and two alone are left out (English "two ministers" is often an Arabic dual, "one"
    an article); as digits they count.
    """
    values: set[float] = set()
    vague: set[str] = set()
    state = {"total": 0.0, "current": 0.0, "have": False, "last": "", "scale": 0.0, "words": 0, "tokens": 0, "and": False}

    def flush() -> None:
        if state["have"]:
            value = round(state["total"] + state["current"], 6)
            if not (state["tokens"] == 1 and state["words"] == 1 and value in (1.0, 2.0)):
                values.add(value)
        state.update(total=0.0, current=0.0, have=False, last="", scale=0.0, words=0, tokens=0, **{"and": False})

    for token in _TOKEN.findall(text.translate(DIGITS).replace("-", " ")):
        lower, folded = token.lower(), normalize_arabic(token)
        plural = _PLURAL_SCALES.get(lower) or _PLURAL_SCALES.get(folded)
        if plural and state["have"] and state["last"] != "scale":  # "10 آلاف", "3 millions"
            state.update(total=state["total"] + (state["current"] or 1.0) * plural, current=0.0, last="scale",
                         scale=plural, tokens=state["tokens"] + 1)
            continue
        if lower in _VAGUE or folded in _VAGUE:
            flush()
            vague.add(_VAGUE.get(lower) or _VAGUE[folded])
            continue
        if token[0].isdigit():
            value, kind = _digits_value(token), "digits"
        elif (word := _word_value(token)) is not None:
            value, kind = word
            if folded.startswith("و") and _word_value(token[1:]) is not None:
                state["and"] = state["have"]  # وعشرون: "and twenty"
        elif state["have"] and lower in ("and", "و"):
            state["and"] = True
            continue
        else:
            flush()
            continue
        if kind == "scale":
            _scale(state, value)
            continue
        if kind == "half":  # "three and a half", "ثلاث سنوات ونصف": it joins the number before it
            if state["have"] and state["last"] != "half":
                state.update(current=state["current"] + value, last="half")
            continue
        joins = state["have"] and (
            (state["last"] == "scale" and value < state["scale"])
            or (state["last"] == "tens" and kind == "unit" and value < 10)
            or (state["last"] == "unit" and kind == "tens" and state["and"])
            or (state["last"] == "unit" and value == 10 and state["current"] < 10 and not lower.isascii())  # خمس عشرة: 15
        )
        if not joins:
            flush()
        state.update(current=state["current"] + value, have=True, last=kind, words=state["words"] + (kind != "digits"),
                     tokens=state["tokens"] + 1, **{"and": False})
    flush()
    return Figures(frozenset(values), frozenset(vague))


def _scale(state: dict, value: float) -> None:
    """A scale word in a number being read: thousands and up close a group ("29 ألفا و358"), hundreds multiply."""
    if value >= 1000:
        state.update(total=state["total"] + (state["current"] or 1.0) * value, current=0.0, have=True)
    else:
        state.update(current=(state["current"] or 1.0) * value, have=True)
    state.update(last="scale", scale=value, words=state["words"] + 1, tokens=state["tokens"] + 1, **{"and": False})


def _atoms(text: str) -> set[float]:
    """Every single number in `text`, also inside compositions (a sentence's side is read generously)."""
    found = set()
    for token in _TOKEN.findall(text.translate(DIGITS).replace("-", " ")):
        if token[0].isdigit():
            found.add(round(_digits_value(token), 6))
            found.add(float(re.sub(r"\D", "", token) or 0))
        elif (word := _word_value(token)) is not None:
            found.add(word[0])
    return found


def with_digits(text: str) -> str:
    """`text` with each Arabic number from 3 to 999 written in words in digits — a word alone (ثمانية → 8,
    أربعين → 40, ثلاثمئة → 300) or a teen or composition (خمس عشرة → 15, خمسة وعشرين → 25) — its clitic kept (و3):
    what a renderer is given, because a small model translates number words wrongly (أربعين → "four",
    ثمانية → "five") but copies digits. Numbers beside digits or scale words (ثلاثة آلاف), one and two (duals,
    أحد "one of"), ten alone (الحادي عشر is an ordinal), words with the article or a vowel mark (خُمس "a fifth")
    are left as written."""
    words = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(words):
        run = 0
        while i + run < len(words) and run < 3 and _number_word(words[i + run]):
            run += 1
        value = _run_value(words[i : i + run]) if run else None
        beside = (words[i - 1] if i else "", words[i + run] if i + run < len(words) else "")
        if value is None or any(_numeric(w) for w in beside):
            out.extend(words[i : i + max(run, 1)])
            i += max(run, 1)
            continue
        head, tail = words[i], words[i + run - 1]  # punctuation before the first word and after the last stays
        first, last = _core(head), _core(tail)
        clitic = first[0] if normalize_arabic(first)[:1] in "وبل" and _word_value(first[1:]) is not None else ""
        out.append(head[: head.index(first)] + f"{clitic}{int(value)}" + tail[tail.rindex(last) + len(last) :])
        i += run
    return " ".join(out)


def _core(word: str) -> str:
    return word.strip(_CLOSERS + _END + "\"'«“(,،؛:")


def _number_word(word: str) -> bool:
    """An Arabic unit, tens or hundreds word written without the article (ثلاثة, وعشرين, ثلاثمئة; not الثلاثة)."""
    core = normalize_arabic(_core(word))
    if not core or core.isascii() or strip_article(core) != core or ARABIC_DIACRITICS.search(word):
        return False  # a vowel mark is written to tell words apart: خُمس is "a fifth", not خمس "five"
    value = _word_value(core)
    return value is not None and (value[1] in ("unit", "tens") or (value[1] == "scale" and value[0] < 1_000))


def _run_value(run: list[str]) -> float | None:
    """The one number 3–999 that a run of number words states (None for one, two, ten alone, or no single number)."""
    values = figures(" ".join(_core(w) for w in run)).values
    if len(values) != 1 or not 3 <= (value := next(iter(values))) <= 999 or (len(run) == 1 and value == 10):
        return None
    return value


def _numeric(word: str) -> bool:
    """A word that makes a number with its neighbour: digits, a number word, a scale, a vague quantity."""
    core = _core(word)
    folded = normalize_arabic(core)
    return bool(core) and (core[0].isdigit() or _word_value(core) is not None or folded in _PLURAL_SCALES
                           or folded in _VAGUE)


def missing_numbers(claim: str, sentence: str, allowed: Iterable[float] = ()) -> list[float]:
    """Numbers the claim states that the sentence does not (numbers in `allowed`, e.g. the question's, pass)."""
    said = figures(sentence)
    known = set(said.values) | _atoms(sentence) | set(allowed)
    if any(w in _HALF for w in normalize_arabic(sentence).lower().replace("ونصف", " نصف").split()):
        known |= {v + 0.5 for v in known}  # "ثلاث سنوات ونصف" is 3.5 years, the noun between
    scaled = {round(v * s, 6) for v in known for s in (1_000, 1_000_000, 1_000_000_000)}
    claimed = figures(claim)
    missing = [v for v in claimed.values if v not in known and v not in scaled]
    missing += [-1.0 for v in claimed.vague if v not in said.vague and not known]
    return missing


# -- months ------------------------------------------------------------------------------------

_MONTH_WORDS = {normalize(name): month for month, names in _MONTH_NAMES.items() for name in names if len(name) > 3 or name == "may"}
_LATIN_MONTH_ONLY = {"may", "march"}  # also common words: only with a day or year next to them


def months(text: str) -> set[int]:
    """Months named in `text` (English and the three Arabic families)."""
    folded = normalize(text)
    found = set()
    for name, month in _MONTH_WORDS.items():
        pattern = rf"(?<!\w)(?:[وبل]?){re.escape(name)}(?!\w)"
        if name in _LATIN_MONTH_ONLY:
            pattern = rf"(?<!\w){name}\s+\d|\d\s+{name}(?!\w)|(?<!\w){name},?\s+(?:19|20)\d\d|\b(?:in|of|since|until|early|late|mid) {name}\b"
        if re.search(pattern, folded):
            found.add(month)
    return found


# -- polarity -----------------------------------------------------------------------------------

_EN_NEGATION = re.compile(
    r"\b(?:not|no|never|neither|nor|none|nobody|nothing|cannot|without|den(?:y|ies|ied)|refus(?:e|es|ed)|"
    r"reject(?:s|ed)?|declin(?:e|es|ed)|\w+n't)\b", re.IGNORECASE)
_AR_NEGATION = {"لم", "لن", "ليس", "ليست", "ليسوا", "لا", "نفى", "نفي", "ينفي", "نفت", "تنفي", "رفض", "رفضت", "يرفض",
                "ترفض", "عدم", "دون", "بدون"}
_AR_NOT_NEGATION = ("لا سيما", "لا يزال", "لا تزال", "لا يزالون", "لازال", "ما لا يقل", "لا يقل", "لا تقل")


def negated(text: str) -> bool:
    """Whether the text negates or denies (a rough, sentence-level reading, in English or Arabic)."""
    if _EN_NEGATION.search(text.replace("’", "'")):
        return True
    folded = normalize_arabic(text)
    for fixed in _AR_NOT_NEGATION:
        folded = folded.replace(normalize_arabic(fixed), " ")
    words = {w.lstrip("وف") if len(w) > 3 else w for w in folded.split()} | set(folded.split())
    return bool({normalize_arabic(w) for w in _AR_NEGATION} & words)


# -- direction: worst is not lowest -----------------------------------------------------------------

_EN_DIRECTION = {  # superlatives only: "rise", "increase", "more" have other senses too often
    "worse": ("worst",), "better": ("best",),
    "high": ("highest", "largest", "biggest", "greatest"),
    "low": ("lowest", "smallest", "fewest"),
}
_AR_DIRECTION = {
    "worse": ("أسوأ", "أسوء"), "better": ("أفضل", "أحسن"),
    "high": ("أعلى", "أكبر", "الأكثر", "ارتفاع", "ارتفع", "ارتفعت", "يرتفع", "ترتفع", "زيادة", "زاد", "زادت", "تزايد"),
    "low": ("أدنى", "أقل", "الأقل", "أصغر", "انخفاض", "انخفض", "انخفضت", "ينخفض", "تنخفض", "تراجع", "تراجعت", "نقص"),
}
_DIRECTION_WORDS = {**{w: d for d, ws in _EN_DIRECTION.items() for w in ws},
                    **{normalize_arabic(w): d for d, ws in _AR_DIRECTION.items() for w in ws}}
# a rendering's direction against the sentence's: "the lowest" where the sentence has only أسوأ (the worst) or
# أعلى (the highest). Without an opposite in the sentence nothing is judged: Arabic has many more superlatives
# (أطول، أوسع، أهم …) than are listed, and "the largest" may render any of them.
_OPPOSITE = {"low": {"high", "worse"}, "high": {"low", "better"}, "worse": {"better", "low"}, "better": {"worse"}}


def directions(text: str) -> set[str]:
    """Which way the text ranks something: worse / better / high / low (English superlatives; in Arabic also
    rise-or-fall words, which only ever allow a rendering's)."""
    words = re.findall(r"\w+", normalize_arabic(text).lower())
    return {_DIRECTION_WORDS[w] for w in (*words, *(w[1:] for w in words if w[:1] in "وف" and len(w) > 3))
            if w in _DIRECTION_WORDS}


def turned(rendering: str, sentence: str) -> bool:
    """The rendering says the other way from the sentence ("the lowest" for أسوأ, the worst)."""
    said = directions(sentence)
    return any(d not in said and _OPPOSITE[d] & said for d in directions(rendering))


# -- names ---------------------------------------------------------------------------------------

_ADJECTIVAL = ("ic", "ian", "ese", "ish")
NAME_SKELETON = 0.8  # a Latin name and an Arabic word this alike (rag.names.transliteration) are one name


def unwritten_names(claim: str, sentence: str, aliases: Callable[[str], list[str]]) -> list[str]:
    """Names of an English claim that the sentence does not write.

    A name counts when the alias index knows Arabic spellings for it (an unknown
    word cannot be judged); it is written in the sentence as one of them, as the
    same Latin word, or as an Arabic word with a close transliteration skeleton.
    """
    from rag.names.expansion import latin_names

    sentence_words = set(lexical_tokens(sentence))
    arabic_words = [w for phrase in arabic_phrases(sentence) for w in phrase]
    missing = []
    for name in latin_names(claim):
        if " " in name or name.lower().endswith(_ADJECTIVAL) or (name.isupper() and len(name) <= 3):
            # runs are judged word by word; "Islamic", "Syrian", "Turkish" describe, they do not name; "US",
            # "UN", "EU" are a translator's shorthand (for واشنطن, الأمم المتحدة, …)
            continue
        spelled = set(lexical_tokens(name))
        if spelled & sentence_words:
            continue
        skeleton = latin_skeleton(name)
        # only a name the alias index spells as a transliteration is judged: "Neymar" → نيمار is a name;
        # an alias that merely translates a capitalised word ("State", "Regarding") says nothing
        known = {a for a in set(aliases(name)) - spelled if skeleton_similarity(skeleton, arabic_skeleton(a)) >= NAME_SKELETON}
        if not known or known & sentence_words:
            continue
        if any(skeleton_similarity(skeleton, arabic_skeleton(w)) >= NAME_SKELETON for w in arabic_words):
            continue
        missing.append(name)
    return missing


# -- all together ----------------------------------------------------------------------------------


def unfaithful(claim: str, sentence: str, question: str = "",
               aliases: Callable[[str], list[str]] | None = None, context: str | None = None,
               ended: bool = False) -> str | None:
    """Why `claim` is not a faithful statement of `sentence` (None when it is).

    Numbers, months and names may also come from `context` (the sentence with its
    neighbours: "he" in the sentence, the name in the one before) and numbers and
    months from the question; the polarity is the sentence's own.
    """
    reason = cut_reason(claim, ended)
    if reason:
        return reason
    around = context or sentence
    asked = set(figures(question).values) | _atoms(question)
    if missing_numbers(claim, around, asked):
        return "numbers"
    if months(claim) - months(around) - months(question):
        return "months"
    if negated(claim) != negated(sentence):
        return "negation"
    if aliases is not None and unwritten_names(claim, around, aliases):
        return "names"
    return None


def dropped(rendering: str, sentence: str, names: Iterable[str] = ()) -> str | None:
    """What a rendering of a whole sentence left out (None when nothing): one of `names` — the Latin names the
    sentence was given to the translator with (rag.answer.translation.Glossary) — or one of its numbers. A
    claim may state part of a sentence; a rendering stands for all of it ("Raqqa is a target like Mosul"
    rendered without Mosul is another statement)."""
    words = [w.casefold() for w in re.findall(r"\w+", rendering)]
    for name in names:
        # one-word names only: "United States", "Islamic State" and their like have many renderings (US,
        # American, IS); and not adjectives ("Syrian", "American") or acronyms. Raqqa's and Raqqa are one.
        if " " in name or name.lower().endswith((*_ADJECTIVAL, "can")) or (name.isupper() and len(name) <= 3):
            continue
        stem = name.casefold()[:5]
        if not any(w.startswith(stem) for w in words):
            return "names"
    if turned(rendering, sentence):
        return "direction"
    if missing_numbers(sentence, rendering):  # the sentence's numbers ("dozens" too) that the rendering does not state
        return "numbers"
    return None
