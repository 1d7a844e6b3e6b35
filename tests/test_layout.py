"""The package's shape, checked: the documented imports work, layers import without cycles, and no function
or class outgrows what a reader can hold (the limits issue 20 set: 60 and 250 lines)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rag"
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 250


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def test_documented_imports_work():
    """Every `from rag… import …` line in the README and docs imports."""
    lines = set()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        lines.update(re.findall(r"^\s*(from rag[\w.]* import [\w, ]+)", doc.read_text(encoding="utf-8"), flags=re.M))
    assert lines, "the README shows library imports"
    for line in sorted(lines):
        exec(line.strip(), {})  # noqa: S102  (our own docs)


def test_every_module_imports():
    for name in _modules():
        if name != "rag.__main__":
            importlib.import_module(name)


def _module_imports(tree: ast.Module, modules: set[str]) -> set[str]:
    deps = set()
    for node in tree.body:  # module level only: imports inside functions are deliberate late binding
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rag"):
            deps.add(node.module)
            deps.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            deps.update(alias.name for alias in node.names if alias.name.startswith("rag"))
    return {d for d in deps if d in modules and d != "rag"}


def test_no_module_level_import_cycle():
    trees = _modules()
    graph = {name: _module_imports(tree, set(trees)) - {name} for name, tree in trees.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                pytest.fail("import cycle: " + " → ".join(stack[stack.index(dep):] + [dep]))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_functions_and_classes_stay_readable():
    too_long = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            lines = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and lines > MAX_FUNCTION_LINES:
                too_long.append(f"{name}.{node.name}: function of {lines} lines")
            if isinstance(node, ast.ClassDef) and lines > MAX_CLASS_LINES:
                too_long.append(f"{name}.{node.name}: class of {lines} lines")
    assert not too_long, too_long


def test_layers_are_packages():
    """The layout docs/architecture.md describes: one package per layer, no module left flat by accident."""
    flat = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__", "__main__", "article", "config", "errors", "evaluation", "langchain", "language",
                    "registry", "retrieval", "service", "validation"]
    for layer in ("ingest", "news", "names", "models", "index", "answer", "surfaces", "live"):
        assert (PACKAGE / layer / "__init__.py").exists(), layer


def test_the_architecture_map_names_every_module():
    """docs/architecture.md is the newcomer's map: a row for every module of rag/ (package __init__s aside)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [str(path.relative_to(ROOT)) for path in sorted(PACKAGE.rglob("*.py"))
               if path.name not in ("__init__.py", "__main__.py") and f"`{path.relative_to(ROOT)}`" not in text]
    assert not missing, f"add a row to docs/architecture.md for {missing}"
