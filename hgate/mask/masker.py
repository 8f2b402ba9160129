"""The masker: lines in, every detected value replaced by a keyed token.

Tokens are `[KIND:xxxxxx]`, six hex chars of HMAC-SHA256(session key, kind NUL value):
the same value gets the same token throughout a session (so an auditor can follow
"the same MRN again") while the value cannot be recovered without the key. Text that
already looks like a token is never detected again, which makes masking idempotent.
Any detector failure masks the whole line (fail closed).

Lines are scanned in blocks: one engine pass over the joined lines for every candidate
pattern, one automaton pass for the exact values; only lines with candidates cost
Python work, which is what keeps ordinary log output cheap.
"""

from __future__ import annotations

import hashlib
import hmac
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from hgate.mask.engine import Engine, make_engine
from hgate.mask.engine_cache import CompiledCache
from hgate.mask.exact import EXACT_DETECTOR, MIN_EXACT_LENGTH, ExactValues
from hgate.mask.interface import (
    CandidateDetector,
    Detector,
    DetectorError,
    Pattern,
    Span,
    StatefulDetector,
)
from hgate.mask.rendering import (
    TOKEN_PATTERN,
    Finding,
    Rendering,
    Segment,
    insert_escapes,
    merge,
    outside_tokens,
)

__all__ = [
    "DETECTOR_ERROR",
    "DETECTOR_ERROR_MARKER",
    "EXACT_DETECTOR",
    "MIN_EXACT_LENGTH",
    "TOKEN_PATTERN",
    "Finding",
    "MaskResult",
    "Masker",
    "Rendering",
]

DETECTOR_ERROR = "DETECTOR_ERROR"
DETECTOR_ERROR_MARKER = "[MASKED:detector-error]"
LineSpans = list[Span] | DetectorError
_PLUS_ONE = (1).__add__
_TOKEN_CACHE_MAX = 65536  # tokens remembered per masker (values, so bounded)


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskResult:
    text: str
    findings: tuple[Finding, ...] = ()


def _in_token(
    text: str, start: int, end: int, cache: dict[int, list[tuple[int, int]]], line: int
) -> bool:
    spans = cache.get(line)
    if spans is None:
        spans = cache[line] = [m.span() for m in TOKEN_PATTERN.finditer(text)]
    first = min(start, end - 1)
    return any(t_start <= first < t_end or t_start < end <= t_end for t_start, t_end in spans)


def error_finding(error: DetectorError) -> Finding:
    marker = DETECTOR_ERROR_MARKER
    return Finding(
        kind=DETECTOR_ERROR, start=0, end=len(marker), token=marker, detector=error.detector
    )


