"""The index as a LangChain retriever (fast: hashed-token embedder)."""

import asyncio

import pytest
from langchain_core.documents import Document

from rag.errors import RagError
from rag.surfaces.langchain import RagRetriever
from rag.retrieval import Retriever
from rag.index.writer import IndexWriter
from rag.index.store import IndexStore


@pytest.fixture
def retriever(news_corpus, tmp_path, embedder):
    IndexWriter(tmp_path / "idx", embedder, 60, 10).update(news_corpus)
    return Retriever(IndexStore.open(tmp_path / "idx"), embedder)


def test_invoke_batch_and_ainvoke_return_cited_documents(retriever):
    rag = RagRetriever.from_retriever(retriever, k=2)
    docs = rag.invoke("معركة الرقة لافروف")
    assert docs and isinstance(docs[0], Document) and len(docs) <= 2
    meta = docs[0].metadata
    assert meta["outlet"] == "SANA" and meta["date"] == "2016-03-01" and meta["url"] == "https://example.org/a"
    assert {"article_id", "title", "chunk_id", "score", "source_path", "story_id", "also_reported_by"} <= set(meta) and "الرقة" in docs[0].page_content
    assert rag.invoke("ماذا قال لافروف عن الرقة؟")[0].metadata["quote_type"] == "reported"
    assert [d[0].metadata["article_id"] for d in rag.batch(["معركة الرقة", "أسعار النفط"])] == ["a", "sub/c"]
    assert asyncio.run(rag.ainvoke("أسعار النفط"))[0].metadata["article_id"] == "sub/c"


def test_filters_are_fields(retriever):
    only = RagRetriever.from_retriever(retriever, k=5, outlet="Al Jazeera", since="2017-01-01")
    assert {d.metadata["article_id"] for d in only.invoke("الرقة النفط جنيف")} == {"sub/c"}
    with pytest.raises(RagError, match="since"):
        RagRetriever.from_retriever(retriever, since="soon").invoke("x")


def test_answer_engine_as_a_runnable(retriever):
    from rag.answer.engine import AnswerEngine
    from rag.config import Settings

    runnable = AnswerEngine(retriever, None, Settings(k=3)).as_runnable()
    by_question = runnable.invoke("معركة الرقة لافروف")
    assert set(by_question) >= {"answer", "citations", "abstained", "claims"}
    by_messages = runnable.invoke([{"role": "user", "content": "معركة الرقة لافروف"}])
    assert by_messages["answer"] == by_question["answer"]
    kinds = [chunk["type"] for chunk in runnable.stream({"question": "معركة الرقة لافروف"})]
    assert kinds[0] == "sources" and kinds[-1] == "answer"
    with pytest.raises(RagError, match="last message"):
        runnable.invoke([{"role": "assistant", "content": "hi"}])


def test_per_call_options_override_the_fields(retriever):
    rag = RagRetriever.from_retriever(retriever, k=3)
    assert len(rag.invoke("الرقة النفط جنيف", k=1)) == 1
    assert {d.metadata["article_id"] for d in rag.invoke("الرقة النفط جنيف", outlet="SANA")} == {"a"}
    assert len(asyncio.run(rag.ainvoke("الرقة النفط جنيف", k=2))) == 2
    with pytest.raises(RagError, match="unknown search option"):
        rag.invoke("x", depth=3)
    with pytest.raises(RagError, match="k must be"):
        rag.invoke("x", k=0)


def test_the_runnable_streams_events_async_too_and_reports_to_callbacks(retriever):
    from langchain_core.callbacks import BaseCallbackHandler

    from rag.answer.engine import AnswerEngine
    from rag.config import Settings

    class Recorder(BaseCallbackHandler):
        def __init__(self):
            self.started, self.ended = [], []

        def on_chain_start(self, serialized, inputs, **kwargs):
            self.started.append(inputs)

        def on_chain_end(self, outputs, **kwargs):
            self.ended.append(outputs)

    runnable = AnswerEngine(retriever, None, Settings(k=3)).as_runnable()
    recorder = Recorder()
    answer = runnable.invoke("معركة الرقة لافروف", config={"callbacks": [recorder]})
    assert recorder.started and recorder.ended and recorder.ended[-1]["answer"] == answer["answer"]

    async def collect():
        return [event async for event in runnable.astream("معركة الرقة لافروف", config={"callbacks": [recorder]})]

    events = asyncio.run(collect())
    kinds = [event["type"] for event in events]
    assert kinds[0] == "sources" and kinds[-1] == "answer" and len(kinds) >= 2
    assert events[-1]["answer"] == answer["answer"] and len(recorder.started) == 2
