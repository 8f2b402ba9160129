"""One agent connection after login: two pumps, agent->server and server->agent.

Each pump runs in its socket's read callback (an asyncio Protocol), not in a task: per
read that saves a future, a task wake-up and a copy out of a StreamReader, which at
pgbench rates is a sixth of the proxy's time. Each read is framed into whole messages;
runs of messages that pass unchanged are written as one slice of the bytes received (no
re-encoding), and only replaced or injected messages are built anew. A message that
must wait for I/O raises `Wait`: its pump stops reading, awaits, and takes the same
message again. A peer that reads slowly pauses reading from the other side (the
transport's write-buffer limits), so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from hgate.proxy import messages as msg
from hgate.proxy.backend import Backend
from hgate.proxy.frontend import Frontend
from hgate.proxy.state import ConnectionState
from hgate.proxy.upstream import UpstreamConnection
from hgate.proxy.wait import Wait

_length = struct.Struct("!i").unpack_from
HIGH_WATER = 1 << 18  # stop reading the other side while this much is still unsent

Handlers = list[Callable[[bytes], bytes | None]]  # by message type byte


class Relay:
    def __init__(
        self,
        state: ConnectionState,
        agent: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: UpstreamConnection,
    ) -> None:
        self.state = state
        self.agent = agent
        self.upstream = upstream
        self.frontend = Frontend(state)
        self.backend = Backend(state)
        self._done: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: tuple[_Socket, ...] = ()
        self.closed = False

    async def run(self) -> None:
        """Relay until either side closes or breaks the protocol; then close both."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        agent_reader, agent_writer = self.agent
        agent = _Socket(self, agent_writer.transport)
        server = _Socket(self, self.upstream.writer.transport)
        to_server = Pump(
            self, agent, server, self.frontend.handlers, msg.Framer(limit=msg.MAX_FRONTEND_MESSAGE)
        )
        to_agent = Pump(
            self, server, agent, self.backend.handlers, msg.Framer(limit=msg.MAX_BACKEND_MESSAGE)
        )
        self._sockets = (agent, server)
        try:
            server.attach(self.upstream.reader, to_agent)
            agent.attach(agent_reader, to_server)
            await self._done
        finally:
            self.finish()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def fail(self, error: BaseException | None) -> None:
        """End the relay; a protocol violation tells the agent why (FATAL) first."""
        if isinstance(error, msg.ProtocolViolation):
            with contextlib.suppress(OSError, RuntimeError):
                self.agent[1].transport.write(
                    msg.error_response("08P01", f"hgate: {error}", severity="FATAL")
                )
        self.finish()

    def finish(self) -> None:
        """Stop relaying at once: nothing read after this is handled or forwarded;
        what is already written still goes out (close flushes). Statements the server
        has not answered yet are recorded as unanswered."""
        if not self.closed:
            with contextlib.suppress(Exception):  # a failed sink: the session reports it
                self.state.abandon()
        self.closed = True
        for side in self._sockets:
            side.transport.close()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)


class _Socket(asyncio.Protocol):
    """One side's transport after login, taken over from its StreamReader.

    Reads go to the pump that reads this side; when this side's write buffer is full,
    the pump that writes to it pauses its own source. Reading pauses for any reason
    (a wait, back-pressure) and resumes only when no reason is left."""

    def __init__(self, relay: Relay, transport: asyncio.BaseTransport) -> None:
        self.relay = relay
        self.transport: Any = transport  # a read-write transport (uvloop's or asyncio's)
        self.old: Any = transport.get_protocol()  # the StreamReaderProtocol, told of the end
        self.reader: Pump | None = None  # the pump that reads from this socket
        self.writer: Pump | None = None  # the pump that writes to it
        self._pauses: set[str] = set()

    def attach(self, stream: asyncio.StreamReader, pump: Pump) -> None:
        """Take the transport over: bytes the StreamReader already holds go first."""
        self.reader = pump
        buffered: bytearray = getattr(stream, "_buffer", bytearray())
        leftover = bytes(buffered)
        buffered.clear()
        ended = stream.at_eof() or self.transport.is_closing()
        self.transport.set_protocol(self)
        if not ended:  # uvloop refuses both on a closed handle
            self.transport.set_write_buffer_limits(high=HIGH_WATER)
            if not self.transport.is_reading():
                self.transport.resume_reading()  # the StreamReader may have paused it
        if leftover:
            self.data_received(leftover)
        if ended:
            self.relay.finish()

    def pause(self, reason: str) -> None:
        if not self._pauses:
            with contextlib.suppress(RuntimeError):
                self.transport.pause_reading()
        self._pauses.add(reason)

    def resume(self, reason: str) -> None:
        self._pauses.discard(reason)
        if not self._pauses and not self.transport.is_closing():
            with contextlib.suppress(RuntimeError):
                self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.relay.closed or self.reader is None:
            return
        try:
            self.reader.feed(data)
        except Exception as exc:  # anything unexpected ends this connection: fail closed
            self.relay.fail(exc)

    def eof_received(self) -> bool:
        self.relay.finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.finish()
        with contextlib.suppress(Exception):
            self.old.connection_lost(exc)  # so the stream's wait_closed() returns

    def pause_writing(self) -> None:
        if self.writer is not None:
            self.writer.source.pause("back-pressure")

    def resume_writing(self) -> None:
        if self.writer is not None:
            self.writer.source.resume("back-pressure")


