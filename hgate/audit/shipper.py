"""Shipping segments to a remote store off the hot path: a bounded queue, one thread, retries.

The PTY loop must never wait for the network, so `submit` only appends to a bounded
queue; a thread ships segments in order, retrying transient failures with exponential
back-off. A store that fails past its retries, refuses a segment, or falls so far behind
that the queue overflows is *failed*: it ships nothing more (the local copy keeps every
line) and its status says why, for the session's failure policy to act on.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections import deque
from dataclasses import dataclass

from hgate.audit.segments import Segment, SegmentRejected, SegmentStore
from hgate.errors import SinkError

__all__ = ["Delivery", "SegmentShipper", "ShipperStatus"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """How hard to try: `retries` after the first attempt, back-off doubling from `backoff`
    seconds up to `max_backoff`, at most `queue_size` segments waiting."""

    retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 10.0
    queue_size: int = 64

    def __post_init__(self) -> None:
        if self.retries < 0 or self.queue_size < 1 or not self.backoff > 0:
            raise ValueError("retries >= 0, queue_size >= 1 and backoff > 0 are required")


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipperStatus:
    """A snapshot: segments 1..`shipped` are stored remotely; `error` says why it stopped."""

    location: str
    shipped: int
    pending: int
    sealed: bool  # the segment holding the seal is stored
    dropped: int  # segments not shipped after the failure (kept by the local copy only)
    error: str | None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "location": self.location,
            "shipped_segments": self.shipped,
            "sealed": self.sealed,
            "status": "failed" if self.failed else "ok",
            "error": self.error,
        }


class SegmentShipper:
    """Feeds one `SegmentStore` from a bounded queue on a background thread."""

    def __init__(self, store: SegmentStore, delivery: Delivery | None = None) -> None:
        self._store = store
        self._delivery = delivery or Delivery()
        self._cond = threading.Condition()
        self._queue: deque[Segment] = deque()
        self._busy = False
        self._closing = False
        self._shipped = 0
        self._sealed = False
        self._dropped = 0
        self._error: str | None = None
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def location(self) -> str:
        return self._store.location

    def start(self, session_id: str) -> None:
        """Check the store (synchronously: a store that cannot work refuses the session),
        then start the shipping thread."""
        try:
            self._store.prepare(session_id)
        except BaseException:
            with contextlib.suppress(SinkError):
                self._store.close()
            raise
        self._thread = threading.Thread(
            target=self._run, name=f"hgate-ship {self.location}", daemon=True
        )
        self._thread.start()

    def submit(self, segment: Segment) -> None:
        """Queue a segment; never blocks. Overflow fails the store rather than wait."""
        with self._cond:
            if self._error is not None or self._closing:
                self._dropped += 1
                return
            if len(self._queue) >= self._delivery.queue_size:
                self._fail_locked(
                    f"{self.location} fell behind: {len(self._queue)} segments waiting "
                    f"(queue_size {self._delivery.queue_size})"
                )
                self._dropped += 1
                return
            self._queue.append(segment)
            self._cond.notify_all()

    def status(self) -> ShipperStatus:
        with self._cond:
            return ShipperStatus(
                location=self.location,
                shipped=self._shipped,
                pending=len(self._queue),
                sealed=self._sealed,
                dropped=self._dropped,
                error=self._error,
            )

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued segment is shipped or the store failed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._error is not None or not (self._queue or self._busy), timeout
            )

    def give_up(self, reason: str) -> None:
        """Fail the store from outside (it did not ship in time): it ships nothing more."""
        with self._cond:
            self._fail_locked(reason)

    def close(self, timeout: float) -> ShipperStatus:
        """Ship what is queued (within `timeout` seconds), stop the thread, release the store."""
        with self._cond:
            self._closing = True
            failed = self._error is not None
            self._cond.notify_all()
        thread = self._thread
        if thread is not None:
            # a failed store ships nothing more: a request still in flight (a collector
            # trickling its answer) is left to its daemon thread, not waited for
            thread.join(0.1 if failed else timeout)
            if thread.is_alive() and not failed:
                self._abort.set()  # cuts a back-off short; a request ends at its deadline
                with self._cond:
                    self._fail_locked(
                        f"{self.location} was still shipping {len(self._queue)} segment(s) "
                        f"after {timeout:g}s"
                    )
                thread.join(timeout)
        try:
            self._store.close()
        except SinkError as exc:
            with self._cond:
                self._fail_locked(str(exc))
        return self.status()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue or self._error is not None:
                    return
                segment = self._queue[0]
                self._busy = True
            error = self._ship(segment)
            with self._cond:
                self._busy = False
                if self._queue and self._queue[0] is segment:
                    self._queue.popleft()
                if error is None:
                    self._shipped = segment.number
                    self._sealed = self._sealed or segment.final
                else:
                    self._dropped += 1
                    self._fail_locked(error)
                self._cond.notify_all()

    def _ship(self, segment: Segment) -> str | None:
        """None once stored; else why it failed, after the retries."""
        delay = self._delivery.backoff
        attempts = self._delivery.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self._store.put(segment)
                return None
            except SegmentRejected as exc:
                return f"{exc} (segment {segment.number}, not retried)"
            except SinkError as exc:
                last = str(exc)
            except Exception as exc:  # a store bug must not kill the thread silently
                last = f"{self.location}: unexpected {type(exc).__name__}: {exc}"
            if attempt == attempts or self._abort.wait(delay * (0.5 + random.random() / 2)):
                break
            delay = min(delay * 2, self._delivery.max_backoff)
        return f"{last} (segment {segment.number}, {attempt} attempt(s))"

    def _fail_locked(self, error: str) -> None:
        """Record the first failure and drop what waits (a segment in flight may still land)."""
        if self._error is not None:
            return
        self._error = error
        keep = 1 if self._busy and self._queue else 0
        self._dropped += len(self._queue) - keep
        while len(self._queue) > keep:
            self._queue.pop()
        self._cond.notify_all()
