"""`from rag.langchain import RagRetriever` (the documented import): the LangChain surface lives in
`rag.surfaces.langchain`."""

from rag.surfaces.langchain import AnswerRunnable, RagRetriever

__all__ = ["AnswerRunnable", "RagRetriever"]