class Pump:
    """One direction: frames what `source` sends, asks its handler, writes to `target`."""

    def __init__(
        self, relay: Relay, source: _Socket, target: _Socket, handlers: Handlers, framer: msg.Framer
    ) -> None:
        self.relay = relay
        self.source = source
        self.target = target
        self.handlers = handlers
        self.framer = framer
        self.waiting = False
        # reads that arrive during a wait: none should (the source is paused), but a
        # transport that delivers one read more must not lose it
        self.backlog: deque[bytes] = deque()
        target.writer = self

    def feed(self, data: bytes) -> None:
        if self.waiting:
            self.backlog.append(data)
            return
        buf = self.framer.take(data)
        if buf:
            self._continue(buf, 0)

    def _continue(self, buf: bytes, pos: int) -> None:
        wait = self._run(buf, pos)
        if wait is not None:
            self.waiting = True
            self.source.pause("wait")
            self.relay.spawn(self._wait(wait, buf))

    async def _wait(self, first: tuple[Wait, int], buf: bytes) -> None:
        try:
            pending: tuple[Wait, int] | None = first
            while True:
                while pending is not None:
                    wait, pos = pending
                    await wait.then()
                    if self.relay.closed:
                        return
                    pending = self._run(buf, pos)
                if not self.backlog or self.relay.closed:
                    break
                buf = self.framer.take(self.backlog.popleft())
                pending = self._run(buf, 0) if buf else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.relay.fail(exc)
            return
        self.waiting = False
        self.source.resume("wait")

    def _run(self, buf: bytes, pos: int) -> tuple[Wait, int] | None:
        """Handle the whole messages in buf[pos:] (the framer holds an incomplete tail);
        on a `Wait`, write what went before and return it with the offset of the message
        to hand in again.

        Every message handled is written (a handler that fails writes what went before
        it, then the connection ends), so a statement the state records as sent was sent;
        a bad length anywhere in the read is refused before any of it is handled."""
        handlers = self.handlers
        framer = self.framer
        framer.check(buf, pos)
        size = len(buf)
        out: list[bytes] = []
        raw_start = -1
        waiting: tuple[Wait, int] | None = None
        try:
            while True:
                # the framer's common case inline: a whole message (lengths are checked)
                end = pos + 1 + _length(buf, pos + 1)[0] if size - pos >= 5 else size + 1
                if end > size:
                    framer.end(buf, pos)  # holds the incomplete tail
                    break
                try:
                    replacement = handlers[buf[pos]](buf[pos + 5 : end])
                except Wait as wait:
                    waiting = (wait, pos)
                    break
                if replacement is None:
                    if raw_start < 0:
                        raw_start = pos
                else:
                    if raw_start >= 0:
                        out.append(buf[raw_start:pos])
                        raw_start = -1
                    if replacement:
                        out.append(replacement)
                pos = end
        finally:
            if raw_start >= 0:
                out.append(buf[raw_start:pos])
            if out:
                self.target.transport.write(out[0] if len(out) == 1 else b"".join(out))
        if waiting is None and self.relay.frontend.terminated:
            self.relay.finish()
        return waiting
