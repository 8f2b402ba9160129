"""A minimal approvals service on 127.0.0.1 and a free port, speaking the documented protocol
(docs/approvals.md): it stores requests and decisions, and records webhook posts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Store:
    requests: dict[str, Any] = field(default_factory=dict)
    decisions: dict[str, list[Any]] = field(default_factory=dict)
    outcomes: dict[str, Any] = field(default_factory=dict)
    webhook: list[Any] = field(default_factory=list)
    token: str = "service-token-7f3a"
    authorised: list[bool] = field(default_factory=list)
    webhook_authorisation: list[str | None] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    store: Store

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts == ["requests"]:
            pending = [r for k, r in self.store.requests.items() if k not in self.store.outcomes]
            return self._json(200, pending)
        if len(parts) == 2 and parts[1] in self.store.requests:
            return self._json(200, self.store.requests[parts[1]])
        if len(parts) == 3 and parts[2] == "decisions" and parts[1] in self.store.requests:
            return self._json(200, self.store.decisions.get(parts[1], []))
        return self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        parts = self.path.strip("/").split("/")
        bearer = self.headers.get("Authorization") == f"Bearer {self.store.token}"
        if parts == ["webhook"]:
            self.store.webhook_authorisation.append(self.headers.get("Authorization"))
            self.store.webhook.append(body)
            return self._json(200, None, raw=b"ok")
        self.store.authorised.append(bearer)
        if parts == ["requests"]:
            self.store.requests[body["id"]] = body
            return self._json(201, {"ok": True})
        if len(parts) == 3 and parts[1] in self.store.requests:
            if parts[2] == "decisions":
                self.store.decisions.setdefault(parts[1], []).append(body)
                return self._json(201, {"ok": True})
            if parts[2] == "outcome":
                self.store.outcomes[parts[1]] = body
                return self._json(201, {"ok": True})
        return self._json(404, {"error": "not found"})

    def _json(self, code: int, value: Any, *, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(value).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class Service:
    url: str
    store: Store


@pytest.fixture
def approvals_service() -> Iterator[Service]:
    store = Store()
    handler = type("Handler", (_Handler,), {"store": store})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Service(url=f"http://127.0.0.1:{server.server_address[1]}", store=store)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
