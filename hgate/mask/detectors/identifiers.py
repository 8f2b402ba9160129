"""Identifiers known by their label: MRN, member/account, licence, device, plate numbers.

These have no checksum and no fixed shape (every institution formats its MRNs its own
way), so the label carries the evidence: the candidate is the label (`MRN`, `member
id`, `serial no`, ...) and the validator takes the id-shaped token right after it (at
least one digit, 3-25 characters, plus the digit-bearing blocks of an id written in
groups, `XK 1234 5678`). An institution's own format is a policy RegexDetector.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hgate.mask.interface import CandidateDetector, Pattern, Span
from hgate.mask.rendering import TOKEN_PATTERN

__all__ = ["IDENTIFIER_LABELS", "IdentifierDetector"]

_NO = r"(?:number|num|no\.?|nbr|#|id)"
IDENTIFIER_LABELS: dict[str, tuple[str, float]] = {
    "MRN": (
        rf"mrn|medical record(?: {_NO})?|med(?:ical)? rec(?:ord)? ?{_NO}|chart {_NO}"
        rf"|patient (?:id|number|no\.?|#)|record {_NO}",
        0.86,
    ),
    "MEMBER_ID": (
        rf"member {_NO}|member|subscriber(?: {_NO})?|policy {_NO}|group {_NO}"
        rf"|insurance {_NO}|beneficiary {_NO}|medicaid {_NO}|health plan {_NO}|plan {_NO}",
        0.85,
    ),
    "ACCOUNT": (rf"account {_NO}|acct(?: {_NO})?|a/c", 0.85),
    "LICENSE": (
        rf"licen[cs]e {_NO}|lic\.? ?#|certificate {_NO}|cert\.? ?(?:no\.?|#)"
        rf"|certification {_NO}|board cert(?:ification)? {_NO}",
        0.85,
    ),
    "DEVICE_ID": (
        rf"device {_NO}|device identifier|serial(?: {_NO})?|s/n|sn#|udi|imei|implant {_NO}",
        0.85,
    ),
    "DRIVERS_LICENSE": (rf"driver'?s?'? licen[cs]e(?: {_NO})?|dl ?(?:#|no\.?|number)|dln", 0.87),
    "PLATE": (rf"licen[cs]e plate(?: {_NO})?|plate {_NO}|plate|tag {_NO}", 0.87),
}
_FILLER = re.compile(r"[\s:#=\"'.,-]*(?:(?:is|was|of|number|num|no|nbr|id)\b[\s:#=\"'.-]*)*")
_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,24}(?: [A-Z0-9]{1,8})?\b")
# A further space-separated group of an id written in blocks (`XK 1234 5678`): upper case
# and digits, taken while it carries a digit (so `MRN A1234 ER visit` stops at `ER`).
_GROUP = re.compile(r" [A-Z0-9][A-Z0-9-]{0,7}\b")
_MAX_GROUPS = 4


class IdentifierDetector(CandidateDetector):
    """One kind of labelled identifier (see IDENTIFIER_LABELS)."""

    def __init__(self, kind: str) -> None:
        labels, self.confidence = IDENTIFIER_LABELS[kind]
        self.kind = kind
        self.name = f"label:{kind.lower()}"
        self.kinds = frozenset({kind})
        self.patterns = (
            Pattern(
                regex=rf"\b(?:{labels})(?:\b|$|[^A-Za-z0-9])",
                tag=kind,
                ignore_case=True,
                needs_start=False,
            ),
        )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        filler = _FILLER.match(text, end)
        pos = filler.end() if filler else end
        if TOKEN_PATTERN.match(text, pos):
            return
        match = _VALUE.match(text, pos)
        if match is None:
            return
        value = match.group()
        if self.kind != "PLATE":
            value = value.split(" ")[0]
            value += _digit_groups(text, pos + len(value))
        if len(value) < 3 or not any(c.isdigit() for c in value):
            return
        yield Span(
            start=pos,
            end=pos + len(value),
            kind=self.kind,
            confidence=self.confidence,
            detector=self.name,
        )


def _digit_groups(text: str, pos: int) -> str:
    """The blocks that continue an id at `pos` (` 1234 5678`), each carrying a digit."""
    end = pos
    for _ in range(_MAX_GROUPS):
        group = _GROUP.match(text, end)
        if group is None or not any(c.isdigit() for c in group.group()):
            break
        end = group.end()
    return text[pos:end]
