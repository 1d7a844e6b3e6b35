"""Property-based requests against the API schema: whatever the body, never a 500.

(The schemathesis idea with hypothesis directly: random JSON for every POST
endpoint, random query strings for the GETs.)
"""

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from test_server import make_app, stack  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 200), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=60))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
fields = st.sampled_from(["query", "question", "k", "outlet", "since", "until", "lang", "per_article", "history", "stream",
                          "messages", "model", "role", "content"])
bodies = st.one_of(values, st.dictionaries(fields, values, max_size=5))


@pytest.fixture(scope="module")
def client(stack):  # noqa: F811
    app = make_app(stack, ["NOT_FOUND"] * 1000)
    app.state.engine.llm = FakeListChatModel(responses=["NOT_FOUND"])
    client = TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1")  # a loopback Host
    assert client.get("/api/status").status_code == 200  # the fuzzing reaches the endpoints (not a 421 for every call)
    return client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/api/search", "/api/ask", "/v1/chat/completions"]), body=bodies)
def test_post_endpoints_never_500(client, path, body):
    response = client.post(path, json=body)
    assert response.status_code < 500, (path, body, response.text[:300])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/api/status", "/v1/models", "/healthz", "/", "/openapi.json"]), junk=st.text(max_size=20))
def test_get_endpoints_never_500(client, path, junk):
    assert client.get(path, params={"x": junk}).status_code < 500
