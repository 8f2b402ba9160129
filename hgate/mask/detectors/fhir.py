"""FHIR resources in JSON: a HumanName's `family` and `given`, an identifier's `value`.

A FHIR Patient writes the name as `"name": [{"family": "Roe", "given": ["Jane", "Q"]}]`
and the MRN as `"identifier": [{"system": "urn:oid:…", "value": "4482913"}]`: no key
says `first_name` or `mrn`, and pretty-printed JSON puts each array item on a line of
its own, with no key at all. Once a `"resourceType"` has been seen in the stream (or on
the same line), the strings under `family` and `given` are masked as NAME and the
`value` strings inside an `identifier` array as MRN, across lines until the array
closes (at most 200 lines). Shaped values elsewhere in a resource (birthDate, phone,
address) are left to the keyed-field and shape detectors.
"""

from __future__ import annotations

import re

from hgate.mask.interface import Pattern, Span, StatefulDetector

__all__ = ["FhirDetector"]

_KEY = re.compile(r'"(resourceType|family|given|identifier)"\s*:\s*')
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|[\[\]]')  # a string literal or a bracket
_VALUE_KEY = re.compile(r'"value"\s*:\s*\Z')
_KINDS = {"family": "NAME", "given": "NAME", "identifier": "MRN"}


class FhirDetector(StatefulDetector):
    name = "fhir"
    kinds = frozenset({"NAME", "MRN"})
    patterns = (
        Pattern(
            regex=r'"(?:resourceType|family|given|identifier)"\s*:',
            tag="key",
            needs_start=False,
        ),
    )
    MAX_LINES = 200  # a broken document must not mask forever

    def __init__(self) -> None:
        self._seen = False  # a FHIR resource is in this stream
        self._open: tuple[str, int] | None = None  # (array's key, bracket depth) across lines
        self._lines = 0

    @property
    def active(self) -> bool:
        return self._open is not None

    def reset(self) -> None:
        self._seen, self._open, self._lines = False, None, 0

    def observe(self, text: str, hinted: bool) -> list[Span]:
        spans: list[Span] = []
        pos = 0
        if self._open is not None:
            key, depth = self._open
            pos, depth = self._array(text, 0, key, depth, spans)
            self._lines += 1
            self._open = (key, depth) if depth > 0 and self._lines < self.MAX_LINES else None
            if self._open is not None:
                return spans
        if not hinted:
            return spans
        if '"resourceType"' in text:
            self._seen = True
        for match in _KEY.finditer(text, pos):
            key = match.group(1)
            if key == "resourceType" or not self._seen:
                continue
            at = match.end()
            if text[at : at + 1] == "[":
                _, depth = self._array(text, at + 1, key, 1, spans)
                if depth > 0:
                    self._open, self._lines = (key, depth), 0
                    break
            elif key != "identifier" and text[at : at + 1] == '"':
                literal = _TOKEN.match(text, at)
                if literal is not None and literal.group(1):
                    spans.append(self._span(literal.start(1), literal.end(1), key))
        return spans

    def _array(
        self, text: str, pos: int, key: str, depth: int, spans: list[Span]
    ) -> tuple[int, int]:
        """Mask the array's strings (an identifier's: its `value` strings) from `pos` to
        where the array closes or the line ends; return (where it stopped, depth left)."""
        for token in _TOKEN.finditer(text, pos):
            bracket = token.group()
            if bracket == "[":
                depth += 1
            elif bracket == "]":
                depth -= 1
                if depth == 0:
                    return token.end(), 0
            elif token.group(1) and (
                key != "identifier"
                or _VALUE_KEY.search(text, max(0, token.start() - 32), token.start())
            ):
                spans.append(self._span(token.start(1), token.end(1), key))
        return len(text), depth

    def _span(self, start: int, end: int, key: str) -> Span:
        return Span(start=start, end=end, kind=_KINDS[key], confidence=0.9, detector=self.name)
