"""Test doubles for remote segment storage: an in-memory store that can fail on cue, and
a builder for a transcript written through a FanoutSink (so its segments are real cuts)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from hgate.audit import Segment, SegmentRejected, SegmentStore, Signer, TranscriptWriter
from hgate.audit.fanout import FanoutSink
from hgate.audit.shipper import Delivery, SegmentShipper
from hgate.errors import SinkError

from .conftest import HEADER, FakeClock, MemorySink

FAST = Delivery(retries=2, backoff=0.001, max_backoff=0.002, queue_size=8)


class MemoryStore(SegmentStore):
    """Keeps segments by number; `fail_next` transient failures, `reject`, `gate` blocks."""

    def __init__(self, *, fail_next: int = 0, reject: bool = False) -> None:
        self.segments: dict[int, Segment] = {}
        self.attempts = 0
        self.fail_next = fail_next
        self.reject = reject
        self.gate = threading.Event()
        self.gate.set()
        self.prepared: str | None = None
        self.closed = False
        self.refuse_prepare = False
        self.explode = False

    @property
    def location(self) -> str:
        return "memory://segments"

    def prepare(self, session_id: str) -> None:
        if self.refuse_prepare:
            raise SinkError("memory store refuses this session")
        self.prepared = session_id

    def put(self, segment: Segment) -> None:
        self.attempts += 1
        self.gate.wait(5)
        if self.explode:
            raise RuntimeError("store bug")
        if self.reject:
            raise SegmentRejected(f"segment {segment.number} refused")
        if self.fail_next:
            self.fail_next -= 1
            raise SinkError("connection refused")
        self.segments[segment.number] = segment

    def close(self) -> None:
        self.closed = True

    @property
    def data(self) -> bytes:
        return b"".join(self.segments[n].data for n in sorted(self.segments))


def write_segmented(
    signer: Signer,
    events: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    every: int = 3,
    seal: bool = True,
) -> tuple[bytes, list[Segment]]:
    """(the local transcript, the segments a remote store received), written for real."""
    local, store = MemorySink(), MemoryStore()
    shipper = SegmentShipper(store, FAST)
    sink = FanoutSink(local, [shipper])
    writer = TranscriptWriter(sink, signer, checkpoint_every_lines=every, clock=FakeClock())
    writer.start(HEADER)
    for event_type, data in events:
        writer.append(event_type, data)
    if seal:
        writer.seal(exit_code=0, reason="exited")
    statuses = sink.shutdown(5)
    assert not statuses[0].failed, statuses
    return local.data, [store.segments[n] for n in sorted(store.segments)]
