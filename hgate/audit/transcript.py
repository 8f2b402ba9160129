"""The session transcript writer: a hash-chained JSONL stream with signed checkpoints.

Every line carries `seq` (its 1-based line number) and `prev` (SHA-256 hex of the
previous line's exact bytes). Checkpoints and the final seal are Ed25519-signed over
their own bytes, which include `prev`, so each signature attests every line before it.
The format is the public contract in docs/transcript.md; hgate.audit.verify checks it.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from hgate.audit import format as fmt
from hgate.audit.interface import Sink
from hgate.audit.keys import Signer
from hgate.errors import HgateError, SinkError

_NEW, _OPEN, _SEALED, _FAILED = "new", "open", "sealed", "failed"

# Held while a line is written and accounted for: hgate's handlers raise SignalStop (a
# KeyboardInterrupt) for SIGTERM, SIGHUP, ..., and one surfacing between write(2) and the
# bookkeeping would make the seal's seq, prev or totals disagree with the file (INVALID).
_HELD_SIGNALS = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}


class TranscriptWriter:
    """Appends events for one session to a sink; thread-safe (PTY loop and timers).

    Cost per `append`: one json encode, one SHA-256 and one `sink.write` (an `os.write`
    for the directory sink), so a SIGKILL loses no line already appended. Checkpoints
    come every `checkpoint_every_lines` events, or from `tick()` once
    `checkpoint_every_seconds` have passed with new events; each one is synced.
    """

    def __init__(
        self,
        sink: Sink,
        signer: Signer,
        *,
        checkpoint_every_lines: int = 1000,
        checkpoint_every_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if checkpoint_every_lines < 1:
            raise ValueError("checkpoint_every_lines must be at least 1")
        if not checkpoint_every_seconds > 0:
            raise ValueError("checkpoint_every_seconds must be positive")
        self._sink = sink
        self._signer = signer
        self._every_lines = checkpoint_every_lines
        self._every_seconds = checkpoint_every_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = _NEW
        self._session_id = ""
        self._seq = 0
        self._prev = fmt.GENESIS_PREV
        self._counts: dict[str, int] = {}
        self._checkpoints = 0
        self._since_checkpoint = 0
        self._last_checkpoint_at = 0.0
        self._known_types: set[str] = set()
        self._failure = ""  # why the sink failed: every later refusal repeats it
        self._dirty = False  # a line went to the sink and is not yet fully accounted for

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def location(self) -> str:
        return self._sink.location

    @property
    def counts(self) -> Mapping[str, int]:
        """Events appended so far, by type (a read-only snapshot)."""
        with self._lock:
            return MappingProxyType(dict(self._counts))

    @property
    def lines_written(self) -> int:
        return self._seq

    def start(self, header: Mapping[str, Any]) -> None:
        """Open the sink, write the header and the signed start checkpoint, and sync.

        `header` holds the session's fields (session_id, hgate_version, started_at,
        policy, identity, command, host, ci, masking); the writer adds the format fields.
        """
        with self._writing():
            if self._state != _NEW:
                raise HgateError(f"transcript {self.location} was already started")
            session_id = header.get("session_id")
            if not isinstance(session_id, str) or not fmt.SESSION_ID_RE.match(session_id):
                raise HgateError(
                    "transcript header needs a session_id of letters, digits, '.', '_', '-'"
                )
            clash = sorted(set(header) & _WRITER_HEADER_KEYS)
            if clash:
                raise HgateError(f"transcript header fields {clash} are set by the writer")
            self._sink.open(session_id)
            self._session_id = session_id
            self._state = _OPEN
            line: dict[str, Any] = {
                "seq": 1,
                "prev": self._prev,
                "t": self._now(),
                "type": fmt.HEADER,
                "format": fmt.FORMAT_NAME,
                "version": fmt.FORMAT_VERSION,
                "hash": fmt.HASH_ALG,
                "sig_alg": fmt.SIG_ALG,
                "key_id": self._signer.key_id,
            }
            line.update(header)
            self._write(1, self._encode(line, "header"))
            self._checkpoint_locked(nonce=secrets.token_hex(16))

    def append(self, event_type: str, data: Mapping[str, Any]) -> int:
        """Append one event; returns its seq (line number). Checkpoints every N events."""
        with self._writing():
            self._require_open()
            if event_type not in self._known_types:
                _check_event_type(event_type)
                self._known_types.add(event_type)
            seq = self._seq + 1
            line = {
                "seq": seq,
                "prev": self._prev,
                "t": self._now(),
                "type": event_type,
                "data": data if isinstance(data, dict) else dict(data),
            }
            self._write(seq, self._encode(line, event_type))
            self._counts[event_type] = self._counts.get(event_type, 0) + 1
            self._since_checkpoint += 1
            if self._since_checkpoint >= self._every_lines:
                self._checkpoint_locked()
            return seq

    def tick(self) -> None:
        """Checkpoint if the interval has passed and events arrived; a no-op once sealed."""
        with self._writing():
            if self._state != _OPEN or not self._since_checkpoint:
                return
            if self._clock() - self._last_checkpoint_at >= self._every_seconds:
                self._checkpoint_locked()

    def checkpoint(self) -> None:
        """Sign the chain head now (a no-op when no event arrived since the last one)."""
        with self._writing():
            self._require_open()
            if self._since_checkpoint:
                self._checkpoint_locked()

    def seal(
        self, *, exit_code: int | None, reason: str, extra: Mapping[str, Any] | None = None
    ) -> None:
        """Write the signed seal (it is the final checkpoint), sync and close the sink."""
        with self._writing():
            self._require_open()
            seq = self._seq + 1
            ended = self._clock()
            line = {
                "seq": seq,
                "prev": self._prev,
                "t": self._now(ended),
                "type": fmt.SEAL,
                "key_id": self._signer.key_id,
                "exit_code": exit_code,
                "reason": reason,
                "ended_at": _iso(ended),
                "totals": {
                    "lines": seq,
                    "checkpoints": self._checkpoints,
                    "events": dict(sorted(self._counts.items())),
                },
                "extra": dict(extra or {}),
            }
            unsigned = self._encode(line, "seal")[:-1]
            self._write(seq, fmt.sign_line(unsigned, self._signer.sign))
            try:
                self._sink.sync()
                self._sink.close()
            except BaseException as exc:
                self._fail(exc)
                raise
            self._state = _SEALED

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The lock, with terminating signals held until the line is accounted for.

        Another thread may still take a signal the main thread holds and trip Python's
        handler inside; so if anything escapes after a line went to the sink and before
        it was counted, the writer stops: no later line (no seal) can contradict the file,
        which then verifies INCOMPLETE, never INVALID.
        """
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
        try:
            with self._lock:
                try:
                    yield
                except BaseException as exc:
                    if self._dirty and self._state == _OPEN:
                        self._fail(exc)
                    raise
                finally:
                    self._dirty = False
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _checkpoint_locked(self, *, nonce: str | None = None) -> None:
        seq = self._seq + 1
        now = self._clock()
        line: dict[str, Any] = {"seq": seq, "prev": self._prev, "t": self._now(now)}
        line["type"] = fmt.CHECKPOINT
        if nonce is not None:
            line["nonce"] = nonce
        line["key_id"] = self._signer.key_id
        unsigned = self._encode(line, "checkpoint")[:-1]
        self._write(seq, fmt.sign_line(unsigned, self._signer.sign))
        try:
            self._sink.sync()
        except BaseException as exc:
            self._fail(exc)
            raise
        self._checkpoints += 1
        self._since_checkpoint = 0
        self._last_checkpoint_at = now

    def _encode(self, line: dict[str, Any], what: str) -> bytes:
        try:
            return fmt.encode_line(line) + b"\n"
        except (TypeError, ValueError, RecursionError) as exc:
            raise HgateError(f"transcript {what} line cannot be serialised: {exc}") from exc

    def _write(self, seq: int, line: bytes) -> None:
        self._dirty = True  # cleared by _writing once the caller's bookkeeping is done
        try:
            self._sink.write(line)
        except SinkError as exc:
            self._fail(exc)
            raise
        except Exception as exc:
            error = SinkError(f"transcript sink {self.location} failed: {exc}")
            self._fail(error)
            raise error from exc
        self._seq = seq
        self._prev = hashlib.sha256(line).hexdigest()

    def _now(self, value: float | None = None) -> float:
        now = self._clock() if value is None else value
        if not math.isfinite(now):
            raise HgateError("the transcript clock returned a non-finite time")
        return round(now, 6)

    def _require_open(self) -> None:
        if self._state == _OPEN:
            return
        if self._state == _NEW:
            raise HgateError("transcript not started: call start(header) first")
        if self._state == _SEALED:
            raise HgateError(f"transcript {self.location} is sealed; nothing more can be added")
        raise SinkError(
            f"transcript {self.location} stopped after a write failure: {self._failure}"
        )

    def _fail(self, exc: BaseException) -> None:
        """Stop the writer, keeping the first failure's reason: the thread that hits it
        (process recorder, control socket) may not be the one whose error reaches the user."""
        if self._state != _FAILED:
            self._state = _FAILED
            self._failure = str(exc) or type(exc).__name__


_WRITER_HEADER_KEYS = frozenset(
    {"seq", "prev", "t", "type", "format", "version", "hash", "sig_alg", "key_id"}
)


def _check_event_type(event_type: str) -> None:
    if event_type in fmt.RESERVED_TYPES or not fmt.EVENT_TYPE_RE.match(event_type):
        raise HgateError(
            f"invalid transcript event type {event_type!r}: use [a-z][a-z0-9_.-]* and not "
            "header, checkpoint or seal"
        )


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
