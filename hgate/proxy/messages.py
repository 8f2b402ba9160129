"""PostgreSQL v3 wire messages: framing a byte stream, decoding the few we inspect.

The relay forwards raw message bytes untouched wherever nothing is inspected, so the
framer hands out offsets into the received buffer rather than message objects, and the
decoders read only the fields a decision needs (a Bind's parameters are skipped, never
copied).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hgate.errors import HgateError

MAX_BACKEND_MESSAGE = 1 << 30  # PostgreSQL's own limit on a field (1 GiB)
MAX_FRONTEND_MESSAGE = 256 << 20
MAX_STARTUP_PACKET = 10_000  # PostgreSQL's MAX_STARTUP_PACKET_LENGTH

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_FIELD = struct.Struct("!ihihih")  # table oid, attnum, type oid, typlen, typmod, format


class ProtocolViolation(HgateError):
    """A peer sent bytes that are not a valid protocol message; the connection ends."""


class Framer:
    """Walks a stream message by message; an incomplete tail waits for more bytes.

    The caller walks the buffer itself (`take`, then `end` at each offset) rather than
    getting a list of frames: at pgbench rates building that list was a tenth of the
    relay's own time."""

    __slots__ = ("_need", "_pending", "limit")

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self._pending = bytearray()
        self._need = 0

    def take(self, data: bytes) -> bytes:
        """The bytes to walk from offset 0: the held tail and `data` (b"" while the held
        message is still incomplete)."""
        if not self._pending:
            return data
        self._pending += data
        if len(self._pending) < self._need:
            return b""
        buf = bytes(self._pending)
        self._pending.clear()
        return buf

    def end(self, buf: bytes, pos: int) -> int:
        """The end of the whole message at `pos`; -1 when it is not all there yet (the
        tail from `pos` is then held for the next `take`)."""
        if len(buf) - pos < 5:
            if pos < len(buf):
                self._hold(buf, pos, 5)
            return -1
        length: int = _I32.unpack_from(buf, pos + 1)[0]
        if length < 4 or length > self.limit:
            raise ProtocolViolation(f"invalid message length {length}")
        end = pos + 1 + length
        if end > len(buf):
            self._hold(buf, pos, end - pos)
            return -1
        return end

    def check(self, buf: bytes, pos: int) -> None:
        """Raise ProtocolViolation if a whole-message header after `pos` has a bad
        length (holds nothing: the walk that follows does that)."""
        size, limit = len(buf), self.limit
        while size - pos >= 5:
            length: int = _I32.unpack_from(buf, pos + 1)[0]
            if length < 4 or length > limit:
                raise ProtocolViolation(f"invalid message length {length}")
            pos += 1 + length

    def _hold(self, buf: bytes, pos: int, need: int) -> None:
        self._pending += buf[pos:]
        self._need = need


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + _I32.pack(len(body) + 4) + body


def cstring(body: bytes, pos: int) -> tuple[str, int]:
    """A NUL-terminated string at `pos` and the offset after it."""
    end = body.index(b"\0", pos)
    return body[pos:end].decode("utf-8", "surrogateescape"), end + 1