class Masker:
    """Masks exact values and whatever the detectors find; `engine_name` says how."""

    def __init__(
        self,
        *,
        key: bytes,
        detectors: Sequence[Detector] = (),
        exact: Iterable[tuple[str, str]] = (),
        engine: str = "auto",
        cache: CompiledCache | None = None,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the masking key must be at least 16 bytes")
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self._tokens: dict[tuple[str, str], str] = {}  # the same value, the same token
        self.detectors: tuple[Detector, ...] = tuple(detectors)
        self.kinds: frozenset[str] = frozenset().union(*(d.kinds for d in self.detectors))
        self._exact = ExactValues()
        self._plain = [d for d in self.detectors if not isinstance(d, CandidateDetector)]
        self._stateful = [d for d in self.detectors if isinstance(d, StatefulDetector)]
        owners: list[tuple[CandidateDetector, str]] = []
        patterns: list[Pattern] = []
        for detector in self.detectors:
            if isinstance(detector, CandidateDetector):
                for pattern in detector.patterns:
                    owners.append((detector, pattern.tag))
                    patterns.append(pattern)
        self._owners = owners
        self._stateful_index = frozenset(
            i for i, (owner, _) in enumerate(owners) if isinstance(owner, StatefulDetector)
        )
        self._engine: Engine | None = make_engine(patterns, engine, cache) if patterns else None
        self.engine_name = self._engine.name if self._engine else make_engine([], engine).name
        for kind, value in exact:
            self.add_exact(value, kind)

    def add_exact(self, value: str, kind: str = "SECRET", *, fragments: bool = True) -> None:
        """Mask `value` (and its encodings, and a long one's pieces: see ExactValues.add)
        wherever it appears from now on."""
        self._exact.add(value, kind, fragments=fragments)

    @property
    def exact_count(self) -> int:
        return len(self._exact)

    def find_exact(self, text: str) -> list[Span]:
        return self._exact.find(text)

    def reset_state(self) -> None:
        """Forget table headers and open key blocks (a new stream)."""
        for detector in self._stateful:
            detector.reset()

    def token(self, kind: str, value: str) -> str:
        key = (kind, value)
        token = self._tokens.get(key)
        if token is None:
            mac = self._mac.copy()
            mac.update(f"{kind}\0{value}".encode("utf-8", "surrogatepass"))
            token = f"[{kind}:{mac.hexdigest()[:6]}]"
            if len(self._tokens) >= _TOKEN_CACHE_MAX:
                self._tokens.clear()
            self._tokens[key] = token
        return token

    def scan_lines(self, texts: Sequence[str]) -> list[LineSpans]:
        """Spans to mask per line (merged, sorted), or the DetectorError of that line.

        Lines must come in stream order: stateful detectors (tables) carry over.
        """
        sparse = self.scan_sparse(texts)
        if not sparse:
            return [[] for _ in texts]
        return [sparse.get(index, []) for index in range(len(texts))]

    def scan_sparse(self, texts: Sequence[str]) -> dict[int, LineSpans]:
        """Like scan_lines, but only the lines with something to mask (the cheap path)."""
        block = texts[0] if len(texts) == 1 else "\n".join(texts)
        candidates = self._engine.scan(block) if self._engine is not None else []
        exact = self._exact.find(block)
        busy = any(d.active for d in self._stateful)
        if not (candidates or exact or busy or self._plain):
            return {}
        found: defaultdict[int, list[Span]] = defaultdict(list)
        errors: dict[int, DetectorError] = {}
        self._distribute(texts, candidates, exact, found, errors)
        out: dict[int, LineSpans] = {}
        for index, spans in found.items():
            if spans and index not in errors:
                if "[" in texts[index]:
                    spans = outside_tokens(texts[index], spans)
                out[index] = merge(spans)
        out.update(errors)
        return out

    def _distribute(
        self,
        texts: Sequence[str],
        candidates: list[tuple[int, int, int]],
        exact: list[Span],
        found: defaultdict[int, list[Span]],
        errors: dict[int, DetectorError],
    ) -> None:
        starts = [0, *accumulate(map(_PLUS_ONE, map(len, texts)))]
        for span in exact:
            line = bisect_right(starts, span.start) - 1
            base = starts[line]
            found[line].append(
                Span(
                    start=span.start - base,
                    end=span.end - base,
                    kind=span.kind,
                    detector=EXACT_DETECTOR,
                )
            )
        hinted: dict[int, set[int]] = {}
        tokens: dict[int, list[tuple[int, int]]] = {}
        owners, stateful = self._owners, self._stateful_index
        for index, start, end in candidates:
            line = bisect_right(starts, start) - 1
            base = starts[line]
            text = texts[line]
            if end - base > len(text) or line in errors:
                continue  # a match across lines is no match
            if "[" in text and _in_token(text, start - base, end - base, tokens, line):
                continue  # never look inside an existing token (idempotence)
            owner, tag = owners[index]
            if index in stateful:
                hinted.setdefault(id(owner), set()).add(line)
                continue
            try:
                kinds = owner.kinds
                spans = [
                    span
                    for span in owner.validate(text, start - base, end - base, tag)
                    if span.kind in kinds
                ]
                line_spans = found[line]  # touched even when empty: keeps the lines' order
                if spans:
                    line_spans.extend(spans)
            except Exception as exc:
                errors[line] = DetectorError(f"detector {owner.name!r} failed", detector=owner.name)
                errors[line].__cause__ = exc
        for detector in self._stateful:
            self._observe(detector, texts, hinted.get(id(detector), set()), found, errors)
        for plain in self._plain:
            for line, text in enumerate(texts):
                try:
                    found[line].extend(plain.find(text))
                except Exception as exc:
                    errors[line] = DetectorError(
                        f"detector {plain.name!r} failed", detector=plain.name
                    )
                    errors[line].__cause__ = exc

    @staticmethod
    def _observe(
        detector: StatefulDetector,
        texts: Sequence[str],
        hinted: set[int],
        found: defaultdict[int, list[Span]],
        errors: dict[int, DetectorError],
    ) -> None:
        pending = sorted(hinted, reverse=True)
        line = 0 if detector.active else (pending.pop() if pending else len(texts))
        while line < len(texts):
            try:
                found[line].extend(detector.observe(texts[line], line in hinted))
            except Exception as exc:
                detector.reset()
                errors[line] = DetectorError(
                    f"detector {detector.name!r} failed", detector=detector.name
                )
                errors[line].__cause__ = exc
            line += 1
            while pending and pending[-1] < line:
                pending.pop()
            if not detector.active:
                line = pending.pop() if pending else len(texts)

    def spans(self, text: str) -> list[Span]:
        """Spans to mask in one line; raises DetectorError when a detector fails."""
        (result,) = self.scan_lines([text])
        if isinstance(result, DetectorError):
            raise result
        return result

    def mask(self, text: str) -> MaskResult:
        """Mask one line of plain text."""
        (result,) = self.scan_lines([text])
        if isinstance(result, DetectorError):
            return MaskResult(text=DETECTOR_ERROR_MARKER, findings=(error_finding(result),))
        if not result:
            return MaskResult(text=text)
        rendering = self.render(text, result)
        return MaskResult(text=rendering.text, findings=rendering.findings)

    def render(
        self,
        text: str,
        spans: Sequence[Span],
        *,
        lead: int = 0,
        trail: int = 0,
        escapes: Sequence[tuple[int, str]] = (),
        seen: int | None = None,
    ) -> Rendering:
        """Replace `spans` by tokens within `text[lead:len(text) - trail]`.

        A span that starts in the lead context and ends within the `seen` characters the
        previous piece had as its trail was tokenised whole by that piece, so its part
        here is dropped; one that runs further was not seen whole there, so its part
        here gets the token (None: every lead span was seen). A span running into the
        trail is tokenised whole here. Escapes inside a span are dropped from the display.
        """
        low, high = lead, len(text) - trail
        covered = len(text) if seen is None else low + seen
        pieces: list[str] = []
        findings: list[Finding] = []
        segments: list[Segment] = []
        pos = low
        out_len = 0
        for span in spans:
            if span.end <= low:
                continue
            if span.start >= high:
                break
            start, end = max(span.start, low), min(span.end, high)
            if start > pos:
                pieces.append(text[pos:start])
                out_len += start - pos
            out_start = out_len
            if span.start >= low or span.end > covered:
                token = self.token(span.kind, text[span.start : span.end])
                pieces.append(token)
                out_len += len(token)
                findings.append(
                    Finding(
                        kind=span.kind,
                        start=out_start,
                        end=out_len,
                        token=token,
                        detector=span.detector,
                    )
                )
            segments.append((span.start, span.end, start, end, out_start, out_len))
            pos = end
        pieces.append(text[pos:high])
        masked = "".join(pieces)
        display = insert_escapes(masked, low, segments, escapes) if escapes else masked
        return Rendering(text=masked, display=display, findings=tuple(findings))
