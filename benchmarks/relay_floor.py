"""A relay with no parsing at all, for `pg_proxy --floor`: bytes in, bytes out.

It runs the same way the proxy does (its own thread, uvloop when installed, asyncio
Protocols, one upstream connection per agent connection, TCP_NODELAY) but never looks at
a message, so `pgbench` through it measures the extra hop itself: what any relay in
this language and loop pays before it guards or masks anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from hgate.session.database_proxy import new_event_loop


class _Pipe(asyncio.Protocol):
    """One socket; what it reads goes to its peer (held until the peer is connected)."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.peer: _Pipe | None = None
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.early.append(data)
        else:
            self.peer.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    def link(self, peer: _Pipe) -> None:
        self.peer = peer
        for data in self.early:
            peer.transport.write(data)
        self.early.clear()


class RawRelay:
    """`start()` returns the port; every connection is relayed to (host, port)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._loop = new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raw-relay", daemon=True)
        self.port = 0

    def start(self) -> int:
        self._thread.start()
        self._ready.wait(10)
        return self.port

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)

        def accepted() -> _Pipe:
            agent = _Pipe()

            async def connect() -> None:
                _, server = await loop.create_connection(_Pipe, *self.target)
                agent.link(server)
                server.link(agent)

            loop.create_task(connect())
            return agent

        server = loop.run_until_complete(loop.create_server(accepted, "127.0.0.1", 0))
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            with contextlib.suppress(Exception):
                loop.run_until_complete(server.wait_closed())
            loop.close()
