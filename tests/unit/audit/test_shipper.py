"""The shipper: in order, retried with back-off, never blocking, failing loudly."""

from __future__ import annotations

import time

import pytest

from hgate.audit import Segment, Signer
from hgate.audit.shipper import Delivery, SegmentShipper
from hgate.errors import SinkError

from .conftest import sample_events
from .segment_tools import FAST, MemoryStore, write_segmented


@pytest.fixture
def segments(signer: Signer) -> list[Segment]:
    return write_segmented(signer, sample_events(8), every=2)[1]


def _ship(store: MemoryStore, segments: list[Segment], delivery: Delivery = FAST) -> SegmentShipper:
    shipper = SegmentShipper(store, delivery)
    shipper.start("sess-0001")
    for segment in segments:
        shipper.submit(segment)
    return shipper


def test_ships_every_segment_in_order(segments: list[Segment]) -> None:
    store = MemoryStore()
    status = _ship(store, segments).close(5)
    assert store.prepared == "sess-0001" and store.closed
    assert list(store.segments) == [s.number for s in segments]
    assert (status.shipped, status.sealed, status.failed, status.dropped) == (
        len(segments),
        True,
        False,
        0,
    )


def test_transient_failures_are_retried(segments: list[Segment]) -> None:
    store = MemoryStore(fail_next=2)  # two failures, then success: within retries=2
    status = _ship(store, segments[:1]).close(5)
    assert not status.failed and store.attempts == 3 and 1 in store.segments


def test_failure_past_retries_stops_shipping_and_says_why(segments: list[Segment]) -> None:
    store = MemoryStore(fail_next=100)
    shipper = _ship(store, segments)
    assert shipper.wait_idle(5)
    status = shipper.close(5)
    assert status.failed and status.shipped == 0 and not status.sealed
    assert status.error == "connection refused (segment 1, 3 attempt(s))"
    assert status.dropped == len(segments)
    assert store.attempts == 3  # nothing after the failure is tried
    assert status.to_dict()["status"] == "failed"


def test_a_refused_segment_is_not_retried(segments: list[Segment]) -> None:
    store = MemoryStore(reject=True)
    status = _ship(store, segments[:1]).close(5)
    assert store.attempts == 1
    assert status.error is not None and "not retried" in status.error


def test_a_store_bug_fails_the_store_not_the_thread(segments: list[Segment]) -> None:
    store = MemoryStore()
    store.explode = True
    status = _ship(store, segments[:1]).close(5)
    assert status.error is not None and "unexpected RuntimeError: store bug" in status.error


def test_submit_never_blocks_and_overflow_fails_the_store(segments: list[Segment]) -> None:
    store = MemoryStore()
    store.gate.clear()  # the remote hangs
    shipper = SegmentShipper(store, Delivery(retries=0, backoff=0.001, queue_size=2))
    shipper.start("sess-0001")
    shipper.submit(segments[0])
    deadline = time.monotonic() + 5
    while store.attempts == 0 and time.monotonic() < deadline:  # segment 1 is in flight
        time.sleep(0.001)
    started = time.monotonic()
    for segment in segments[1:]:
        shipper.submit(segment)
    assert time.monotonic() - started < 0.5
    status = shipper.status()
    assert status.error is not None and "fell behind: 2 segments waiting" in status.error
    store.gate.set()
    final = shipper.close(5)
    assert final.shipped == 1  # the one in flight landed; nothing after it was tried
    assert final.dropped == len(segments) - 1


def test_close_gives_up_on_a_hanging_store(segments: list[Segment]) -> None:
    store = MemoryStore()
    store.gate.clear()
    shipper = _ship(store, segments[:1])
    status = shipper.close(0.2)
    assert status.error is not None and "still shipping" in status.error
    store.gate.set()


def test_give_up_fails_a_store_stuck_on_a_segment(segments: list[Segment]) -> None:
    """What the session does when segment 1 is still not stored as the agent is due."""
    store = MemoryStore()
    store.gate.clear()
    shipper = _ship(store, segments[:3])
    shipper.give_up("did not store the first segment within 6s")
    status = shipper.status()
    assert status.failed and status.error == "did not store the first segment within 6s"
    assert status.pending <= 1  # only the one in flight may still land
    shipper.submit(segments[3])
    assert shipper.status().dropped >= 3
    store.gate.set()
    shipper.close(1.0)
    assert sorted(store.segments) in ([], [segments[0].number])


def test_closing_a_given_up_store_does_not_wait_for_its_request_in_flight(
    segments: list[Segment],
) -> None:
    """A collector trickling its answer holds the shipping thread in a request; once the
    store has been given up, closing it must not wait that request out (the session's
    exit took twice its patience more)."""
    store = MemoryStore()
    store.gate.clear()  # the request in flight holds for 5 s (MemoryStore's bound)
    shipper = _ship(store, segments[:1])
    deadline = time.monotonic() + 5
    while store.attempts == 0 and time.monotonic() < deadline:
        time.sleep(0.001)  # the thread is inside `put`
    assert store.attempts == 1, "no request in flight"
    shipper.give_up("did not store the first segment within 6s")
    try:
        started = time.monotonic()
        status = shipper.close(30.0)
        assert time.monotonic() - started < 2.0  # not until the request gives up (5 s)
        assert status.failed and not store.gate.is_set()
    finally:
        store.gate.set()


def test_a_store_that_refuses_the_session_is_closed() -> None:
    store = MemoryStore()
    store.refuse_prepare = True
    with pytest.raises(SinkError, match="refuses this session"):
        SegmentShipper(store, FAST).start("sess-0001")
    assert store.closed


def test_delivery_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="queue_size >= 1"):
        Delivery(queue_size=0)
