"""One agent connection after login: two pumps, agent->server and server->agent.

Each read is framed into whole messages; runs of messages that pass unchanged are
written as one slice of the bytes received (no re-encoding), and only replaced or
injected messages are built anew.
"""

from __future__ import annotations

import asyncio
import contextlib

from hgate.proxy import messages as msg
from hgate.proxy.backend import Backend
from hgate.proxy.frontend import Frontend
from hgate.proxy.state import ConnectionState
from hgate.proxy.upstream import UpstreamConnection

READ_SIZE = 1 << 18
HIGH_WATER = 1 << 18  # drain (wait for the peer) only when this much is still unsent


class Relay:
    def __init__(
        self,
        state: ConnectionState,
        agent: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: UpstreamConnection,
    ) -> None:
        self.state = state
        self.agent_reader, self.agent_writer = agent
        self.upstream = upstream
        self.frontend = Frontend(state)
        self.backend = Backend(state)

    async def run(self) -> None:
        """Relay until either side closes or breaks the protocol; then close both."""
        tasks = {
            asyncio.create_task(self._agent_to_server()),
            asyncio.create_task(self._server_to_agent()),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = task.exception()
                if isinstance(error, msg.ProtocolViolation):
                    with contextlib.suppress(OSError):
                        self.agent_writer.write(
                            msg.error_response("08P01", f"hgate: {error}", severity="FATAL")
                        )
                        await self.agent_writer.drain()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _agent_to_server(self) -> None:
        framer = msg.Framer(limit=msg.MAX_FRONTEND_MESSAGE)
        reader, writer = self.agent_reader, self.upstream.writer
        frontend = self.frontend
        while not frontend.terminated:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            buf, frames = framer.feed(data)
            out: list[bytes] = []
            raw_start = -1
            for kind, start, end in frames:
                extra: list[bytes] = []
                if await frontend.handle(kind, buf[start + 5 : end], extra):
                    if raw_start < 0:
                        raw_start = start
                    continue
                if raw_start >= 0:
                    out.append(buf[raw_start:start])
                    raw_start = -1
                out.extend(extra)
            if raw_start >= 0:
                out.append(buf[raw_start : frames[-1][2]])
            if out:
                writer.write(out[0] if len(out) == 1 else b"".join(out))
                if writer.transport.get_write_buffer_size() > HIGH_WATER:
                    await writer.drain()

    async def _server_to_agent(self) -> None:
        framer = msg.Framer(limit=msg.MAX_BACKEND_MESSAGE)
        reader, writer = self.upstream.reader, self.agent_writer
        backend = self.backend
        pending = self.state.pending
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            buf, frames = framer.feed(data)
            out: list[bytes] = []
            raw_start = -1
            for kind, start, end in frames:
                body = buf[start + 5 : end]
                if kind == 0x44:  # DataRow: the hot path
                    head = pending[0] if pending else None
                    if head is not None and head.planned and head.plan is None:
                        if head.record is not None:
                            head.record.rows += 1
                        replacement = None
                    else:
                        replacement = await backend.data_row(head, body)
                else:
                    replacement = await backend.handle(kind, body)
                if replacement is None:
                    if raw_start < 0:
                        raw_start = start
                    continue
                if raw_start >= 0:
                    out.append(buf[raw_start:start])
                    raw_start = -1
                if replacement:
                    out.append(replacement)
            if raw_start >= 0:
                out.append(buf[raw_start : frames[-1][2]])
            if out:
                writer.write(out[0] if len(out) == 1 else b"".join(out))
                if writer.transport.get_write_buffer_size() > HIGH_WATER:
                    await writer.drain()
