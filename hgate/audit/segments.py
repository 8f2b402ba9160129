"""Segments: the transcript cut at each signed checkpoint, the unit remote sinks store.

A segment is the exact bytes of consecutive transcript lines, ending in a checkpoint or
the seal, so every segment a remote store holds is attested by its own last line, and
concatenating segments 1..N gives back the transcript byte for byte. `SegmentStore` is
the extension point for remote storage (S3, an HTTP collector); it is used through a
`SegmentShipper`, never from the agent's hot path.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hgate.audit import format as fmt
from hgate.errors import SinkError

__all__ = [
    "SEGMENT_NAME_RE",
    "Segment",
    "SegmentRejected",
    "SegmentStore",
    "Segmenter",
    "describe",
    "segment_name",
    "segment_number",
]

SEGMENT_NAME_RE = re.compile(r"([0-9]{6,})\.jsonl\Z")
"""How a stored segment is named: its number, zero-padded to six digits, `.jsonl`.
A name can match this and still not be one hgate writes (`0000001.jsonl`, `000000.jsonl`):
`segment_number` says whether it is."""


def segment_name(number: int) -> str:
    return f"{number:06d}.jsonl"


def segment_number(name: str) -> int | None:
    """The segment number `name` stands for, only if it is exactly the name hgate gives
    that segment (`segment_name(n) == name`, n >= 1); None for anything else, so that no
    second spelling of a number (`0000001.jsonl`) and no segment 0 can pass for one."""
    match = SEGMENT_NAME_RE.match(name)
    if match is None:
        return None
    number = int(match.group(1))
    if number < 1 or segment_name(number) != name:
        return None
    return number


class SegmentRejected(SinkError):
    """The store refused a segment for good (a different one holds that number, no
    permission): retrying cannot help, so the shipper fails at once."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """Lines `first_seq..last_seq` of one session's transcript, as written."""

    session_id: str
    number: int
    first_seq: int
    last_seq: int
    prev: str  # SHA-256 hex of the line before first_seq (64 zeros for segment 1)
    chain_head: str  # SHA-256 hex of the last line: the next line's `prev`
    final: bool  # the last line is the seal
    data: bytes

    @property
    def name(self) -> str:
        return segment_name(self.number)

    def lines(self) -> list[str]:
        """The lines as text without their newline (JSON never holds a raw newline)."""
        return self.data.decode("utf-8").split("\n")[:-1]

    def to_json(self) -> dict[str, Any]:
        """The collector contract's POST body (docs/sinks.md)."""
        return {
            "session_id": self.session_id,
            "segment": self.number,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "prev": self.prev,
            "chain_head": self.chain_head,
            "final": self.final,
            "lines": self.lines(),
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Segment:
        """Check a POST body against its own lines; ValueError says what disagrees."""
        lines = body.get("lines")
        if not isinstance(lines, list) or not lines or not all(isinstance(x, str) for x in lines):
            raise ValueError("lines must be a non-empty list of strings")
        if any("\n" in line for line in lines):
            raise ValueError("a line holds a newline")
        session_id, number = body.get("session_id"), body.get("segment")
        if not isinstance(session_id, str) or not fmt.SESSION_ID_RE.match(session_id):
            raise ValueError("session_id is missing or not a valid session id")
        if type(number) is not int or number < 1:
            raise ValueError("segment must be a positive integer")
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        segment = describe(session_id, number, data, prev=str(body.get("prev")))
        for key in ("first_seq", "last_seq", "chain_head", "final"):
            if body.get(key) != getattr(segment, key):
                raise ValueError(f"{key} does not match the lines")
        return segment


def describe(session_id: str, number: int, data: bytes, *, prev: str) -> Segment:
    """A Segment for stored bytes; ValueError if they are not whole transcript lines."""
    if not data.endswith(b"\n"):
        raise ValueError("the segment does not end with a newline")
    first_end = data.index(b"\n") + 1
    last_start = data.rfind(b"\n", 0, len(data) - 1) + 1
    try:
        first = fmt.parse_line(data[:first_end])
        last = fmt.parse_line(data[last_start:])
    except fmt.LineError as exc:
        raise ValueError(f"a line {exc}") from exc
    first_seq, last_seq = first.get("seq"), last.get("seq")
    if type(first_seq) is not int or type(last_seq) is not int:
        raise ValueError("the first or last line has no integer seq")
    if last_seq - first_seq + 1 != data.count(b"\n"):
        raise ValueError("the seq numbers do not match the number of lines")
    if first.get("prev") != prev:
        raise ValueError("prev is not the first line's prev")
    if last.get("type") not in (fmt.CHECKPOINT, fmt.SEAL):
        raise ValueError("the segment does not end with a checkpoint or the seal")
    return Segment(
        session_id=session_id,
        number=number,
        first_seq=first_seq,
        last_seq=last_seq,
        prev=prev,
        chain_head=hashlib.sha256(data[last_start:]).hexdigest(),
        final=last.get("type") == fmt.SEAL,
        data=data,
    )


class Segmenter:
    """Collects lines as the writer emits them and cuts a segment at each sync.

    The writer syncs right after every signed line (start checkpoint, checkpoints, seal),
    so a cut always ends in a signature. Cost on the hot path: one list append per line.
    """

    def __init__(self, session_id: str) -> None:
        self._session_id = session_id
        self._lines: list[bytes] = []
        self._number = 0
        self._next_seq = 1
        self._prev = fmt.GENESIS_PREV

    def add(self, line: bytes) -> None:
        self._lines.append(line)

    def cut(self) -> Segment | None:
        """The lines since the last cut as the next segment; None if there are none."""
        if not self._lines:
            return None
        data = b"".join(self._lines)
        last = self._lines[-1]
        count = len(self._lines)
        self._lines = []
        self._number += 1
        try:
            final = fmt.parse_line(last).get("type") == fmt.SEAL
        except fmt.LineError:
            final = False
        segment = Segment(
            session_id=self._session_id,
            number=self._number,
            first_seq=self._next_seq,
            last_seq=self._next_seq + count - 1,
            prev=self._prev,
            chain_head=hashlib.sha256(last).hexdigest(),
            final=final,
            data=data,
        )
        self._next_seq += count
        self._prev = segment.chain_head
        return segment


class SegmentStore(ABC):
    """Remote, write-once storage for one session's segments.

    `prepare` runs before the transcript starts (and before the agent), so a store that
    cannot work refuses the session. `put` must be idempotent: storing a segment that is
    already there byte for byte succeeds; a different one under the same number raises
    `SegmentRejected`. Transient failures raise `SinkError` and are retried by the
    shipper. Both are called from the shipper's thread, never from the PTY loop.
    """

    @abstractmethod
    def prepare(self, session_id: str) -> None:
        """Check the store is usable for `session_id` (reachable, write-once, empty)."""

    @abstractmethod
    def put(self, segment: Segment) -> None:
        """Store one segment durably, or raise SinkError (SegmentRejected if final)."""

    def close(self) -> None:  # noqa: B027 - most stores hold nothing to release
        """Release connections; called once after the last put."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the segments go, for humans and for `hgate verify` (a URL)."""
