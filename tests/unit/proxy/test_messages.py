"""Framing at every byte boundary, and the few decoders the relay relies on."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hgate.proxy import messages as msg

BIND = b"p1\0s1\0\0\x01\0\x01\0\x01\0\x00\x00\x01" + b"7" + b"\0\x01\0\x01"
STREAM = b"".join(
    [
        msg.query("SELECT 1; SELECT 'two'"),
        msg.parse("s1", "SELECT $1::int"),
        msg.message(b"B", BIND),
        msg.describe("P", "p1"),
        msg.message(b"E", b"p1\0\0\0\0\x05"),
        msg.sync(),
        msg.message(b"d", b"x" * 70_000),
        msg.message(b"H"),
    ]
)


def _frames(chunks: list[bytes]) -> list[bytes]:
    framer = msg.Framer(limit=msg.MAX_FRONTEND_MESSAGE)
    out: list[bytes] = []
    for chunk in chunks:
        buf, pos = framer.take(chunk), 0
        while (end := framer.end(buf, pos)) >= 0:
            out.append(buf[pos:end])
            pos = end
    return out


def test_every_split_point_yields_the_same_messages() -> None:
    whole = _frames([STREAM])
    assert b"".join(whole) == STREAM and len(whole) == 8
    for cut in range(1, len(STREAM)):
        assert _frames([STREAM[:cut], STREAM[cut:]]) == whole


def test_byte_by_byte() -> None:
    assert _frames([STREAM[i : i + 1] for i in range(len(STREAM))]) == _frames([STREAM])


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=20))
def test_random_splits(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert _frames([c for c in chunks if c]) == _frames([STREAM])


@pytest.mark.parametrize("length", [0, 3, msg.MAX_FRONTEND_MESSAGE + 1])
def test_bad_lengths_are_protocol_violations(length: int) -> None:
    framer = msg.Framer(limit=msg.MAX_FRONTEND_MESSAGE)
    with pytest.raises(msg.ProtocolViolation, match="invalid message length"):
        framer.end(framer.take(b"Q" + struct.pack("!I", length)), 0)


def test_bind_skips_parameters_and_reads_result_formats() -> None:
    assert msg.parse_bind(BIND) == ("p1", "s1", (1,))


def test_row_description_and_data_row_round_trip() -> None:
    field = b"name\0" + struct.pack("!ihihih", 16400, 2, 25, -1, -1, 1)
    columns = msg.parse_row_description(struct.pack("!h", 1) + field)
    assert columns == (msg.Column(name="name", table_oid=16400, attnum=2, type_oid=25, format=1),)
    row = msg.data_row([b"abc", None, b""])
    assert msg.parse_data_row(row[5:]) == [b"abc", None, b""]


def test_error_fields_round_trip() -> None:
    raw = msg.error_response("42501", "blocked", hint="ask", detail="why")
    assert msg.parse_fields(raw[5:]) == [
        ("S", "ERROR"),
        ("V", "ERROR"),
        ("C", "42501"),
        ("M", "blocked"),
        ("D", "why"),
        ("H", "ask"),
    ]
