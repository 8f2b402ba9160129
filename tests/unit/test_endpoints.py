"""One opener for every HTTP call hgate makes: no redirects, and loopback never proxied."""

from __future__ import annotations

import threading
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hgate import endpoints


class _Server:
    """A real HTTP server on 127.0.0.1: answers `status` and records the paths asked."""

    def __init__(self, status: int, location: str = "") -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[_Server, _Server]]:
    target, proxy = _Server(200), _Server(502)
    try:
        yield target, proxy
    finally:
        target.close()
        proxy.close()


def test_loopback_requests_ignore_http_proxy(
    servers: tuple[_Server, _Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain http is allowed only to this machine; a proxy would take it (and could answer
    it) from another host: sinks, approvals and identity fetches all go direct."""
    target, proxy = servers
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy.url)
    endpoints._opener.cache_clear()
    try:
        with endpoints.opener_for(f"{target.url}/segment").open(
            f"{target.url}/segment", timeout=5
        ) as response:
            assert response.status == 200
    finally:
        endpoints._opener.cache_clear()
    assert target.paths == ["/segment"] and proxy.paths == []


def test_redirects_are_not_followed(servers: tuple[_Server, _Server]) -> None:
    target, _ = servers
    mover = _Server(302, location=f"{target.url}/elsewhere")
    try:
        with pytest.raises(urllib.error.HTTPError) as raised:
            endpoints.opener_for(mover.url).open(f"{mover.url}/post", timeout=5)
        raised.value.close()
        assert raised.value.code == 302 and target.paths == []
    finally:
        mover.close()
