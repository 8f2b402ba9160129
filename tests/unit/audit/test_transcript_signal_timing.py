"""A terminating signal that lands while a line is being written must not break the chain.

hgate turns SIGTERM, SIGHUP, … into SignalStop (a KeyboardInterrupt) outside the PTY loop
and then seals the transcript. If the exception surfaces after a line reached the file but
before the writer recorded it (its seq, its hash, the event count), the seal would carry
a stale `prev`/`seq` or wrong totals: INVALID, which a killed hgate must never leave.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hgate.audit import DirectorySink, Signer, TranscriptWriter, Verdict, verify_transcript
from hgate.errors import HgateError, SinkError
from tests.unit.audit.conftest import HEADER


class _Stop(KeyboardInterrupt):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


@pytest.fixture
def usr1_raises() -> Iterator[None]:
    previous = signal.signal(signal.SIGUSR1, _raise_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


class _SignalAfterWrite(DirectorySink):
    """The real directory sink; the signal arrives the moment write(2) has returned."""

    armed_at = -1
    writes = 0

    def write(self, line: bytes) -> None:
        super().write(line)
        self.writes += 1
        if self.writes == self.armed_at:
            os.kill(os.getpid(), signal.SIGUSR1)


@pytest.mark.usefixtures("usr1_raises")
@pytest.mark.parametrize("armed_at", [3, 4, 5, 6])
def test_signal_after_a_write_then_seal_is_never_invalid(
    tmp_path: Path, signer: Signer, public_key: Ed25519PublicKey, armed_at: int
) -> None:
    sink = _SignalAfterWrite(tmp_path)
    sink.armed_at = armed_at  # lines 3-5 are events, line 6 a checkpoint
    writer = TranscriptWriter(sink, signer, checkpoint_every_lines=3)
    writer.start(HEADER)
    stopped = False
    try:
        for n in range(6):
            writer.append("output", {"n": n})
    except _Stop:
        stopped = True
    # what hgate does with a SignalStop: seal with the signal, if the writer still can
    with contextlib.suppress(HgateError):  # a writer that refuses leaves an INCOMPLETE file
        writer.seal(exit_code=138, reason="stopped: hgate received SIGUSR1")
    report = verify_transcript(tmp_path / f"{HEADER['session_id']}.jsonl", public_key)
    assert report.verdict in (Verdict.VALID, Verdict.INCOMPLETE), report.verdict
    assert stopped or report.verdict is Verdict.VALID


class _InterruptAfterWrite(DirectorySink):
    """As if another thread took the signal: the interrupt surfaces in the main thread
    while the signals it holds are still blocked, right after the line reached the file."""

    armed_at = -1
    writes = 0

    def write(self, line: bytes) -> None:
        super().write(line)
        self.writes += 1
        if self.writes == self.armed_at:
            raise _Stop(signal.SIGTERM)


@pytest.mark.parametrize("armed_at", [3, 4, 5, 6])
def test_interrupt_that_escapes_the_mask_stops_the_writer(
    tmp_path: Path, signer: Signer, public_key: Ed25519PublicKey, armed_at: int
) -> None:
    sink = _InterruptAfterWrite(tmp_path)
    sink.armed_at = armed_at
    writer = TranscriptWriter(sink, signer, checkpoint_every_lines=3)
    writer.start(HEADER)
    with pytest.raises(_Stop):
        for n in range(6):
            writer.append("output", {"n": n})
    with pytest.raises(SinkError, match="stopped after a write failure"):
        writer.seal(exit_code=143, reason="stopped: hgate received SIGTERM")
    report = verify_transcript(tmp_path / f"{HEADER['session_id']}.jsonl", public_key)
    assert report.verdict is Verdict.INCOMPLETE, report.verdict
