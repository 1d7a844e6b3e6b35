"""What clients written by others expect of `rag serve`: the Host check, the key on everything but the page shell,
OpenAI's own types for every /v1 response, chunk and error, and 4xx (never a 500) for bad input."""

import json

import httpx
import pytest

from rag.surfaces.server import strip_evidence
from test_server import REFUSAL, Server, claims, make_app, sana_number, sse_events, stack  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow
QUESTION = "ماذا قال لافروف عن الرقة؟"
BAD_DATES = ["2016-13", "2016-00", "0000", "9999-13"]


def chat(question=QUESTION, **extra):
    return {"model": "rag", "messages": [{"role": "user", "content": question}], **extra}


def openai_error(response):
    from openai.types.shared import ErrorObject

    assert response.status_code >= 400
    return ErrorObject.model_validate(response.json()["error"], strict=True)


def stream_data(body: str) -> list:
    return [line[6:] for line in body.splitlines() if line.startswith("data: ")]


def test_dns_rebinding_a_foreign_host_is_refused(stack):
    with Server(make_app(stack, [REFUSAL])) as base:
        assert httpx.get(f"{base}/api/status").status_code == 200
        assert httpx.get(f"{base}/api/status", headers={"Host": "localhost"}).status_code == 200
        evil = httpx.get(f"{base}/api/status", headers={"Host": "evil.example:8000"})
        assert evil.status_code == 421 and "allowed_hosts" in evil.text
        assert httpx.get(f"{base}/", headers={"Host": "evil.example"}).status_code == 421
    with Server(make_app(stack, [REFUSAL], allowed_hosts=["news.example"])) as base:
        assert httpx.get(f"{base}/api/status", headers={"Host": "news.example"}).status_code == 200


