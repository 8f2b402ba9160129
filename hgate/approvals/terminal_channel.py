"""Approvals at the controlling terminal, for a developer reproducing a run locally.

The developer answers `y` (approve) or `n REASON` (deny); the answer is signed with
their own key (the policy's `key:`, e.g. ~/.ssh/id_ed25519) and then checked like any
other decision, so the approver list and the self-approval rule still apply. One prompt
is shown at a time; other requests wait their turn (and may expire while they do).

Two ways to read the answer: from /dev/tty directly (no one else reads the terminal),
or fed by the session's stdin filter when hgate already forwards the terminal's keys to
the agent (`feed`), so the agent never sees the answer and hgate never races itself.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import termios
import threading
import time
from collections.abc import Callable, Sequence

from hgate.approvals.decision import Kind, sign_decision
from hgate.approvals.interface import ApprovalError, ApprovalOutcome, Channel, Received
from hgate.approvals.request import ApprovalRequest
from hgate.audit.keys import Signer
from hgate.audit.report import printable

_ENTER = (0x0D, 0x0A)
_ERASE = (0x7F, 0x08)


class TerminalChannel(Channel):
    """A y/n prompt; `fed=True` takes the keys from `feed` instead of reading the tty."""

    kind = "terminal"

    def __init__(
        self,
        signer: Signer,
        *,
        tty_path: str = "/dev/tty",
        fed: bool = False,
        echo: Callable[[bytes], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signer = signer
        self._clock = clock
        self._fed = fed
        self._lock = threading.Lock()
        self._owner: str | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self._typed = bytearray()
        self._feeder: int | None = None  # the thread that calls `feed` (the PTY loop)
        try:
            self._fd = os.open(tty_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise ApprovalError(
                f"the terminal approvals channel needs a terminal ({tty_path}: {exc.strerror})",
                remedy="use the directory or http channel in CI",
            ) from exc
        self._echo = echo or (lambda data: os.write(self._fd, data) and None)

    def describe(self) -> str:
        return "the terminal"

    def close(self) -> None:
        os.close(self._fd)

    def publish(self, request: ApprovalRequest) -> None:
        """Nothing yet: the prompt is shown when this request's turn comes."""

    def received(self, request: ApprovalRequest, *, wait: float) -> Sequence[Received]:
        with self._lock:
            if self._owner is None:
                self._owner = request.id
                self._prompt(request)
            mine = self._owner == request.id
        if not mine:
            time.sleep(wait)
            return ()
        answer = self._read_line(wait)
        if answer is None:
            return ()
        kind, reason = _parse(answer)
        if kind is None:
            self._say("answer y to approve, or n and a reason to deny: ")
            return ()
        with self._lock:
            self._owner = None
        decision = sign_decision(
            request, self._signer, decision=kind, reason=reason, now=self._clock()
        )
        return (Received(key=decision.signature, decision=decision),)

    def conclude(self, request: ApprovalRequest, outcome: ApprovalOutcome) -> None:
        with self._lock:
            if self._owner == request.id:
                self._owner = None
                closed = printable(outcome.reason)  # a denial's reason is free text
                self._say(f"\r\nhgate: request {request.id} closed: {closed}\r\n")

    @property
    def prompting(self) -> bool:
        return self._owner is not None

    def feed(self, data: bytes) -> bytes:
        """The session's stdin filter: while a prompt is open, keys answer it (and are
        echoed here); otherwise they go on to the agent unchanged."""
        self._feeder = threading.get_ident()
        if not self._fed or self._owner is None:
            return data
        for byte in data:
            if byte in _ENTER:
                self._echo(b"\r\n")
                self._lines.put(self._typed.decode("utf-8", "replace"))
                self._typed.clear()
            elif byte in _ERASE:
                if self._typed:
                    self._typed.pop()
                    self._echo(b"\b \b")
            elif byte >= 0x20:
                self._typed.append(byte)
                self._echo(bytes([byte]))
        return b""

    def _prompt(self, request: ApprovalRequest) -> None:
        """Only keys typed after this prompt can answer it: a line left over from an
        earlier prompt (its request expired as Enter was pressed) or typed ahead (a `y`
        meant for the agent's own question, timed by the agent to meet this prompt) would
        otherwise approve a request the developer never saw."""
        self._discard_typed_ahead()
        self._say(
            f"\r\nhgate: approval needed · request {request.id}\r\n"
            f"hgate: {request.summary()}\r\n"
            f"hgate: approve as {self._signer.key_id}? [y / n REASON] "
        )

    def _discard_typed_ahead(self) -> None:
        self._typed.clear()
        while True:
            try:
                self._lines.get_nowait()
            except queue.Empty:
                break
        if not self._fed:
            with contextlib.suppress(OSError, termios.error):
                termios.tcflush(self._fd, termios.TCIFLUSH)

    def _say(self, text: str) -> None:
        self._echo(text.encode("utf-8", "replace"))

    def _read_line(self, wait: float) -> str | None:
        # The feeder itself waiting (a held stdin line) cannot feed: read the tty directly.
        if self._fed and self._feeder != threading.get_ident():
            try:
                return self._lines.get(timeout=wait)
            except queue.Empty:
                return None
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                break
            chunk = os.read(self._fd, 1024)
            if not chunk:
                break
            self._typed += chunk
            for mark in (b"\n", b"\r"):
                if mark in self._typed:
                    line, _, rest = bytes(self._typed).partition(mark)
                    self._typed[:] = rest
                    return line.decode("utf-8", "replace")
        return None


def _parse(answer: str) -> tuple[Kind | None, str]:
    word, _, rest = answer.strip().partition(" ")
    word = word.lower()
    if word in ("y", "yes", "approve"):
        return "approve", rest.strip()
    if word in ("n", "no", "deny"):
        return "deny", rest.strip() or "denied at the terminal"
    return None, ""
