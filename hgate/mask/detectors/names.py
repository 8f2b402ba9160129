"""Person names in context: after `Patient:`, `Dr.`, `Mr.`, name labels; before `MD`, `RN`.

Names have no shape, so the context decides. A strong context (a title, a person
label with a colon) takes the capitalised words that follow; a weak one (`pt`, a label
without colon, lower-case words) needs the first word in the shipped name lists
(hgate/mask/data). Common words that follow such labels in logs (`Patient: None`,
`Name: Build`) are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib.resources import files

from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["NameDetector", "looks_like_person", "name_lists"]

_STOP_WORDS = """
none null unknown not no yes n/a na id ids name names the a an and or of for in on
at to is was be by with from record records data info information details summary
list lookup portal test tests testing build run runs job jobs step steps error
errors failed failure success passed ok true false new update updated delete deleted
create created search found missing required invalid valid query number count total
status type field value demo sample example service server client admin user users
system default main master release version dob mrn ssn npi age sex dos mbi dea phone
email address
"""
_STOP = frozenset(_STOP_WORDS.split())
_WORD = r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*"
_PARTICLE = (
    r"(?:de|del|della|da|di|dos|das|do|van|von|vom|zu|zum|der|den|ter|ten|la|le|du|st\.|bin|al)"
)
# Honorifics written before a name (`Sra. Paola Gómez`, `pani Ewa Nowak`, `ông Hưng`):
# skipped, so the name after them is what gets masked (a title identifies no one). The
# second list is case-sensitive: `Pan` and `Anh` are also family and given names.
_HONORIFICS = (
    r"dr|dra|mr|mrs|ms|mx|miss|prof|sr|sra|srta|srita|doña|lic|ing|mtro|mtra|dott|dott\.ssa|dott\.ra"
    r"|dr\.ssa|sig|sig\.ra|univ\.prof|mag|dipl|herr|frau|mme|mlle|sir|dame|rev|fr|hr"
)
_HONORIFICS_EXACT = r"pan|pani|ông|Ông|bà|Bà|cô|Cô|anh|chị|Chị|quý|Quý"
_HONORIFIC = re.compile(rf"(?:(?:(?i:{_HONORIFICS})|{_HONORIFICS_EXACT})\.? +)+")
_NAME = re.compile(rf"(?:{_WORD}|[^\W\d_]\.)(?:,? (?:{_PARTICLE} )?(?:{_WORD}|[^\W\d_]\.)){{0,3}}")
_LEAD = re.compile(r"[\s:=#\"'-]*")
_TRAIL_WORDS = re.compile(rf"((?:{_WORD} ){{0,5}}{_WORD}),? *\Z")

# The name's first letter may be an accented Latin-1 capital (`Dr. Élodie`).
_TITLES = r"\b(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Sr|Sra|Srta|Dott)\.? [A-Z\xC0-\xD6\xD8-\xDE]"
_STRONG = (
    r"patient(?: name)?|pt name|patient's name|physician|provider|attending|nurse|guardian"
    r"|mother|father|spouse|emergency contact|referred by|seen by|signed by|caregiver"
    r"|next of kin|insured|subscriber name|member name|resident|doctor|surgeon|therapist"
    r"|full name|first name|last name|given name|surname|family name|maiden name"
)
_BY = r"\b(?:referred|seen|signed|attended|treated|examined|admitted|discharged) by\b"
_WEAK = r"pt|named|attn"
_WEAK_LABEL = r"name|client|member|contact|cc"  # only with a `:` or `=` after them
_SUFFIX = r",? (?:MD|M\.D\.|DO|RN|NP|PA-C|DDS|DMD|PhD|DNP|LPN|CNA|FNP|APRN)\b"


@cache
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(given names, surnames), lower case, from the package data."""
    data = files("hgate.mask").joinpath("data")

    def load(name: str) -> frozenset[str]:
        text = data.joinpath(name).read_text(encoding="utf-8")
        return frozenset(w for w in text.split() if not w.startswith("#") and w.isalpha())

    return load("first_names.txt"), load("last_names.txt")


def known_name(word: str) -> bool:
    given, surnames = name_lists()
    lower = word.lower().strip(".,")
    return lower in given or lower in surnames


def looks_like_person(value: str) -> bool:
    """Two to four capitalised words, the first a known given name or surname."""
    words = value.replace(",", " ").split()
    return (
        2 <= len(words) <= 4
        and all(w[0].isupper() for w in words)
        and any(known_name(w) for w in words[:2])
    )


