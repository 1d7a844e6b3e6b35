"""What the answer says to the user besides the articles' own words, in the languages answers come in.

`message(kind, language)` falls back to English for a language without its own sentence.
"""

from __future__ import annotations

MESSAGES = {
    "abstain": {
        "en": "The indexed articles do not cover this question.",
        "ar": "لا تغطي المقالات المفهرسة هذا السؤال.",
        "fr": "Les articles indexés ne traitent pas cette question.",
    },
    "extractive": {
        "en": "The sources say:",
        "ar": "ورد في المصادر:",
        "fr": "Les sources indiquent :",
    },
    "untranslated": {
        "en": "The sources say (quoted in their own language; no language model is configured to render them):",
        "ar": "ورد في المصادر (بلغتها الأصلية؛ لا يوجد نموذج لغوي لترجمتها):",
        "fr": "Les sources indiquent (dans leur langue; aucun modèle n'est configuré pour les traduire) :",
    },
    "translation": {"en": "machine translation", "ar": "ترجمة آلية", "fr": "traduction automatique"},
    "rendered": {
        "en": "What the articles say (machine translation of the cited sentences):",
        "ar": "ما تقوله المقالات (ترجمة آلية للجمل المقتبسة):",
        "fr": "Ce que disent les articles (traduction automatique des phrases citées) :",
    },
    "unrendered": {
        "en": "The sources say (quoted in their own language: the machine translation changed or left out a name, number, date or negation, so it is not shown):",
        "ar": "ورد في المصادر (بلغتها الأصلية: غيّرت الترجمة الآلية اسما أو رقما أو تاريخا أو نفيا أو أسقطته فلم تُعرض):",
        "fr": "Les sources indiquent (dans leur langue : la traduction automatique changeait ou omettait un nom, un nombre, une date ou une négation) :",
    },
    "compare": {
        "en": "How {n} outlets reported it (each in its own words, earliest first):",
        "ar": "كيف نقلت {n} وسائل إعلام الخبر (كل منها بكلماتها، الأقدم أولا):",
        "fr": "Comment {n} médias l'ont rapporté (chacun dans ses mots, le plus ancien d'abord) :",
    },
    "different_words": {
        "en": "Outlets quote {speaker} in different words: {a} ({a_date}): “{a_words}”; {b} ({b_date}): “{b_words}”.",
        "ar": "تنسب وسائل الإعلام إلى {speaker} كلمات مختلفة: {a} ({a_date}): «{a_words}»؛ {b} ({b_date}): «{b_words}».",
        "fr": "Les médias citent {speaker} avec des mots différents : {a} ({a_date}) : « {a_words} » ; {b} ({b_date}) : « {b_words} ».",
    },
    "figures_agree": {
        "en": "They give the same figures: {items}.",
        "ar": "تتفق في الأرقام: {items}.",
        "fr": "Ils donnent les mêmes chiffres : {items}.",
    },
    "figures_differ": {
        "en": "Their figures differ: {items}.",
        "ar": "تختلف في الأرقام: {items}.",
        "fr": "Leurs chiffres diffèrent : {items}.",
    },
    "compare_span": {
        "en": "First reported by {first} on {first_date}; the latest of these is {last}, {last_date}.",
        "ar": "أول من نقله {first} في {first_date}؛ وآخرها {last} في {last_date}.",
        "fr": "Rapporté d'abord par {first} le {first_date}; le plus récent : {last}, {last_date}.",
    },
}


def message(kind: str, language: str) -> str:
    return MESSAGES[kind].get(language, MESSAGES[kind]["en"])
