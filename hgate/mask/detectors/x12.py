"""X12 EDI (837 claims, 835 remittances, 270/271 eligibility): person elements by position.

X12 writes segments of `*`-separated elements ended by `~`, often all on one line
(`NM1*IL*1*ROE*JANE*Q***MI*W4471190~DMG*D8*19620314*F~`). Names, birth dates and member
ids carry no label there: the segment id and the element number decide. A name is
masked only for a person (NM1-02 `1`), an id by its qualifier (NM1-08, REF-01).
Addresses (N3, N4) are masked whoever they belong to: the loop that says whose they are
may lie lines away.
"""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.detectors.segments import split_fields
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["X12Detector"]

_SEGMENTS = ("NM1", "N3", "N4", "DMG", "REF", "PER", "CLM")
# REF-01 and NM1-08 qualifiers whose id is a person's
_REF_KINDS = {"SY": "SSN", "EA": "MRN", "1W": "MEMBER_ID", "0F": "MEMBER_ID", "IG": "MEMBER_ID"}
_ID_KINDS = {"MI": "MEMBER_ID", "34": "SSN", "II": "MEMBER_ID", "ZZ": "MEMBER_ID"}


class X12Detector(CandidateDetector):
    name = "x12"
    kinds = frozenset(
        {"NAME", "MEMBER_ID", "SSN", "MRN", "ADDRESS", "ZIP", "DATE", "PHONE", "ACCOUNT"}
    )
    patterns = (
        Pattern(regex="(?:" + "|".join(_SEGMENTS) + r")\*", tag="segment", needs_start=False),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        begin = end - 1
        while begin > 0 and text[begin - 1].isalnum():
            begin -= 1
        before = begin
        while before > 0 and text[before - 1].isspace():
            before -= 1
        if before > 0 and text[before - 1] != "~":
            return  # a segment starts a line or follows a `~`
        segment = text[begin : end - 1]
        if segment not in _SEGMENTS:
            return
        stop = text.find("~", end)
        elements = split_fields(text, end, len(text) if stop < 0 else stop, "*")
        for number, kind in _wanted(segment, [text[s:e] for s, e in elements]):
            e_start, e_end = elements[number - 1] if number <= len(elements) else (0, 0)
            if e_end > e_start:
                yield Span(start=e_start, end=e_end, kind=kind, confidence=0.9, detector=self.name)


def _wanted(segment: str, values: list[str]) -> list[tuple[int, str]]:
    """(element number, kind) to mask in this segment."""

    def value(number: int) -> str:
        return values[number - 1] if number <= len(values) else ""

    if segment == "NM1":
        wanted = [(3, "NAME"), (4, "NAME"), (5, "NAME")] if value(2) == "1" else []
        id_kind = _ID_KINDS.get(value(8))
        return wanted + ([(9, id_kind)] if id_kind else [])
    if segment == "N3":
        return [(1, "ADDRESS"), (2, "ADDRESS")]
    if segment == "N4":
        return [(1, "ADDRESS"), (3, "ZIP")]
    if segment == "DMG":
        return [(2, "DATE")] if value(1) == "D8" else []
    if segment == "REF":
        kind = _REF_KINDS.get(value(1))
        return [(2, kind)] if kind else []
    if segment == "PER":
        return [(n, "PHONE") for n in (4, 6, 8) if value(n - 1) in ("TE", "FX", "CP", "HP")]
    if segment == "CLM":
        return [(1, "ACCOUNT")]  # the patient control number
    return []
