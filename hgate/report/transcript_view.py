"""A transcript read for people: its header, its events in order, its seal.

Reading is lenient on purpose: an auditor wants to look at a tampered or truncated file
too. Trust comes only from `verify_transcript`; each event carries whether its line is
attested by a signature, and every renderer says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hgate.errors import ConfigError

HEADER, CHECKPOINT, SEAL = "header", "checkpoint", "seal"


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptEvent:
    """One event line; `offset` is seconds since the header was written."""

    line: int
    t: float
    offset: float
    type: str
    data: Mapping[str, Any]
    attested: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript:
    """What the file says, line by line; `unreadable` lists lines that are not JSON objects."""

    source: str
    header: Mapping[str, Any]
    events: tuple[TranscriptEvent, ...]
    seal: Mapping[str, Any] | None
    checkpoints: int
    lines: int
    unreadable: tuple[int, ...] = ()
    cut_tail: bool = False

    @property
    def session_id(self) -> str:
        value = self.header.get("session_id")
        return value if isinstance(value, str) else Path(self.source).stem

    @property
    def started(self) -> float:
        t = self.header.get("t")
        return float(t) if isinstance(t, int | float) else 0.0

    @property
    def duration(self) -> float:
        """Seconds from the header to the seal (or to the last event of an unsealed file)."""
        if self.seal is not None and isinstance(self.seal.get("t"), int | float):
            return max(0.0, float(self.seal["t"]) - self.started)
        return self.events[-1].offset if self.events else 0.0


def read_transcript(source: Path | bytes, *, attested_through: int | None = None) -> Transcript:
    """Parse every complete line; `attested_through` (from verification) marks trust.

    Raises ConfigError only when the file cannot be read at all.
    """
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read transcript {source}: {exc.strerror or type(exc).__name__}"
            ) from exc
        name = str(source)
    else:
        data, name = source, "<bytes>"
    raw_lines = data.split(b"\n")
    cut_tail = raw_lines[-1] != b""
    complete = raw_lines[:-1]
    header: Mapping[str, Any] = {}
    seal: Mapping[str, Any] | None = None
    events: list[TranscriptEvent] = []
    unreadable: list[int] = []
    checkpoints = 0
    started = 0.0
    for number, raw in enumerate(complete, start=1):
        obj = _parse(raw)
        if obj is None:
            unreadable.append(number)
            continue
        kind = obj.get("type")
        t = seconds(obj.get("t"))
        when = started if t is None else t
        if number == 1 and kind == HEADER:
            header, started = obj, when
        elif kind == CHECKPOINT:
            checkpoints += 1
        elif kind == SEAL:
            seal = obj
        elif isinstance(kind, str) and kind != HEADER:
            data_obj = obj.get("data")
            events.append(
                TranscriptEvent(
                    line=number,
                    t=when,
                    offset=max(0.0, when - started),
                    type=kind,
                    data=data_obj if isinstance(data_obj, dict) else {"value": data_obj},
                    attested=attested_through is not None and number <= attested_through,
                )
            )
        else:
            unreadable.append(number)
    return Transcript(
        source=name,
        header=header,
        events=tuple(events),
        seal=seal,
        checkpoints=checkpoints,
        lines=len(complete),
        unreadable=tuple(unreadable),
        cut_tail=cut_tail,
    )


def not_a_transcript(view: Transcript) -> str | None:
    """Why a file read as a transcript is not one at all (None: it is one, whatever its
    state). Every transcript hgate writes starts with a complete header line; a file
    without one (empty, another format, random bytes) has nothing a view could show."""
    if view.lines == 0:
        return "the file is empty" if not view.cut_tail else "it holds no complete line"
    if not view.header:
        return "line 1 is not a transcript header"
    return None


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(raw.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def seconds(value: object) -> float | None:
    """A time or duration from an untrusted transcript: a finite number, else None (a
    bool, a string, NaN, or an integer too large for a float is not a time)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
