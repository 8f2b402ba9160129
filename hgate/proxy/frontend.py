"""Agent -> PostgreSQL: every statement through the guard, everything else as raw bytes.

A blocked statement is not answered by the proxy: it is replaced by one the server
rejects with a syntax error, so the server itself fails the statement, aborts the
transaction or pipeline it is in and discards until Sync exactly as it would for a bad
statement; the backend direction then swaps that error for hgate's (SQLSTATE 42501).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from hgate.guard.verdict import Verdict
from hgate.proxy import messages as msg
from hgate.proxy.context import BLOCKED_SQL
from hgate.proxy.state import ConnectionState, Pending, Portal, Record, Statement
from hgate.proxy.wait import Wait

FUNCTION_CALL = Verdict(
    action="block",
    rule="database.function_call",
    reason="the fast-path FunctionCall bypasses the statement guard",
)
BIND_UNKNOWN = Verdict(
    action="block",
    rule="database.bind_unknown",
    reason="Bind to a statement not Parsed through hgate (run an SQL PREPAREd one with "
    "SQL EXECUTE)",
)
# a Bind's statement name that no agent can have prepared, then no formats or values:
# the server fails the Bind (26000) and discards until Sync; the error becomes hgate's
_NO_STATEMENT = msg.encode_cstring("hgate_no_such_statement_" + secrets.token_hex(12)) + (
    b"\0\0" * 3
)


class Frontend:
    """Handles one agent message: None forwards it unchanged, bytes replace it.

    `handlers[type byte]` is the method for that message type (a table rather than a
    chain of tests: at pgbench rates the tests were a tenth of the handling). Raises
    `Wait` (before changing any state) for a statement held for approval."""

    def __init__(self, state: ConnectionState) -> None:
        self.state = state
        self.terminated = False
        self.handlers: list[Callable[[bytes], bytes | None]] = [
            self._unexpected(kind) for kind in range(256)
        ]
        for kinds, handler in (
            (b"Hdcf", self._raw),  # Flush, CopyData, CopyDone, CopyFail: no reply of their own
            (b"Q", self._query),
            (b"P", self._parse),
            (b"B", self._bind),
            (b"E", self._execute),
            (b"D", self._describe),
            (b"S", self._sync),
            (b"C", self._close),
            (b"X", self._terminate),
            (b"F", self._function_call),
        ):
            for kind in kinds:
                self.handlers[kind] = handler

    @staticmethod
    def _unexpected(kind: int) -> Callable[[bytes], bytes | None]:
        def refuse(_body: bytes) -> bytes | None:
            raise msg.ProtocolViolation(f"unexpected frontend message {chr(kind)!r}")

        return refuse

    def _after_terminate(self, _body: bytes) -> bytes | None:
        raise msg.ProtocolViolation("a message after Terminate")

    def _raw(self, _body: bytes) -> bytes | None:
        return None

    def _query(self, body: bytes) -> bytes | None:
        state = self.state
        text = msg.parse_query(body)
        verdict = self._verdict(text)
        state.owed += 1
        if verdict.allowed:
            state.pending.append(Pending("Q", record=Record(text, verdict, "simple")))
            return None
        state.refused(text, verdict, "simple")
        state.pending.append(Pending("Q", blocked=verdict))
        return msg.query(BLOCKED_SQL)

    def _parse(self, body: bytes) -> bytes | None:
        state = self.state
        name, text = msg.parse_parse(body)
        verdict = self._verdict(text)
        if verdict.allowed:
            state.statements[name] = Statement(text, verdict)
            state.pending.append(Pending("P"))
            return None
        state.statements.pop(name, None)
        state.blocked_parses.add(name)
        state.refused(text, verdict, "extended")
        state.pending.append(Pending("P", blocked=verdict))
        return msg.parse(name, BLOCKED_SQL)

    def _bind(self, body: bytes) -> bytes | None:
        state = self.state
        portal, statement, formats = msg.parse_bind(body)
        source = state.statements.get(statement)
        if source is None or statement in state.prepared.verdicts:
            # not Parsed through this proxy (or since replaced by an SQL PREPARE, whose
            # verdict SQL EXECUTE enforces): nothing vouches for what it runs
            state.portals.pop(portal, None)
            if statement not in state.blocked_parses:
                state.refused(f"<Bind to statement {statement!r}>", BIND_UNKNOWN, "extended")
            state.pending.append(Pending("B", blocked=BIND_UNKNOWN))
            return msg.message(b"B", msg.encode_cstring(portal) + _NO_STATEMENT)
        state.portals[portal] = Portal(source, formats, state.owed)
        state.pending.append(Pending("B"))
        return None

    def _describe(self, body: bytes) -> bytes | None:
        state = self.state
        target, name = msg.parse_target(body)
        if target == "P":
            described = state.portals.get(name)
            if described is not None:
                described.describing = True
            state.pending.append(Pending("D", name=name, target=target, portal=described))
        else:
            named = state.statements.get(name)
            state.pending.append(Pending("D", name=name, target=target, statement=named))
        return None

    def _sync(self, _body: bytes) -> bytes | None:
        state = self.state
        state.owed += 1
        state.pending.append(Pending("S"))
        if state.blocked_parses:
            state.blocked_parses.clear()
        return None

    def _close(self, body: bytes) -> bytes | None:
        state = self.state
        target, name = msg.parse_target(body)
        (state.statements if target == "S" else state.portals).pop(name, None)
        state.pending.append(Pending("C"))
        return None

    def _terminate(self, _body: bytes) -> bytes | None:
        self.terminated = True  # nothing after Terminate is the agent's to ask for
        self.handlers[:] = [self._after_terminate] * 256
        return None

    def _function_call(self, _body: bytes) -> bytes | None:
        state = self.state
        state.owed += 1
        if state.context.settings.allow_function_call:
            state.pending.append(Pending("F"))
            return None
        state.refused("<fast-path function call>", FUNCTION_CALL, "function_call")
        state.pending.append(Pending("Q", blocked=FUNCTION_CALL))
        return msg.query(BLOCKED_SQL)

    def _verdict(self, text: str) -> Verdict:
        """Guard and limits; an approval is awaited (`Wait`) and its answer taken when
        the relay hands the same message in again (the guard is not asked twice: it
        updates the connection's PREPAREd statements)."""
        state = self.state
        settled = state.take_settled()
        if settled is not None:
            return settled
        verdict = state.context.decide(text, state.prepared)
        if verdict.action == "approve":
            raise Wait(lambda: state.settle(verdict, text))
        return verdict

    def _execute(self, body: bytes) -> bytes | None:
        state = self.state
        name, _limit = msg.parse_execute(body)
        portal = state.portals.get(name)
        if portal is None:  # a cursor opened with SQL DECLARE, or one the proxy forgot
            portal = state.portals[name] = Portal(bound_at=state.owed)
        statement = portal.source
        record = None
        if statement is not None:
            record = Record(statement.query, statement.verdict, "extended")
        describe = b""
        if (
            portal.columns is None
            and not portal.describing
            and (statement is None or statement.columns is None)
        ):
            # nobody asked for a description (asyncpg, pgx, a cursor): ask for it
            portal.describing = True
            describe = msg.describe("P", name)
            state.pending.append(Pending("D", name=name, target="P", swallow=True, portal=portal))
        state.pending.append(Pending("E", name=name, record=record, portal=portal))
        return describe + msg.message(b"E", body) if describe else None
