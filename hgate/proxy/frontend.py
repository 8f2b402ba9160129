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
CURSOR_EXECUTE = Verdict(
    action="allow",
    rule="database.cursor",
    reason="a portal the proxy did not bind (an SQL cursor, whose DECLARE was checked)",
)
# a Bind's statement name that no agent can have prepared, then no formats or values:
# the server fails the Bind (26000) and discards until Sync; the error becomes hgate's
_NO_STATEMENT = msg.encode_cstring("hgate_no_such_statement_" + secrets.token_hex(12)) + (
    b"\0\0" * 3
)


# what a PostgreSQL in COPY IN mode does not read as copy data (Flush it ignores too)
_COPY_HELD = tuple(b"SQPBEDCF")


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
            (b"Hd", self._raw),  # Flush, CopyData: no reply of their own
            (b"cf", self._copy_end),  # CopyDone, CopyFail: answered with the COPY's
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
        self._normal = list(self.handlers)

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
            entry = Pending("Q", record=Record(text, verdict, "simple"))
            state.pending.append(entry)
            found = state.context.guard.classify(text)  # cached by _verdict's check
            if found.cursors:
                self._declared(found.cursors)
            if found.copy_in:
                self._open_copy(entry)
            return None
        state.refused(text, verdict, "simple")
        state.pending.append(Pending("Q", blocked=verdict))
        return msg.query(BLOCKED_SQL)

    def _parse(self, body: bytes) -> bytes | None:
        state = self.state
        name, text = msg.parse_parse(body)
        verdict = self._verdict(text)
        if verdict.allowed:
            found = state.context.guard.classify(text)  # cached by _verdict's check
            if found.cursors:  # at Parse, not Execute: forgetting a portal is always safe
                self._declared(found.cursors)
            state.statements[name] = Statement(text, verdict, found.copy_in)
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
        if source is None or statement in state.prepared.taken:
            # not Parsed through this proxy (or since replaced by an SQL PREPARE, whose
            # verdict SQL EXECUTE enforces): nothing vouches for what it runs
            state.portals.pop(portal, None)
            if statement not in state.blocked_parses:
                state.refused(f"<Bind to statement {statement!r}>", BIND_UNKNOWN, "extended")
            state.pending.append(Pending("B", blocked=BIND_UNKNOWN))
            return msg.message(b"B", msg.encode_cstring(portal) + _NO_STATEMENT)
        bound = state.portals[portal] = Portal(source, formats, state.owed)
        # with the portal: if the server refuses or skips this Bind, the name is not it
        state.pending.append(Pending("B", name=portal, portal=bound))
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
        elif name:  # an SQL cursor (never unnamed): its rows count and are recorded
            record = Record(f"<Execute of cursor {name!r}>", CURSOR_EXECUTE, "extended")
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
        entry = Pending("E", name=name, record=record, portal=portal)
        state.pending.append(entry)
        if statement is not None and statement.copy_in:
            self._open_copy(entry)
        return describe + msg.message(b"E", body) if describe else None

    def _declared(self, names: tuple[str, ...]) -> None:
        """SQL DECLAREs these cursors: a portal the proxy knew by one of these names (the
        server's may have been closed by SQL CLOSE, DISCARD or a savepoint's rollback) is
        forgotten, so an Execute of the name describes what the server really has."""
        portals = self.state.portals
        for name in names:
            portals.pop(name, None)

    def _open_copy(self, entry: Pending) -> None:
        """A COPY FROM STDIN was forwarded. Until the agent ends its data, a PostgreSQL
        that started the COPY ignores Sync and fails on any other message, while one
        that refused it answers them as usual: so until the COPY's start or failure is
        known, those messages wait (a Sync the server ignores must not be owed a reply)."""
        state = self.state
        state.copy_in, state.copy_started, state.copy_data = entry, False, False
        for kind in _COPY_HELD:
            self.handlers[kind] = self._in_copy(kind)
        self.handlers[ord("d")] = self._copy_data

    def _close_copy(self) -> None:
        state = self.state
        state.copy_in, state.copy_started, state.copy_data = None, False, False
        if not self.terminated:
            for kind in (*_COPY_HELD, ord("d")):
                self.handlers[kind] = self._normal[kind]

    def _copy_data(self, _body: bytes) -> bytes | None:
        self.state.copy_data = True
        self.handlers[ord("d")] = self._raw  # once per window: rows pass at full speed
        return None

    def _copy_end(self, _body: bytes) -> bytes | None:
        if self.state.copy_in is not None:
            self._close_copy()
        return None

    def _in_copy(self, kind: int) -> Callable[[bytes], bytes | None]:
        normal = self._normal[kind]

        def held(body: bytes) -> bytes | None:
            state = self.state
            if state.copy_in is None:  # the COPY failed: the server reads this as usual
                self._close_copy()
                return normal(body)
            if not state.copy_started:
                raise Wait(state.copy_resolved)
            if kind == ord("S") and not state.copy_data:
                return None  # ignored by the server in COPY mode: no ReadyForQuery owed
            # the server fails the COPY on it and ends the connection; or, after copy
            # data that may have failed the COPY already, may answer it: the proxy cannot
            # tell which, so it ends the connection itself
            raise msg.ProtocolViolation(
                f"message {chr(kind)!r} inside COPY FROM STDIN data (end it with CopyDone)"
            )

        return held
