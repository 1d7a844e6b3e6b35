"""Answers: `engine` (the conductor), `quote_first` and `synthesis` (the two answer policies), `comparison`
(outlets side by side), `grounded`, `facts`, `answerability`, `claims`, `translation`, `messages`, `render`.

`from rag.answer import open_answer_engine, AnswerEngine, Answer, Citation` keeps working: those names load
the engine on first use (so `rag.answer.facts` alone stays light).
"""

from __future__ import annotations

from typing import Any

_ENGINE_NAMES = {"open_answer_engine", "AnswerEngine", "Answer", "Citation", "Event", "CROSS_LANGUAGE_OFFSET"}
__all__ = sorted(_ENGINE_NAMES)


def __getattr__(name: str) -> Any:
    if name in _ENGINE_NAMES:
        from rag.answer import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'rag.answer' has no attribute {name!r}")