class NameDetector(CandidateDetector):
    name = "name"
    kinds = frozenset({"NAME"})
    patterns = (
        Pattern(regex=_TITLES, tag="title", needs_start=False),
        Pattern(regex=_BY, tag="strong", ignore_case=True, needs_start=False),
        Pattern(
            regex=rf"\b(?:{_STRONG})\b *[:=#-]", tag="strong", ignore_case=True, needs_start=False
        ),
        Pattern(
            regex=rf"\b(?:{_STRONG})\b",
            tag="weak",
            ignore_case=True,
            needs_start=False,
        ),
        Pattern(
            regex=rf"\b(?:{_WEAK_LABEL}) *[:=]",
            tag="weak",
            ignore_case=True,
            needs_start=False,
        ),
        Pattern(
            regex=rf"\b(?:{_WEAK})\b *[:=]?",
            tag="weak",
            ignore_case=True,
            needs_start=False,
        ),
        Pattern(regex=_SUFFIX, tag="suffix"),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        if tag == "suffix":
            match = _TRAIL_WORDS.search(text, max(0, start - 60), start)
            if match is None:
                return
            keep = _trailing_name(match.group(1).split())
            if not keep or _stopped(keep):
                return
            if len(keep) < 2 and not known_name(keep[0]):
                return
            begin = match.end(1) - len(" ".join(keep))
            yield self._span(begin, match.end(1), 0.85)
            return
        if tag == "title":
            end -= 1  # the candidate includes the name's first letter
        pos = _LEAD.match(text, end)
        begin = pos.end() if pos else end
        honorific = _HONORIFIC.match(text, begin)
        if honorific is not None:
            begin = honorific.end()
        match = _NAME.match(text, begin)
        if match is None:
            return
        words = _trim(match.group().replace(",", " , ").split())
        if not words or _stopped(words):
            return
        strong = tag in ("title", "strong")
        capital = all(w[0].isupper() or w == "," or re.fullmatch(_PARTICLE, w) for w in words)
        if not (strong and capital) and not known_name(words[0]):
            return
        if not strong and not capital and not all(known_name(w) for w in words if w != ","):
            return
        value = " ".join(words).replace(" , ", ", ")
        yield self._span(begin, begin + len(value), 0.85 if strong else 0.75)

    def _span(self, start: int, end: int, confidence: float) -> Span:
        return Span(start=start, end=end, kind="NAME", confidence=confidence, detector=self.name)


def _stopped(words: list[str]) -> bool:
    """Whether the first word is a stop word (`Patient: None`, `Name: Build`), save the
    Vietnamese given name `An` before capitalised name words, one of them a known name or
    written with letters beyond ASCII (`An Mai Bảo Đặng`, not `An Error`)."""
    first = words[0]
    if first.lower() not in _STOP:
        return False
    if first != "An" or len(words) < 2:
        return True
    second = words[1]
    if not second[0].isupper() or second.lower() in _STOP:
        return True
    return not any(not word.isascii() or known_name(word) for word in words[1:])


def _trailing_name(words: list[str]) -> list[str]:
    """The name that ends `words` (before `, MD`): up to four capitalised words, with the
    particles between them (`Stijn van de Leemput`); it starts on a capital."""
    kept: list[str] = []
    capitals = 0
    for word in reversed(words):
        if word[0].isupper() and capitals < 4:
            capitals += 1
        elif not (kept and re.fullmatch(_PARTICLE, word)):
            break
        kept.append(word)
    kept.reverse()
    while kept and not kept[0][0].isupper():
        kept.pop(0)
    return kept


def _trim(words: list[str]) -> list[str]:
    """Stop at the first word that is not part of the name (lower case, a stop word)."""
    kept: list[str] = []
    for index, word in enumerate(words):
        if word == ",":
            following = words[index + 1] if index + 1 < len(words) else ""
            if not known_name(following) or "," in kept:
                break
            kept.append(word)
            continue
        lower = word.lower()
        ends = lower in _STOP or (word[0].islower() and not re.fullmatch(_PARTICLE, word))
        if kept and ends and (not known_name(word) or (word[0].islower() and kept[0][0].isupper())):
            break
        kept.append(word)
    while kept and kept[-1] == ",":
        kept.pop()
    return kept
