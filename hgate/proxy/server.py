"""The proxy's listening socket: log agents in, connect them upstream, relay, cancel.

Cancel keys are the proxy's own: the agent gets the upstream backend's pid with a fresh
random key, and a CancelRequest carrying that pair is forwarded with the upstream key,
which never leaves the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from itertools import count

from hgate.proxy import messages as msg
from hgate.proxy import upstream as up
from hgate.proxy.context import ProxyContext
from hgate.proxy.relay import Relay
from hgate.proxy.startup import AgentLogin, Authenticator, CancelRequest, StartupRefused
from hgate.proxy.state import ConnectionState

STARTUP_TIMEOUT = 30.0


class ProxyServer:
    """One proxy on 127.0.0.1; `start()` returns the port (0 picks a free one)."""

    def __init__(
        self,
        context: ProxyContext,
        login: AgentLogin,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
    ) -> None:
        self.context = context
        self.login = login
        self.host = host
        self.port = port
        self._sock = sock
        self._auth = Authenticator(login)
        self._server: asyncio.Server | None = None
        self._keys: dict[tuple[int, int], tuple[int, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._numbers = count(1)

    async def start(self) -> int:
        if self._sock is not None:
            self._server = await asyncio.start_server(self._accept, sock=self._sock)
        else:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self.context.results.catalog.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, msg.ProtocolViolation):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = await asyncio.wait_for(self._auth.accept(reader, writer), STARTUP_TIMEOUT)
        except StartupRefused as exc:
            if exc.response:
                writer.write(exc.response)
                await writer.drain()
            return
        except TimeoutError:
            return
        if isinstance(hello, CancelRequest):
            target = self._keys.get((hello.pid, hello.key))
            if target is not None:
                await up.cancel(self.context.upstream, *target)
            return
        try:
            upstream = await up.connect(self.context.upstream, hello.params)
        except up.UpstreamError as exc:
            writer.write(msg.error_response("08006", f"hgate: {exc.message}", severity="FATAL"))
            await writer.drain()
            return
        key = secrets.randbits(31)
        self._keys[(upstream.pid, key)] = (upstream.pid, upstream.key)
        try:
            writer.write(
                b"".join(upstream.greeting)
                + msg.backend_key_data(upstream.pid, key)
                + msg.ready_for_query(upstream.status)
            )
            state = ConnectionState(self.context, next(self._numbers))
            await Relay(state, (reader, writer), upstream).run()
        finally:
            self._keys.pop((upstream.pid, key), None)
            upstream.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await upstream.writer.wait_closed()
