"""Payment card numbers: an issuer prefix, 13-19 digits, and the Luhn check."""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.checksums import luhn_valid
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["CardDetector"]


def issuer_known(digits: str) -> bool:
    """Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay prefixes and lengths."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649 or two == 62:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    return two in (30, 36, 38, 39) and 14 <= n <= 19


class CardDetector(CandidateDetector):
    name = "card"
    kinds = frozenset({"CARD"})
    patterns = (
        Pattern(regex=r"\b[2-6][0-9]{12,18}\b", tag="bare"),
        Pattern(
            regex=r"\b[2-6][0-9]{3}(?:[ -][0-9]{4}){2,3}(?:[ -][0-9]{1,3})?\b",
            tag="4s",
            track_start=True,
        ),
        Pattern(regex=r"\b3[47][0-9]{2}[ -][0-9]{6}[ -][0-9]{5}\b", tag="amex"),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        if not _valid(text[start:end]):
            if tag != "4s":
                return
            # the longest match took a short group after the card (`4111-…-1111 0`): the
            # card without it is the candidate too
            cut = max(text.rfind(" ", start, end), text.rfind("-", start, end))
            if end - cut > 4 or not _valid(text[start:cut]):
                return
            end = cut
        yield Span(start=start, end=end, kind="CARD", confidence=0.95, detector=self.name)


def _valid(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and issuer_known(digits) and luhn_valid(digits)
