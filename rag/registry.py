"""Registries of pluggable parts: embedders, LLM backends, corpus readers.

The built-ins register themselves the same way a third-party package does (the
way `llm` plugins work): a factory under a name. Third-party packages advertise
theirs as entry points, loaded on first lookup::

    [project.entry-points."rag.embedders"]
    mymodel = "my_package:make_embedder"      # embedder = "mymodel" or "mymodel:ARG"

    [project.entry-points."rag.llms"]
    mybackend = "my_package:make_chat_model"  # llm = "mybackend"; factory(settings) -> BaseChatModel

    [project.entry-points."rag.readers"]
    html = "my_package:read_html"             # suffixes ".html", ".htm"; reader(base, path, detector)

Tests register fakes with `register(...)` and remove them with `unregister(...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Registry(Generic[F]):
    """Factories by name; entry points of `group` are added the first time one is looked up."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._factories: dict[str, F] = {}
        self._loaded = False

    def register(self, name: str, factory: F, *aliases: str) -> F:
        for key in (name, *aliases):
            self._factories[key] = factory
        return factory

    def unregister(self, name: str) -> None:
        self._factories.pop(name, None)

    def _load_plugins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for entry in entry_points(group=self.group):
            if entry.name not in self._factories:
                try:
                    self._factories[entry.name] = entry.load()
                except Exception as exc:  # a broken plugin must not take the built-ins down
                    from rag.errors import ConfigError

                    raise ConfigError(f"{self.kind} plugin {entry.name!r} ({entry.value}) cannot be loaded: {exc}") from None

    def get(self, name: str) -> F | None:
        if name not in self._factories:
            self._load_plugins()
        return self._factories.get(name)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._factories)


#: name → factory(argument: str | None, threads: int, device: str | None) -> Embedder
EMBEDDERS: Registry[Callable[..., Any]] = Registry("rag.embedders", "embedder")
#: name → factory(settings) -> BaseChatModel | None
LLMS: Registry[Callable[..., Any]] = Registry("rag.llms", "llm")
#: file suffix (".html") → reader(base: Path, path: Path, detector) -> list[Article | CorpusError]
READERS: Registry[Callable[..., Any]] = Registry("rag.readers", "corpus reader")
