"""Which URLs hgate will send a token, a request or evidence to.

HTTPS always; plain HTTP only to this machine (tests, a collector on the runner itself),
where nothing crosses a network. One rule for identity, sinks and approvals alike.

urllib's `timeout` bounds each socket operation, not a request: a server that trickles a
byte every few seconds, or sends a body that never ends, would hold hgate for ever. Every
request therefore runs inside `within(seconds)`, a total deadline that cuts the socket.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import http.client
    import urllib.request


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cleartext_problem(url: str) -> str | None:
    """Why `url` is not acceptable (None when it is): https, or http to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return f"{url!r} would send credentials in clear text; use https"
    return None


def opener_for(url: str) -> urllib.request.OpenerDirector:
    """urllib's opener for `url`: never follows a redirect (a 3xx surfaces as an
    HTTPError), and to a loopback host never goes through a proxy.

    urllib would resend the Authorization header to wherever `Location` points, any host
    and plain http included, and turn a POST into a bodiless GET whose 200 looks like
    success. Plain http is allowed to loopback only because it stays on this machine;
    `http_proxy` would carry it to another host, which could read and answer it."""
    return _opener(is_loopback(urlsplit(url).hostname or ""))


@functools.cache
def _opener(direct: bool) -> urllib.request.OpenerDirector:
    """Made on first use: urllib.request costs ~15 ms to import."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    class _Http(urllib.request.HTTPHandler):
        def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
            return super().do_open(_guarded(http_class), req, **kwargs)

    class _Https(urllib.request.HTTPSHandler):
        def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
            return super().do_open(_guarded(http_class), req, **kwargs)

    handlers: list[Any] = [_NoRedirect, _Http, _Https]
    if direct:
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


class DeadlineExceeded(TimeoutError):
    """A request did not finish within its total deadline (`within`)."""


class _Deadline:
    """Shuts down, when it expires, every connection this thread opened under it.

    It holds a duplicate of each socket: shutting a duplicate down ends the connection
    for the original too, also once TLS has taken the original over (wrap_socket detaches
    it), and a descriptor of its own cannot be closed and reused under it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        twin = sock.dup()
        with self._lock:
            if not self.expired and not self._done:
                self._sockets.append(twin)
                return
        _cut(twin)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for twin in self._sockets:  # closed at `end`, by the thread that owns them
                with contextlib.suppress(OSError):
                    twin.shutdown(socket.SHUT_RDWR)

    def end(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            sockets, self._sockets = self._sockets, []
        for twin in sockets:
            twin.close()


def _cut(twin: socket.socket) -> None:
    """End the connection `twin` duplicates (a read blocked on it sees EOF), then close it."""
    with contextlib.suppress(OSError):
        twin.shutdown(socket.SHUT_RDWR)
    twin.close()


_active = threading.local()


@contextlib.contextmanager
def within(seconds: float) -> Iterator[float]:
    """Every request this thread opens through `opener_for` inside the block (connect,
    TLS, headers, body) ends within `seconds` in total; yields the per-operation
    timeout to pass to `open`. On expiry the block ends with DeadlineExceeded, whatever
    else happened: a cut connection can look like a short but complete answer. Nested
    blocks: the innermost deadline applies to what is opened inside it."""
    deadline = _Deadline(seconds)
    outer: _Deadline | None = getattr(_active, "deadline", None)
    _active.deadline = deadline
    deadline.start()
    try:
        yield max(deadline.remaining(), 0.001)
    except BaseException as exc:
        if deadline.expired and isinstance(exc, Exception):
            raise DeadlineExceeded(f"no complete answer within {seconds:.3g}s") from exc
        raise
    finally:
        deadline.end()
        _active.deadline = outer
    if deadline.expired:
        raise DeadlineExceeded(f"no complete answer within {seconds:.3g}s")


def _watch(sock: socket.socket) -> socket.socket:
    deadline: _Deadline | None = getattr(_active, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)
    return sock


@functools.cache
def _guarded(http_class: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
    """`http_class` whose socket the current deadline watches from its creation (before
    any proxy CONNECT or TLS handshake, which can trickle too)."""

    class Guarded(http_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            create: Any = self._create_connection  # type: ignore[has-type]
            self._create_connection = lambda *a, **k: _watch(create(*a, **k))

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{http_class.__name__}"
    return Guarded
