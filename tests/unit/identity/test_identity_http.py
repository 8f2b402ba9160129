"""fetch_json's overall deadline, against a real (local) server that drips its body."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from hgate.errors import IdentityError
from hgate.identity.http import fetch_json


def test_a_server_that_drips_its_answer_is_cut_off_at_the_deadline() -> None:
    """One byte every 0.2 s never trips the per-read socket time-out; the whole fetch
    must still end at its deadline (a slow issuer must not hang the session)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b" ")
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(IdentityError, match="no answer within 1s"):
            fetch_json(f"http://127.0.0.1:{server.getsockname()[1]}/jwks", what="JWKS", timeout=1)
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        server.close()
