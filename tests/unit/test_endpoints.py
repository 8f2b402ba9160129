"""One opener for every HTTP call hgate makes: no redirects, and loopback never proxied."""

from __future__ import annotations

import ssl
import threading
import time
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hgate import endpoints
from hgate.errors import IdentityError
from hgate.identity.http import fetch_json
from tests.fixtures.tls_certs import make_authority, make_server_cert
from tests.integration.sinks.trickle import trickling


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


@pytest.mark.parametrize("mode", ["headers", "body", "chunked"])
def test_within_ends_a_trickling_exchange(mode: str) -> None:
    """urllib's timeout is per read: each byte arrives in time, the request never ends."""
    with trickling(mode) as server:
        started = time.monotonic()
        with pytest.raises(endpoints.DeadlineExceeded), endpoints.within(1.0) as per_read:
            opener = endpoints.opener_for(server.url)
            with opener.open(f"{server.url}/x", timeout=per_read) as response:
                response.read()
        took = time.monotonic() - started
    assert took < 3.0, f"the exchange took {took:.1f}s with a 1s deadline"


def test_within_leaves_a_prompt_exchange_and_other_threads_alone(
    servers: tuple[_Server, _Server],
) -> None:
    """Only sockets this thread opens inside the block are watched."""
    target, _ = servers
    answers: list[bytes] = []

    def other() -> None:
        time.sleep(0.5)
        with endpoints.opener_for(target.url).open(f"{target.url}/other", timeout=5) as answer:
            answers.append(answer.read())

    with trickling("headers") as server:
        thread = threading.Thread(target=other)
        thread.start()
        with pytest.raises(endpoints.DeadlineExceeded), endpoints.within(1.0) as per_read:
            endpoints.opener_for(server.url).open(f"{server.url}/x", timeout=per_read)
        thread.join(5)
    with (
        endpoints.within(1.0) as per_read,
        endpoints.opener_for(target.url).open(f"{target.url}/y", timeout=per_read) as answer,
    ):
        answers.append(answer.read())
    assert answers == [b"ok", b"ok"]


def test_identity_fetch_ends_within_its_timeout_even_while_headers_trickle() -> None:
    with trickling("headers") as server:
        started = time.monotonic()
        with pytest.raises(IdentityError) as caught:
            fetch_json(f"{server.url}/jwks", what="the JWKS", timeout=1.0)
        took = time.monotonic() - started
    assert took < 3.0, f"the fetch took {took:.1f}s with timeout 1s"
    assert "no answer within 1s" in caught.value.message


def test_within_ends_a_trickling_exchange_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline cuts the socket under TLS too, after the handshake."""
    authority = make_authority(tmp_path, "hgate-test-ca")
    cert, key = make_server_cert(tmp_path, authority, ["127.0.0.1"])
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.cert_file))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with trickling("body", tls=tls) as server:
        started = time.monotonic()
        with (
            pytest.raises(endpoints.DeadlineExceeded),
            endpoints.within(1.0) as per_read,
            endpoints.opener_for(server.url).open(server.url, timeout=per_read) as answer,
        ):
            assert answer.status == 200  # the handshake and headers came in time
            answer.read()
        took = time.monotonic() - started
    assert took < 3.0, f"the exchange took {took:.1f}s with a 1s deadline"
