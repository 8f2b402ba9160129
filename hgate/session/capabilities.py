"""What the agent can use while the session lives, ended together and in order.

Credentials, the database proxy, held approvals and the command shims each outlive
nothing: whichever way the session ends (agent exit, hgate error, interrupt), `close`
runs every step once, and reports the first failure only after all have run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hgate.session.commands import CommandsSession
from hgate.session.credentials import SessionCredentials

if TYPE_CHECKING:
    from hgate.session.approvals import SessionApprovals
    from hgate.session.database_proxy import DatabaseProxy


@dataclass
class LiveCapabilities:
    """The session's live capabilities, closed once, in the order they depend on each other:
    held approvals first (each waiting shim or statement gets its answer: cancelled), then
    the proxy (it uses the role), the role and certificate, then the shims and recorder."""

    commands: CommandsSession
    credentials: SessionCredentials | None = None
    approvals: SessionApprovals | None = None
    database: DatabaseProxy | None = None
    closed: bool = False

    def agent_environment(self) -> dict[str, str]:
        env = dict(self.credentials.environment) if self.credentials is not None else {}
        if self.database is not None:
            env.update(self.database.environment())
        return env

    def stdin_filter(self) -> Callable[[bytes], bytes]:
        if self.approvals is not None:
            return self.approvals.stdin_filter(self.commands.stdin_filter)
        return self.commands.stdin_filter

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        steps: list[Callable[[], None]] = []
        if self.approvals is not None:
            steps.append(self.approvals.close)
        if self.database is not None:
            steps.append(self.database.close)
        if self.credentials is not None:
            steps.append(self.credentials.revoke)  # also armed on atexit and on signals
        steps.append(self.commands.close)
        first: BaseException | None = None
        for step in steps:
            try:
                step()
            except BaseException as exc:  # every step runs; the first failure is raised
                first = first or exc
        if first is not None:
            raise first
