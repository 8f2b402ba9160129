"""A past session's masked output, as frames with the pauses between them.

Replay reproduces what the CI log showed, at the pace it was shown: each `output`
event is one read of the agent's PTY, so its lines appear together, after the gap
recorded between that read and the previous one (divided by `speed`, each gap capped).
Text is shown with control characters made visible; terminators are the recorded ones,
so a `\\r` progress bar redraws in place as it did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hgate.report.events import printable
from hgate.report.transcript_view import Transcript

TERMINATORS = frozenset({"\n", "\r\n", "\r", ""})


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """Wait `delay` seconds, then write `text` (one PTY read's masked lines)."""

    delay: float
    text: str
    offset: float


def replay_frames(
    transcript: Transcript, *, speed: float = 1.0, max_delay: float | None = 5.0
) -> Iterator[Frame]:
    if speed <= 0:
        raise ValueError("speed must be positive")
    previous = 0.0
    for event in transcript.events:
        if event.type != "output":
            continue
        records = event.data.get("lines")
        if not isinstance(records, list):
            text = event.data.get("text")
            records = [{"text": text, "end": "\n"}] if isinstance(text, str) else []
        chunk = "".join(
            printable(str(r.get("text", ""))) + _end(r.get("end"))
            for r in records
            if isinstance(r, dict)
        )
        gap = max(0.0, event.offset - previous) / speed
        if max_delay is not None:
            gap = min(gap, max_delay)
        previous = event.offset
        if chunk:
            yield Frame(delay=gap, text=chunk, offset=event.offset)


def _end(value: object) -> str:
    return value if isinstance(value, str) and value in TERMINATORS else "\n"
