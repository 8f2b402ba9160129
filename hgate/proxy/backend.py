"""PostgreSQL -> agent: replies read against the pending queue, results masked.

DataRows pass as raw bytes unless their result shape has a column to mask or scan.
Errors swap in hgate's own for a blocked statement; every other error, notice and
notification is masked. COPY TO rows are masked line by line; a binary COPY TO or a
CopyBoth the policy did not allow ends the connection (fail closed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from hgate.guard.verdict import Verdict
from hgate.proxy import messages as msg
from hgate.proxy.state import ConnectionState, Pending
from hgate.proxy.upstream import unsafe_setting

_DDL = ("CREATE", "ALTER", "DROP")
_OWN_REPLIES = frozenset("PBC")
MAX_DESCRIPTIONS = 256


def blocked_error(verdict: Verdict) -> bytes:
    why = f": {verdict.reason}" if verdict.reason else ""
    return msg.error_response(
        "42501",
        f"hgate blocked this statement (rule {verdict.rule}){why}",
        hint=(
            f"The session policy does not allow it (rule {verdict.rule}). If the task needs "
            "it, ask for an approval or a policy change; the connection stays usable."
        ),
    )


class Backend:
    """Handles each server message read against the pending queue.

    `handlers[type byte]` is the method for that message type (a table rather than a
    chain of tests: at pgbench rates the tests were a tenth of the handling). Each
    returns None to forward the message unchanged, else its replacement (b"": dropped).
    A result whose column rules need a catalog look-up first raises `Wait`."""

    def __init__(self, state: ConnectionState) -> None:
        self.state = state
        self.scratch: Counter[str] = Counter()
        # RowDescription body -> its columns: a prepared statement's Describe answers
        # with the same bytes on every execution, so it is decoded once
        self._columns: dict[bytes, tuple[msg.Column, ...]] = {}
        self.handlers: list[Callable[[bytes], bytes | None]] = [
            self._other(kind) for kind in range(256)
        ]
        for kinds, handler in (
            (b"D", self._data_row),
            (b"T", self._row_description),
            (b"n", self._no_data),
            (b"t", self._parameter_description),
            (b"123", self._own_reply),  # ParseComplete, BindComplete, CloseComplete
            (b"C", self._command_complete),
            (b"sI", self._portal_end),  # PortalSuspended, EmptyQueryResponse
            (b"E", self._error),
            (b"Z", self._ready),
            (b"G", self._copy_in_response),
            (b"S", self._parameter_status),
        ):
            for kind in kinds:
                self.handlers[kind] = handler

    def _head(self) -> Pending | None:
        pending = self.state.pending
        return pending[0] if pending else None

    def _data_row(self, body: bytes) -> bytes | None:  # the hot path
        state = self.state
        pending = state.pending
        head = pending[0] if pending else None
        if head is None or (head.kind != "E" and head.kind != "Q"):
            # rows only answer a Query or an Execute: the proxy has lost track of what
            # this row belongs to, so it cannot know how to mask it
            raise msg.ProtocolViolation("a result row the proxy cannot place")
        record = head.record
        if head.planned:
            plan = head.plan
        elif head.kind == "E":
            plan = state.plan_for(head)
        else:  # a simple query's rows without a RowDescription first
            raise msg.ProtocolViolation("result rows without a description")
        if record is not None:
            record.rows += 1
        if plan is None:
            return None
        counts = record.tally() if record is not None else self.scratch
        return state.context.results.mask_row(plan, body, counts)

    def _row_description(self, body: bytes) -> bytes | None:
        head = self._head()
        if head is None:
            return None
        if head.kind == "Q":
            head.plan = self.state.context.results.plan_described(body)
            head.planned = True
            return None
        if head.kind == "D":
            self._described(head, self._decode(body), body)
            self.state.pending.popleft()
            return b"" if head.swallow else None
        return None

    def _no_data(self, _body: bytes) -> bytes | None:
        head = self._head()
        if head is not None and head.kind == "D":
            self._described(head, ())
            self.state.pending.popleft()
            return b"" if head.swallow else None
        return None

    def _parameter_description(self, _body: bytes) -> bytes | None:
        head = self._head()
        return b"" if head is not None and head.swallow else None

    def _own_reply(self, _body: bytes) -> bytes | None:
        head = self._head()
        if head is not None and head.kind in _OWN_REPLIES:
            self.state.pending.popleft()
        return None

    def _command_complete(self, body: bytes) -> bytes | None:
        state = self.state
        head = self._head()
        tag = msg.command_tag(body)
        if tag.startswith(_DDL):
            state.context.results.invalidate()
        if head is not None:
            if head.record is not None:
                head.record.tag = tag
            if head.kind == "E":
                state.pending.popleft()
                state.finish(head.record)
            else:
                head.planned = False
        state.copy_out = None
        return None

    def _portal_end(self, _body: bytes) -> bytes | None:
        head = self._head()
        if head is not None and head.kind == "E":
            self.state.pending.popleft()
            self.state.finish(head.record)
        return None

    def _ready(self, body: bytes) -> bytes | None:
        state = self.state
        state.status = body[:1]
        state.ready += 1
        if state.status == b"I" and state.portals:
            state.transaction_ended()
        head = self._head()
        if head is not None and head.kind in "SQF":
            state.pending.popleft()
            if head.kind == "Q":
                state.finish(head.record)
        return None

    def _decode(self, body: bytes) -> tuple[msg.Column, ...]:
        known = self._columns
        columns = known.get(body)
        if columns is None:
            columns = msg.parse_row_description(body)
            if len(known) >= MAX_DESCRIPTIONS:
                known.clear()
            known[body] = columns
        return columns

    def _described(
        self, head: Pending, columns: tuple[msg.Column, ...], body: bytes | None = None
    ) -> None:
        if head.target == "S":
            statement = head.statement
            if statement is not None:
                statement.columns = columns
        else:
            portal = head.portal
            if portal is not None:
                portal.columns = columns
                portal.description = body
                portal.describing = False

    def _error(self, body: bytes) -> bytes | None:
        state = self.state
        head = self._head()
        pending = state.pending
        state.copy_out = None
        if head is not None and head is state.copy_in:
            state.copy_started_or_failed(False)  # the COPY failed, or never started
        if head is not None and head.blocked is not None:
            reply = blocked_error(head.blocked)
        else:
            counts = head.record.tally() if head is not None and head.record else self.scratch
            reply = state.context.results.mask_fields(body, b"E", counts)
            code = dict(msg.parse_fields(body)).get("C", "")
            if head is not None and head.record is not None:
                head.record.error = code
        if head is None or head.kind in "QF":
            return reply
        while pending and pending[0].kind != "S":  # the server now discards until Sync
            dropped = pending.popleft()
            if dropped is state.copy_in:  # a COPY skipped: no data will be asked for
                state.copy_started_or_failed(False)
            if dropped.kind == "D" and dropped.portal is not None:
                dropped.portal.describing = False  # that description will not come
            elif dropped.kind == "E" and dropped.record is not None:
                dropped.record.error = dropped.record.error or "skipped"
                state.finish(dropped.record)
            elif (
                dropped.kind == "B"
                and dropped.portal is not None
                and state.portals.get(dropped.name) is dropped.portal
            ):
                # refused or skipped: the server's portal of that name (if any: an SQL
                # cursor, say) is not the one the proxy recorded, so forget it
                del state.portals[dropped.name]
        return reply

    def _copy_in_response(self, _body: bytes) -> bytes | None:
        state = self.state
        head = self._head()
        if head is not None and head is state.copy_in:
            state.copy_started_or_failed(True)
        return None

    def _parameter_status(self, body: bytes) -> bytes | None:
        """A setting that changes how PostgreSQL reads statements (or what encoding the
        masker reads) changed anyway (a role or database default, say): the guard's
        reading of the next statement could differ from the server's, so the
        connection ends."""
        name, pos = msg.cstring(body, 0)
        problem = unsafe_setting(name, msg.cstring(body, pos)[0])
        if problem:
            raise msg.ProtocolViolation(problem)
        return None

    def _other(self, kind: int) -> Callable[[bytes], bytes | None]:
        """The handler for a message type without one of its own (forwarded, masked)."""
        return lambda body: self._masked(kind, body)

    def _masked(self, kind: int, body: bytes) -> bytes | None:
        state = self.state
        head = self._head()
        results = state.context.results
        record = head.record if head is not None else None
        counts = record.tally() if record is not None else self.scratch
        if kind == 0x64:  # d CopyData (COPY TO rows)
            if record is not None:
                record.rows += 1
            text = body.decode("utf-8", "surrogateescape")
            masked = results.mask_text(text, counts)
            if masked == text:
                return None
            return msg.message(b"d", masked.encode("utf-8", "surrogateescape"))
        if kind == 0x48:  # H CopyOutResponse
            if body[:1] != b"\0":
                raise msg.ProtocolViolation("binary COPY TO cannot be masked; connection closed")
            state.copy_out = record
            return None
        if kind == 0x57 and not state.context.settings.allow_copy_both:  # W CopyBothResponse
            raise msg.ProtocolViolation("CopyBoth (replication) is not allowed by the policy")
        if kind == 0x4E:  # N NoticeResponse
            return results.mask_fields(body, b"N", counts)
        if kind == 0x41:  # A NotificationResponse
            pid, channel, payload = msg.parse_notification(body)
            masked = results.mask_text(payload, counts)
            return None if masked == payload else msg.notification(pid, channel, masked)
        return None
