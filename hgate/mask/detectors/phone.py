"""Telephone and fax numbers: NANP (valid area and exchange) and E.164.

A formatted number (`(212) 555-0142`, `212-555-0142`, `+1 212 555 0142`, `+44 20 7946
0958`) is masked as it stands; ten bare digits only near a phone label, since epoch
timestamps and ids look the same. A `fax` label near makes the kind FAX.
"""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.context import ContextWords
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["PhoneDetector"]

_PHONE = ContextWords(
    r"phone|ph|tel|telephone|cell|mobile|call|contact|fax|pager|home|work|sms|text", window=24
)
_FAX = ContextWords(r"fax|facsimile", window=24)
_NANP = r"[2-9][0-9]{2}"


class PhoneDetector(CandidateDetector):
    name = "phone"
    kinds = frozenset({"PHONE", "FAX"})
    patterns = (
        Pattern(regex=rf"\({_NANP}\) ?{_NANP}[-. ][0-9]{{4}}\b", tag="paren"),
        Pattern(regex=rf"\b{_NANP}-{_NANP}-[0-9]{{4}}\b", tag="sep"),
        Pattern(regex=rf"\b{_NANP}\.{_NANP}\.[0-9]{{4}}\b", tag="sep"),
        Pattern(regex=rf"\b{_NANP} {_NANP} [0-9]{{4}}\b", tag="space"),
        Pattern(regex=rf"\b1[-. ]{_NANP}[-. ]{_NANP}[-. ][0-9]{{4}}\b", tag="sep"),
        Pattern(regex=rf"\+1[ .-]?\(?{_NANP}\)?[ .-]?{_NANP}[ .-]?[0-9]{{4}}\b", tag="plus"),
        Pattern(regex=r"\+[2-9][0-9]{7,14}\b", tag="e164"),
        Pattern(regex=r"\+[2-9][0-9]{0,3}(?:[ .-][0-9]{1,5}){2,5}\b", tag="e164"),
        Pattern(regex=rf"\b{_NANP}{_NANP}[0-9]{{4}}\b", tag="bare"),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        value = text[start:end]
        before = text[start - 1 : start]
        if (
            before
            and (before.isalnum() or before in "-./:_")
            and tag not in ("paren", "plus", "e164")
        ):
            return  # inside a longer token: a version, a path, a time
        if text[end : end + 1] in ("-", ".") and text[end + 1 : end + 2].isdigit():
            return
        if tag == "e164":
            digits = sum(c.isdigit() for c in value)
            if not 8 <= digits <= 15 or (tag == "e164" and " " not in value and digits < 10):
                return
        if tag in ("bare", "space") and not _PHONE.before(text, start):
            return
        kind = "FAX" if _FAX.before(text, start) else "PHONE"
        yield Span(start=start, end=end, kind=kind, confidence=0.9, detector=self.name)
