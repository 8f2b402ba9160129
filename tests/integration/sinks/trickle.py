"""A real HTTP server on 127.0.0.1 that answers too slowly or too much, for deadline tests.

Each `mode` keeps a request alive without any single socket read ever timing out:
`headers` sends its status line and headers one byte every `pace` seconds; `body` sends
headers, then a body without end one byte at a time; `chunked` does the same with
chunked encoding; `huge` answers 200 with a body of gigabytes as fast as it can. The
first `prompt` requests are answered at once (`status`, `{}`), like a healthy server.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

MODES = ("headers", "body", "chunked", "huge")


class TricklingServer:
    """Answers every request on every connection per `mode`; counts the requests."""

    def __init__(
        self,
        mode: str,
        *,
        status: int = 200,
        pace: float = 0.2,
        prompt: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        assert mode in MODES
        self.mode, self.status, self.pace, self.prompt = mode, status, pace, prompt
        self._tls = tls
        self.requests = 0
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket, data: bytes) -> bool:
        for byte in data:
            if self._stop.wait(self.pace):
                return False
            conn.sendall(bytes([byte]))
        return True

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(30)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            self._converse(conn)
        conn.close()

    def _converse(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.recv(1 << 16)
            self.requests += 1
            head = f"HTTP/1.1 {self.status} Whatever\r\nContent-Type: application/json\r\n"
            if self.requests <= self.prompt:
                conn.sendall((head + "Content-Length: 2\r\nConnection: close\r\n\r\n{}").encode())
            elif self.mode == "headers":
                self._drip(conn, (head + "X-Pad: " + "a" * 200 + "\r\n\r\n").encode())
            elif self.mode == "body":
                conn.sendall((head + "Connection: close\r\n\r\n").encode())
                while self._drip(conn, b" "):
                    pass
            elif self.mode == "chunked":
                conn.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
                while self._drip(conn, b"1\r\n \r\n"):
                    pass
            else:
                conn.sendall((head + f"Content-Length: {10 << 30}\r\n\r\n").encode())
                block = b" " * (1 << 16)
                while not self._stop.is_set():
                    conn.sendall(block)

    def close(self) -> None:
        self._stop.set()
        self._server.close()


@contextlib.contextmanager
def trickling(mode: str, **kwargs: Any) -> Iterator[TricklingServer]:
    server = TricklingServer(mode, **kwargs)
    try:
        yield server
    finally:
        server.close()