def test_with_a_key_only_the_page_shell_and_health_are_public(stack):
    with Server(make_app(stack, [REFUSAL], api_key="s3cret")) as base:
        assert httpx.get(f"{base}/").status_code == 200 and 'id="keyform"' in httpx.get(f"{base}/").text
        assert httpx.get(f"{base}/healthz").status_code == 200
        for path in ("/openapi.json", "/docs", "/api/status", "/api/articles", "/v1/models", "/v1/models/rag"):
            assert httpx.get(f"{base}{path}").status_code == 401, path
        error = openai_error(httpx.get(f"{base}/v1/models"))
        assert error.code == "invalid_api_key"
        schema = httpx.get(f"{base}/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        assert "/v1/chat/completions" in schema["paths"]


def test_invalid_dates_are_422_naming_the_field_everywhere(stack):
    with Server(make_app(stack, [REFUSAL])) as base:
        for value in BAD_DATES:
            for field in ("since", "until"):
                r = httpx.post(f"{base}/api/search", json={"query": "الرقة", field: value})
                assert r.status_code == 422 and field in r.json()["detail"], (value, r.text)
                r = httpx.post(f"{base}/api/ask", json={"question": "الرقة", field: value, "stream": True})
                assert r.status_code == 422, r.text
                r = httpx.get(f"{base}/api/articles", params={field: value})
                assert r.status_code == 422, r.text
                r = httpx.post(f"{base}/v1/chat/completions", json=chat(**{field: value, "stream": True}))
                assert r.status_code == 422 and openai_error(r).param == field


def test_lone_surrogates_and_form_bodies(stack):
    with Server(make_app(stack, [REFUSAL])) as base:
        for path, body in (("/api/search", '{"query": "\\ud800"}'), ("/api/ask", '{"question": "x\\udfff"}'),
                           ("/v1/chat/completions", '{"model": "rag", "messages": [{"role": "user", "content": "\\ud800"}]}')):
            r = httpx.post(f"{base}{path}", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 422 and "surrogate" in r.text, (path, r.text)
        # curl -d sends form encoding: the body is still read as JSON
        r = httpx.post(f"{base}/api/search", content='{"query": "الرقة", "k": 1}'.encode(),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200 and len(r.json()["hits"]) == 1
        r = httpx.post(f"{base}/api/search", content=b"query=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 422 and "not valid JSON" in r.text
        # the connection stays usable after each refusal (a pooled client is not reset)
        with httpx.Client() as client:
            for _ in range(3):
                assert client.post(f"{base}/api/search", json={"query": "x", "since": "0000"}).status_code == 422
            assert client.get(f"{base}/healthz").status_code == 200


def test_body_limit_keeps_cors_headers(stack):
    with Server(make_app(stack, [REFUSAL], cors_origins=["https://ui.example"])) as base:
        r = httpx.post(f"{base}/v1/chat/completions", content=b"{" + b" " * 300_000 + b"}",
                       headers={"Content-Type": "application/json", "Origin": "https://ui.example"})
        assert r.status_code == 413 and r.headers["access-control-allow-origin"] == "https://ui.example"
        assert openai_error(r).code == "request_too_large"


def test_openai_models_and_refused_fields(stack):
    from openai.types import Model

    with Server(make_app(stack, [REFUSAL])) as base:
        assert Model.model_validate(httpx.get(f"{base}/v1/models/rag").json(), strict=True).id == "rag"
        missing = httpx.get(f"{base}/v1/models/gpt-4o")
        assert missing.status_code == 404 and openai_error(missing).code == "model_not_found"
        r = httpx.post(f"{base}/v1/chat/completions", json={**chat(), "model": "gpt-4o"})
        assert r.status_code == 404 and openai_error(r).param == "model"
        for field, value in (("tools", [{"type": "function", "function": {"name": "f"}}]),
                             ("response_format", {"type": "json_object"}), ("logprobs", True), ("stop", list("abcde"))):
            r = httpx.post(f"{base}/v1/chat/completions", json=chat(**{field: value}))
            assert r.status_code == 400 and openai_error(r).param == field, field
        r = httpx.post(f"{base}/v1/chat/completions", json=chat(outlet="no such outlet", stream=True))
        assert r.status_code == 422 and openai_error(r).param == "outlet"  # before the stream, not inside it
        r = httpx.post(f"{base}/api/ask", json={"question": QUESTION, "outlet": "no such outlet", "stream": True})
        assert r.status_code == 422
        r = httpx.post(f"{base}/v1/chat/completions", json=chat(max_completion_tokens=10**6))
        assert r.status_code == 400 and openai_error(r).param == "max_completion_tokens"
        r = httpx.post(f"{base}/v1/chat/completions", json=chat(temperature=5))
        assert r.status_code == 422 and openai_error(r).param == "temperature"


def test_every_v1_response_parses_with_the_sdk_types(stack):
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    with Server(make_app(stack, [REFUSAL])) as base:
        n = sana_number(base)
    with Server(make_app(stack, [claims(n)] * 8)) as base:
        data = httpx.post(f"{base}/v1/chat/completions", json=chat(max_completion_tokens=200), timeout=60).json()
        reply = ChatCompletion.model_validate(data, strict=True)
        annotations = reply.choices[0].message.annotations
        assert annotations and annotations[0].type == "url_citation"
        cited = annotations[0].url_citation
        assert reply.choices[0].message.content[cited.start_index:cited.end_index] == f"[{n}]"
        for extra in ({"stream_options": {"include_usage": True}}, {"compare_outlets": True, "stream_options": {"include_usage": True}},
                      {"evidence": False}):
            body = httpx.post(f"{base}/v1/chat/completions", json=chat(stream=True, **extra), timeout=60).text
            payloads = stream_data(body)
            assert payloads[-1] == "[DONE]", extra
            chunks = [ChatCompletionChunk.model_validate(json.loads(p), strict=True) for p in payloads[:-1]]
            if "stream_options" in extra:
                assert chunks[-1].choices == [] and chunks[-1].usage is not None, extra
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            if extra.get("evidence") is False:
                assert not text.startswith("Best match") and "Passages:" not in text
        compared = httpx.post(f"{base}/v1/chat/completions", json=chat(compare_outlets=True), timeout=60).json()
        ChatCompletion.model_validate(compared, strict=True)


def test_a_failure_mid_stream_ends_with_an_error_event_and_the_terminator(stack):
    class Broken(Exception):
        pass

    app = make_app(stack, [REFUSAL])
    engine = app.state.engine

    def broken_stream(*args, **kwargs):
        yield from ()
        raise Broken("boom")

    engine.stream = broken_stream
    with Server(app) as base:
        body = httpx.post(f"{base}/v1/chat/completions", json=chat(stream=True), timeout=30).text
        payloads = stream_data(body)
        assert payloads[-1] == "[DONE]"
        assert "error" in json.loads(payloads[-2]) and "boom" not in body  # no internals leak
        events = sse_events(httpx.post(f"{base}/api/ask", json={"question": QUESTION, "stream": True}, timeout=30).text)
        assert events[-1][0] == "error"


def test_streamed_evidence_is_stripped_from_history():
    streamed = "Best match [1] SANA: “قال”\nPassages:\n[1] SANA — T (2016) https://x\n\nلافروف قال [1].\n\nSources:\n[1] SANA — T"
    assert strip_evidence(streamed) == "لافروف قال [1]."
    assert strip_evidence("plain answer") == "plain answer"
