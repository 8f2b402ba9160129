"""From spans to output: merging overlaps, sparing existing tokens, placing escapes,
and making invisible format characters visible for the CI log.

Kept apart from the masker because the rules here are what make masking idempotent
(a token is never masked again) and what keeps a value on a cut or behind an escape
from reaching the CI log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from hgate.mask.interface import Span

__all__ = [
    "TOKEN_PATTERN",
    "Finding",
    "Rendering",
    "insert_escapes",
    "merge",
    "neutralise_invisible",
    "outside_tokens",
]

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


# Format characters (Unicode category Cf) and the line and paragraph separators: bidi
# embeddings, overrides, isolates and marks, zero-width spaces, word joiner, invisible
# operators, BOM, soft hyphen, interlinear annotation, tag characters. The joiners
# U+200C/U+200D are judged by their neighbours (_visible). Kept out: the prepended
# concatenation marks (U+0600-0605, U+06DD, U+070F, U+0890-0891, U+08E2, U+110BD,
# U+110CD), which are visible signs.
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
_JOINERS = "\u200c\u200d"


@cache
def _invisible() -> re.Pattern[str]:
    """Compiled on the first non-ASCII output (~0.5 ms), not at start-up."""
    return re.compile(f"[{_INVISIBLE}{_JOINERS}]")


def _visible(match: re.Match[str]) -> str:
    """`<U+202E>`; a joiner between two other non-ASCII characters stays (an emoji
    sequence such as a technologist, Persian or Indic text). Next to ASCII, at an end
    or beside another invisible character it joins nothing a reader could see."""
    char = match.group()
    if char in _JOINERS:
        text, start, end = match.string, match.start(), match.end()
        if start > 0 and end < len(text) and _letter(text[start - 1]) and _letter(text[end]):
            return char
    return f"<U+{ord(char):04X}>"


def _letter(char: str) -> bool:
    return not char.isascii() and _invisible().match(char) is None


def neutralise_invisible(display: bytes) -> bytes:
    """CI-log bytes with every invisible format character written as `<U+202E>`.

    A browser log viewer or terminal obeys bidi controls, so an agent could make a line
    read in another order than its bytes (Trojan Source: `PASSED` over a failure, a
    command reordered, a token moved); zero-width and tag characters hide text. Shown
    as code points, they reorder and hide nothing. ANSI escapes are ASCII and untouched,
    as is RTL text without controls. ASCII output costs one `isascii()`, other text a
    decode and one character-class search.
    """
    if display.isascii():
        return display
    text = display.decode("utf-8", "surrogateescape")
    invisible = _invisible()
    if invisible.search(text) is None:
        return display
    return invisible.sub(_visible, text).encode("utf-8", "surrogateescape")
