"""The stdin filter off the PTY loop: a line held for approval holds later keys, not the session.

With approvals configured, a line typed on the agent's stdin may wait minutes for a
person. So the stdin filter chain (the stdin guard and, through the command gate, the
approval wait) runs here, on one worker thread, key batch by key batch in the order they
were typed. What it lets through reaches the agent through `PtyRunner.send_input` (the
PTY loop writes it; no other thread touches the agent's terminal), so the agent's output
keeps streaming while a line is held.

Keys typed while a line is held wait behind it, unseen by the guard until the decision:
the held line is delivered (approved) or dropped with a message (denied, expired), then
the keys after it are checked and delivered as usual — never before the held line. At
most `MAX_QUEUED` bytes wait; beyond that keys are dropped, and the developer is told.
A terminal approval prompt takes its answer from the keys before they queue here (see
`SessionApprovals.stdin_filter`), so it can be answered while the line waits.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

MAX_QUEUED = 64 * 1024
CLOSE_WAIT = 2.0  # seconds `close` waits for a cancelled hold to report its outcome
DROPPED = b"\r\nhgate: keys dropped: too much typed while a line awaits approval\r\n"


class StdinWorker:
    """`feed` (the PTY loop) queues keys; the worker filters them and `send`s what passes.

    Until `connect(send)` there is nowhere to deliver later, so `feed` filters in place."""

    def __init__(self, inner: Callable[[bytes], bytes], *, echo: Callable[[bytes], None]) -> None:
        self._inner = inner
        self._echo = echo
        self._send: Callable[[bytes], None] | None = None
        self._cond = threading.Condition()
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._dropping = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def connect(self, send: Callable[[bytes], None]) -> None:
        """Deliver what passes with `send` (thread-safe, e.g. `PtyRunner.send_input`)."""
        self._send = send

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self._send is None:
            return self._inner(data)
        with self._cond:
            if self._closed:
                return b""
            if self._queued + len(data) > MAX_QUEUED:
                if not self._dropping:
                    self._echo(DROPPED)
                self._dropping = True
                return b""
            self._dropping = False
            self._queue.append(data)
            self._queued += len(data)
            if self._thread is None:  # started on first key: no thread when stdin is not a tty
                self._thread = threading.Thread(target=self._run, name="hgate-stdin", daemon=True)
                self._thread.start()
            self._cond.notify()
        return b""

    def close(self) -> None:
        """Queued keys are dropped; a hold in progress ends first (its outcome is shown)."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._queued = 0
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(CLOSE_WAIT)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                data = self._queue.popleft()
                self._queued -= len(data)
            try:
                passed = self._inner(data)
            except Exception as exc:  # fail closed: what could not be checked is not sent
                why = f"it could not be checked ({type(exc).__name__})"
                self._echo(f"\r\nhgate: not sent to the agent: {why}\r\n".encode())
                continue
            send = self._send
            if passed and send is not None and not self._closed:
                send(passed)
