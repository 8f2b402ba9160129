"""The stdin worker: a held line holds the keys after it (in order), never the caller."""

from __future__ import annotations

import queue
import threading

from hgate.session.stdin_worker import DROPPED, MAX_QUEUED, StdinWorker

WAIT = 10.0
HOLDING: dict[threading.Event, threading.Event] = {}  # release -> set once the hold began


def held_filter(release: threading.Event) -> tuple[StdinWorker, queue.Queue[bytes], list[bytes]]:
    """A filter that blocks on a line starting with `hold` until `release` is set."""
    sent: queue.Queue[bytes] = queue.Queue()
    echoed: list[bytes] = []
    holding = HOLDING[release] = threading.Event()

    def inner(data: bytes) -> bytes:
        if data.startswith(b"hold"):
            holding.set()
            assert release.wait(WAIT)
        if data.startswith(b"bad"):
            raise RuntimeError("secret-ish detail")
        return data.upper()

    worker = StdinWorker(inner, echo=echoed.append)
    worker.connect(sent.put)
    return worker, sent, echoed


def test_unconnected_it_filters_in_place() -> None:
    worker = StdinWorker(lambda data: data + b"!", echo=lambda _d: None)
    assert worker.feed(b"ls\r") == b"ls\r!"


def test_a_held_batch_holds_later_keys_behind_it_but_not_the_caller() -> None:
    release = threading.Event()
    worker, sent, _ = held_filter(release)
    try:
        assert worker.feed(b"hold-this\r") == b""  # returns at once: the caller goes on
        assert worker.feed(b"later\r") == b""
        assert sent.empty()
        release.set()
        assert sent.get(timeout=WAIT) == b"HOLD-THIS\r"
        assert sent.get(timeout=WAIT) == b"LATER\r"  # never before the held line
    finally:
        worker.close()


def test_too_much_typed_while_held_is_dropped_and_said_once() -> None:
    release = threading.Event()
    worker, sent, echoed = held_filter(release)
    try:
        worker.feed(b"hold\r")
        assert HOLDING[release].wait(WAIT)
        worker.feed(b"x" * MAX_QUEUED)
        worker.feed(b"y")
        worker.feed(b"z")
        assert echoed.count(DROPPED) == 1
        release.set()
        assert sent.get(timeout=WAIT) == b"HOLD\r"
        assert sent.get(timeout=WAIT) == b"X" * MAX_QUEUED
        worker.feed(b"w")  # room again once the queue drains
        assert sent.get(timeout=WAIT) == b"W"
    finally:
        worker.close()


def test_a_filter_failure_sends_nothing_and_says_so_without_details() -> None:
    worker, sent, echoed = held_filter(threading.Event())
    try:
        worker.feed(b"bad line\r")
        worker.feed(b"ok\r")
        assert sent.get(timeout=WAIT) == b"OK\r"
        text = b"".join(echoed)
        assert b"not sent to the agent: it could not be checked (RuntimeError)" in text
        assert b"secret-ish" not in text
    finally:
        worker.close()


def test_after_close_keys_go_nowhere() -> None:
    worker, sent, _ = held_filter(threading.Event())
    worker.feed(b"a")
    assert sent.get(timeout=WAIT) == b"A"
    worker.close()
    assert worker.feed(b"b") == b""
    assert sent.empty()
