"""The fan-out sink: the local copy first and always; remote failures never raise here."""

from __future__ import annotations

import pytest

from hgate.audit import Signer, TranscriptWriter
from hgate.audit.fanout import FanoutSink
from hgate.audit.shipper import SegmentShipper
from hgate.errors import SinkError

from .conftest import HEADER, FakeClock, MemorySink, sample_events
from .segment_tools import FAST, MemoryStore


def _writer(sink: FanoutSink, signer: Signer) -> TranscriptWriter:
    return TranscriptWriter(sink, signer, checkpoint_every_lines=2, clock=FakeClock())


def test_local_and_remote_hold_the_same_bytes(signer: Signer) -> None:
    local, first, second = MemorySink(), MemoryStore(), MemoryStore()
    sink = FanoutSink(local, [SegmentShipper(first, FAST), SegmentShipper(second, FAST)])
    writer = _writer(sink, signer)
    writer.start(HEADER)
    for event_type, data in sample_events(5):
        writer.append(event_type, data)
    writer.seal(exit_code=0, reason="exited")
    statuses = sink.shutdown(5)
    assert all(s.sealed and not s.failed for s in statuses)
    assert first.data == second.data == local.data
    assert sink.location == "memory" and sink.remote_locations == ("memory://segments",) * 2
    assert sink.shutdown(5) is statuses  # idempotent


def test_a_refused_remote_leaves_no_local_transcript(signer: Signer) -> None:
    local, store = MemorySink(), MemoryStore()
    store.refuse_prepare = True
    writer = _writer(FanoutSink(local, [SegmentShipper(store, FAST)]), signer)
    with pytest.raises(SinkError, match="refuses this session"):
        writer.start(HEADER)
    assert local.session_id is None and not local.lines


def test_a_failing_remote_does_not_stop_the_local_copy(signer: Signer) -> None:
    local, store = MemorySink(), MemoryStore(fail_next=1000)
    sink = FanoutSink(local, [SegmentShipper(store, FAST)])
    writer = _writer(sink, signer)
    writer.start(HEADER)
    (status,) = sink.wait_idle(5)
    assert status.failed and status.shipped == 0
    for event_type, data in sample_events(5):
        writer.append(event_type, data)
    writer.seal(exit_code=0, reason="exited")
    assert local.closed and len(local.lines) == writer.lines_written
    (final,) = sink.shutdown(5)
    assert final.dropped >= 3 and not store.segments


def test_a_local_failure_raises_at_once(signer: Signer) -> None:
    store = MemoryStore()
    sink = FanoutSink(MemorySink(fail_after=3), [SegmentShipper(store, FAST)])
    writer = _writer(sink, signer)
    writer.start(HEADER)
    with pytest.raises(SinkError, match="No space left"):
        for event_type, data in sample_events(5):
            writer.append(event_type, data)
    sink.shutdown(5)
    assert list(store.segments) == [1]  # the remote never gets a line the local copy lacks
