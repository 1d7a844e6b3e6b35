"""LangChain's own standard test suites (langchain-tests), run against our surfaces:

- `RetrieversIntegrationTests` for `rag.surfaces.langchain.RagRetriever` (over an index built with the hash embedder);
- `ChatModelIntegrationTests` for langchain-openai's `ChatOpenAI` pointed at a real `rag serve` (extractive
  answers, no LLM). Features the server does not offer are switched off through the suite's own flags.
"""

import pytest

pytest.importorskip("langchain_tests", reason="langchain-tests is not installed: pip install '.[test]'")
pytest.importorskip("langchain_openai", reason="langchain-openai is not installed: pip install '.[test]'")

from langchain_openai import ChatOpenAI  # noqa: E402
from langchain_tests.integration_tests import ChatModelIntegrationTests, RetrieversIntegrationTests  # noqa: E402

from rag.answer.engine import AnswerEngine  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.models.embeddings import load_embedder  # noqa: E402
from rag.index.writer import IndexWriter  # noqa: E402
from rag.surfaces.langchain import RagRetriever  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402
from rag.surfaces.server import create_app  # noqa: E402
from rag.index.store import IndexStore  # noqa: E402

from helpers import write_article  # noqa: E402
from test_server import Server  # noqa: E402

STATE: dict = {}


@pytest.fixture(scope="module", autouse=True)
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("standard")
    corpus = root / "corpus"
    for n, (outlet, text) in enumerate([
        ("SANA", "قال وزير الخارجية الروسي سيرغي لافروف إن معركة الرقة ستبدأ قريبا. وأضاف أن التنسيق مع واشنطن ضروري."),
        ("Al Jazeera", "التقى وزير الخارجية الأمريكي جون كيري نظيره الروسي لافروف في جنيف لبحث وقف إطلاق النار في سوريا."),
        ("Al Jazeera", "ارتفعت أسعار النفط في الأسواق العالمية اليوم بعد قرار أوبك خفض الإنتاج."),
        ("RT Arabic", "Hello! Lavrov said in Moscow that the talks on Syria would continue next week."),
    ]):
        write_article(corpus, f"{n}.md", f"خبر {n}", text, outlet=outlet, date=f"2016-03-0{n + 1}", url=f"https://example.org/{n}")
    IndexWriter(root / "index", load_embedder("hash:64"), 200, 40).update(corpus)
    settings = Settings(index_dir=root / "index", embedder="hash:64", llm="extractive", k=4)
    STATE["settings"] = settings
    embedder = load_embedder("hash:64")
    engine = AnswerEngine(Retriever(IndexStore.open(root / "index"), embedder), None, settings)
    with Server(create_app(settings, engine)) as base:
        STATE["base"] = base
        yield


def _retriever(**fields):
    return RagRetriever.from_settings(STATE["settings"], **fields)


class TestRagRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self):
        return _retriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "ماذا قال لافروف عن سوريا؟"


class TestChatOpenAIAgainstRagServe(ChatModelIntegrationTests):
    @property
    def chat_model_class(self):
        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict:
        return {"model": "rag", "base_url": f"{STATE['base']}/v1", "api_key": "unused", "max_retries": 0,
                "stream_usage": True}

    @property
    def model_override_value(self) -> str:
        return "rag:compare"

    # what a cited-answer backend does not offer, switched off through the suite's own flags
    has_tool_calling = property(lambda self: False)
    has_tool_choice = property(lambda self: False)
    has_structured_output = property(lambda self: False)
    supports_json_mode = property(lambda self: False)
    supports_image_inputs = property(lambda self: False)
    supports_image_urls = property(lambda self: False)
    supports_pdf_inputs = property(lambda self: False)
    supports_audio_inputs = property(lambda self: False)
    supports_video_inputs = property(lambda self: False)
    supports_anthropic_inputs = property(lambda self: False)
    supports_image_tool_message = property(lambda self: False)
    supports_pdf_tool_message = property(lambda self: False)