def encode_cstring(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape") + b"\0"


# --- frontend messages -----------------------------------------------------------


def parse_query(body: bytes) -> str:
    return cstring(body, 0)[0]


def parse_parse(body: bytes) -> tuple[str, str]:
    """Parse: statement name and query text (parameter types are forwarded as they are)."""
    name, pos = cstring(body, 0)
    query, _ = cstring(body, pos)
    return name, query


def parse_bind(body: bytes) -> tuple[str, str, tuple[int, ...]]:
    """Bind: portal, statement, result-column format codes (parameters skipped)."""
    portal, pos = cstring(body, 0)
    statement, pos = cstring(body, pos)
    (count,) = _I16.unpack_from(body, pos)
    pos += 2 + 2 * count
    (count,) = _I16.unpack_from(body, pos)
    pos += 2
    for _ in range(count):
        (length,) = _I32.unpack_from(body, pos)
        pos += 4 + max(length, 0)
    (count,) = _I16.unpack_from(body, pos)
    formats = struct.unpack_from(f"!{count}h", body, pos + 2)
    return portal, statement, formats


def parse_target(body: bytes) -> tuple[str, str]:
    """Describe and Close: kind ('S' statement or 'P' portal) and name."""
    return chr(body[0]), cstring(body, 1)[0]


def parse_execute(body: bytes) -> tuple[str, int]:
    portal, pos = cstring(body, 0)
    return portal, _I32.unpack_from(body, pos)[0]


def sync() -> bytes:
    return b"S\0\0\0\x04"


def describe(kind: str, name: str) -> bytes:
    return message(b"D", kind.encode() + encode_cstring(name))


def query(text: str) -> bytes:
    return message(b"Q", encode_cstring(text))


def parse(name: str, text: str) -> bytes:
    return message(b"P", encode_cstring(name) + encode_cstring(text) + b"\0\0")


# --- backend messages ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """One RowDescription field: where the value comes from and how it is encoded."""

    name: str
    table_oid: int
    attnum: int
    type_oid: int
    format: int


def parse_row_description(body: bytes) -> tuple[Column, ...]:
    (count,) = _I16.unpack_from(body, 0)
    pos, columns = 2, []
    for _ in range(count):
        name, pos = cstring(body, pos)
        table, attnum, type_oid, _len, _mod, fmt = _FIELD.unpack_from(body, pos)
        pos += _FIELD.size
        columns.append(
            Column(name=name, table_oid=table, attnum=attnum, type_oid=type_oid, format=fmt)
        )
    return tuple(columns)


def parse_data_row(body: bytes) -> list[bytes | None]:
    (count,) = _I16.unpack_from(body, 0)
    pos = 2
    values: list[bytes | None] = []
    for _ in range(count):
        (length,) = _I32.unpack_from(body, pos)
        pos += 4
        if length < 0:
            values.append(None)
        else:
            values.append(body[pos : pos + length])
            pos += length
    return values


def data_row(values: Sequence[bytes | None]) -> bytes:
    parts = [_I16.pack(len(values))]
    for value in values:
        if value is None:
            parts.append(b"\xff\xff\xff\xff")
        else:
            parts.append(_I32.pack(len(value)))
            parts.append(value)
    return message(b"D", b"".join(parts))


def parse_fields(body: bytes) -> list[tuple[str, str]]:
    """ErrorResponse / NoticeResponse fields as (code, value), in order."""
    fields, pos = [], 0
    while pos < len(body) and body[pos] != 0:
        code = chr(body[pos])
        value, pos = cstring(body, pos + 1)
        fields.append((code, value))
    return fields


def fields_message(kind: bytes, fields: Iterable[tuple[str, str]]) -> bytes:
    body = b"".join(code.encode() + encode_cstring(value) for code, value in fields)
    return message(kind, body + b"\0")


def error_response(
    code: str, text: str, *, severity: str = "ERROR", hint: str = "", detail: str = ""
) -> bytes:
    fields = [("S", severity), ("V", severity), ("C", code), ("M", text)]
    if detail:
        fields.append(("D", detail))
    if hint:
        fields.append(("H", hint))
    return fields_message(b"E", fields)


def parse_notification(body: bytes) -> tuple[int, str, str]:
    (pid,) = _I32.unpack_from(body, 0)
    channel, pos = cstring(body, 4)
    payload, _ = cstring(body, pos)
    return pid, channel, payload


def notification(pid: int, channel: str, payload: str) -> bytes:
    return message(b"A", _I32.pack(pid) + encode_cstring(channel) + encode_cstring(payload))


def command_tag(body: bytes) -> str:
    return cstring(body, 0)[0]


def ready_for_query(status: bytes) -> bytes:
    return b"Z\0\0\0\x05" + status


def auth_request(code: int, data: bytes = b"") -> bytes:
    return message(b"R", _I32.pack(code) + data)


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", encode_cstring(name) + encode_cstring(value))


def backend_key_data(pid: int, key: int) -> bytes:
    return message(b"K", struct.pack("!ii", pid, key))


def negotiate_protocol_version(minor: int, options: Sequence[str]) -> bytes:
    body = _I32.pack(minor) + _I32.pack(len(options))
    return message(b"v", body + b"".join(encode_cstring(o) for o in options))


def int32(body: bytes, pos: int = 0) -> int:
    return int(_I32.unpack_from(body, pos)[0])
