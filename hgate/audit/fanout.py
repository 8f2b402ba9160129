"""One transcript, several destinations: the local copy written line by line, remote stores
fed a segment at each signed checkpoint.

The local sink (a directory) is always there and always written first and synchronously:
whatever happens to a remote store, the runner keeps every line, and a remote store never
holds a line the local copy lacks. A local failure raises at once (SinkError, the agent
is stopped); a remote failure never raises here: it shows in `statuses()`, and the session
applies the policy's `on_sink_failure`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from hgate.audit.interface import Sink
from hgate.audit.segments import Segmenter
from hgate.audit.shipper import SegmentShipper, ShipperStatus

__all__ = ["FanoutSink"]


class FanoutSink(Sink):
    """A `Sink` for the TranscriptWriter: `local` plus any number of remote shippers."""

    def __init__(self, local: Sink, remotes: Sequence[SegmentShipper] = ()) -> None:
        self._local = local
        self._remotes = tuple(remotes)
        self._segmenter: Segmenter | None = None
        self._started: list[SegmentShipper] = []
        self._finished: tuple[ShipperStatus, ...] | None = None

    @property
    def location(self) -> str:
        return self._local.location

    @property
    def local(self) -> Sink:
        return self._local

    @property
    def remote_locations(self) -> tuple[str, ...]:
        return tuple(remote.location for remote in self._remotes)

    def open(self, session_id: str) -> None:
        """Check every remote store first (so a refused store leaves no local file behind),
        then create the local transcript."""
        try:
            for remote in self._remotes:
                remote.start(session_id)
                self._started.append(remote)
            self._local.open(session_id)
        except BaseException:
            self.shutdown(timeout=1.0)
            raise
        self._segmenter = Segmenter(session_id)

    def write(self, line: bytes) -> None:
        self._local.write(line)
        if self._segmenter is not None and self._remotes:
            self._segmenter.add(line)

    def sync(self) -> None:
        """Make the local copy durable, then hand the lines since the last sync (they end
        in a signed line) to every remote store as one segment."""
        self._local.sync()
        if self._segmenter is None or not self._remotes:
            return
        segment = self._segmenter.cut()
        if segment is not None:
            for remote in self._started:
                remote.submit(segment)

    def close(self) -> None:
        """Close the local copy; remote stores keep shipping until `shutdown`."""
        self._local.close()

    def statuses(self) -> tuple[ShipperStatus, ...]:
        if self._finished is not None:
            return self._finished
        return tuple(remote.status() for remote in self._started)

    def wait_idle(self, timeout: float) -> tuple[ShipperStatus, ...]:
        """Wait (at most `timeout` seconds in all) until every remote has shipped what it was
        given or has failed; returns the statuses."""
        deadline = time.monotonic() + timeout
        for remote in self._started:
            remote.wait_idle(max(0.0, deadline - time.monotonic()))
        return self.statuses()

    def give_up_unstarted(self, why: str) -> None:
        """Fail every remote that has not stored segment 1 yet (`why` says for how long)."""
        for remote in self._started:
            status = remote.status()
            if not status.failed and status.shipped < 1:
                remote.give_up(f"{remote.location} did not store the first segment {why}")

    def shutdown(self, timeout: float) -> tuple[ShipperStatus, ...]:
        """Ship what is queued (bounded by `timeout` per store), then stop every thread.
        Idempotent; returns the final statuses."""
        if self._finished is None:
            self._finished = tuple(remote.close(timeout) for remote in self._started)
        return self._finished
