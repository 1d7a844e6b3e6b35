"""Who may talk to an HTTP surface (`rag serve`, `rag mcp --http`): one policy for both.

- **Bind**: a non-loopback address without an API key is refused unless the operator says `--insecure`
  (`check_bind`): an unauthenticated archive on a network is never an accident.
- **Host header** (`HostGuard`): a server on a loopback address answers only requests whose `Host` is a
  loopback name (or a name the operator allowed). Without this, any web page can read a keyless local
  server through DNS rebinding. Refused with 421, as the MCP SDK does.
- **Bearer key** (`BearerGuard`, for the MCP app; `rag serve` checks it per router): every request but
  the public paths needs `Authorization: Bearer $RAG_API_KEY` when a key is set.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterable
from typing import Any

from rag.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None, insecure: bool, command: str) -> None:
    """Refuse to serve an archive on a network address without a key, unless told `--insecure`."""
    if is_loopback(host) or api_key or insecure:
        return
    raise ConfigError(
        f"{command}: refusing to listen on {host or '0.0.0.0'} without an API key; set RAG_API_KEY (clients then send "
        f"'Authorization: Bearer <key>'), or pass --insecure to serve it to the network unauthenticated"
    )


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """Host names a server bound to `bind_host` answers to; None means any (a network bind, which needs a key)."""
    names = {name.strip().lower().strip("[]") for name in extra if name.strip()}
    if "*" in names:
        return None
    if bind_host.strip("[]") in WILDCARDS or not is_loopback(bind_host):
        return None if not names else frozenset(names | {bind_host.strip("[]").lower()} | LOOPBACK_NAMES)
    return frozenset(names | LOOPBACK_NAMES | {bind_host.strip("[]").lower()})


def host_name(header: str) -> str:
    """The name part of a Host header: `example.org:8000` → example.org, `[::1]:8000` → ::1."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


async def _send_json(send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": payload})


class HostGuard:
    """Plain ASGI middleware: a request whose Host is not an allowed name gets 421 (DNS rebinding)."""

    def __init__(self, app: Any, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and self.hosts is not None:
            header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(header) not in self.hosts:
                message = (f"Host {header!r} is not served here (DNS-rebinding guard); allowed: "
                           f"{', '.join(sorted(self.hosts))}; add the name to allowed_hosts (RAG_ALLOWED_HOSTS)")
                await _send_json(send, 421, error_body(scope, 421, message))
                return
        await self.app(scope, receive, send)


def error_body(scope: Any, status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error object under /v1/ (`code` a string, `param`), FastAPI's `{"detail"}` elsewhere."""
    if str(scope.get("path", "")).startswith("/v1/"):
        return {"error": openai_error(status, message, param)}
    return {"detail": message}


_OPENAI_TYPES = {400: ("invalid_request_error", "invalid_request"), 401: ("invalid_request_error", "invalid_api_key"),
                 404: ("invalid_request_error", "not_found"), 413: ("invalid_request_error", "request_too_large"),
                 421: ("invalid_request_error", "misdirected_request"), 422: ("invalid_request_error", "invalid_value")}


def openai_error(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """An error in `openai.types.shared.ErrorObject`'s shape: message, type, param, code (a string)."""
    kind, default_code = _OPENAI_TYPES.get(status, ("server_error", "server_error"))
    return {"message": message, "type": kind, "param": param, "code": code or default_code}


def bearer_ok(headers: dict[bytes, bytes], api_key: str | None) -> bool:
    if not api_key:
        return True
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(token.strip().encode(), api_key.encode())


class BearerGuard:
    """Plain ASGI middleware: every request needs the bearer key when one is set (401 otherwise)."""

    def __init__(self, app: Any, api_key: str | None, public: Iterable[str] = ()) -> None:
        self.app = app
        self.api_key = api_key
        self.public = frozenset(public)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") not in self.public:
            if not bearer_ok(dict(scope.get("headers") or []), self.api_key):
                await _send_json(send, 401, {"error": "missing or wrong bearer token (RAG_API_KEY is set); send "
                                                      "'Authorization: Bearer <key>'"},
                                 [(b"www-authenticate", b"Bearer")])
                return
        await self.app(scope, receive, send)
