"""From spans to output: merging overlaps, sparing existing tokens, placing escapes.

Kept apart from the masker because the rules here are what make masking idempotent
(a token is never masked again) and what keeps a value on a cut or behind an escape
from reaching the CI log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hgate.mask.interface import Span

__all__ = ["TOKEN_PATTERN", "Finding", "Rendering", "insert_escapes", "merge", "outside_tokens"]

TOKEN_PATTERN = re.compile(r"\[[A-Z][A-Z0-9_]*:(?:[0-9a-f]{6}|detector-error)\]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """What was masked: kind and token, at `[start, end)` of the *masked* text."""

    kind: str
    start: int
    end: int
    token: str
    detector: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendering:
    """A masked line plus its display form (escapes re-inserted outside masked spans)."""

    text: str
    display: str
    findings: tuple[Finding, ...]


# (span start, span end, piece start, piece end, output start, output end)
Segment = tuple[int, int, int, int, int, int]


def outside_tokens(text: str, spans: list[Span]) -> list[Span]:
    """Clip spans so they never cover an existing token (idempotence)."""
    tokens = [m.span() for m in TOKEN_PATTERN.finditer(text)]
    if not tokens:
        return spans
    kept: list[Span] = []
    for span in spans:
        start = span.start
        for t_start, t_end in tokens:
            if t_end <= start or t_start >= span.end:
                continue
            if t_start > start:
                kept.append(_clip(span, start, t_start))
            start = max(start, t_end)
        if start < span.end:
            kept.append(_clip(span, start, span.end))
    return kept


def _clip(span: Span, start: int, end: int) -> Span:
    if (start, end) == (span.start, span.end):
        return span
    return Span(
        start=start, end=end, kind=span.kind, confidence=span.confidence, detector=span.detector
    )


def merge(spans: list[Span]) -> list[Span]:
    """Union overlapping spans; the kind of the most confident (then longest) one wins."""
    if len(spans) < 2:
        return spans
    spans.sort(key=lambda s: (s.start, -s.end))
    merged: list[Span] = []
    current = best = spans[0]
    end = current.end
    for span in spans[1:]:
        if span.start < end:
            end = max(end, span.end)
            if (span.confidence, span.end - span.start) > (best.confidence, best.end - best.start):
                best = span
            continue
        merged.append(_union(current, best, end))
        current = best = span
        end = span.end
    merged.append(_union(current, best, end))
    return merged


def _union(first: Span, best: Span, end: int) -> Span:
    if first is best and end == best.end:
        return best
    return Span(
        start=first.start,
        end=end,
        kind=best.kind,
        confidence=best.confidence,
        detector=best.detector,
    )


def insert_escapes(
    masked: str, low: int, segments: list[Segment], escapes: Sequence[tuple[int, str]]
) -> str:
    """Map each escape to its output position; drop it if it sat inside a masked value."""
    pieces: list[str] = []
    last = 0
    for pos, escape in escapes:
        shift = -low
        inside = False
        for span_start, span_end, _start, end, _out_start, out_end in segments:
            if span_start < pos < span_end:
                inside = True
                break
            if end <= pos:
                shift = out_end - end
            else:
                break
        if inside:
            continue
        out_pos = pos + shift
        pieces.append(masked[last:out_pos])
        pieces.append(escape)
        last = out_pos
    pieces.append(masked[last:])
    return "".join(pieces)
