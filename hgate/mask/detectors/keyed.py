"""Values under a PHI field name: JSON keys, key=value pairs, `Label: value` lines.

The label says what the value is, so the value is masked even when it has no shape of
its own (`"first_name": "Ann"`, `mrn=X-1`). The vocabulary is hgate.mask.fields; a bare
`name` masks only a person-like value, a date field only the date in it, an address
field only a value with a space (so `address: 0.0.0.0:80` stays).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hgate.mask.context import (
    DEBIAN_ARCHITECTURE,
    is_placeholder,
    is_reference,
    is_working_directory,
)
from hgate.mask.detectors.dates import find_date
from hgate.mask.detectors.names import looks_like_person
from hgate.mask.fields import (
    FIELD_KINDS,
    FIELD_REGEXES,
    PERSON_NAME_FIELDS,
    field_kind,
    key_start,
    normalise,
)
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["KeyedFieldDetector"]

_QUOTED = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'([^']*)'")
_JSON_LITERAL = re.compile(r"[^\s,}\]]+")
_KV_VALUE = re.compile(r"[^\s,;&]+")
# Prose labels (`MRN: A123 seen today`) name one identifier; only these kinds span words.
_MULTIWORD_KINDS = frozenset({"NAME", "ADDRESS", "DATE"})
_WORD = re.compile(r"\S+")
_ARCHITECTURE = re.compile(rf"{DEBIAN_ARCHITECTURE}(?![\w.-])")
_PROSE_VALUE = re.compile(r"[^,;|\t]+?(?=\s{2,}|\s+[A-Za-z_][\w ]{0,20}:|[,;|\t]|$)")


class KeyedFieldDetector(CandidateDetector):
    name = "keyed"

    def __init__(self) -> None:
        self.kinds = frozenset(FIELD_KINDS.values())
        self.patterns = (
            *(
                Pattern(
                    regex=field + "[\"']? *[:=]", tag="key", ignore_case=True, needs_start=False
                )
                for field in FIELD_REGEXES
            ),
        )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        label_end = end - 1  # the candidate ends on the `:` or `=`
        while label_end > 0 and text[label_end - 1] == " ":
            label_end -= 1
        quoted = text[label_end - 1 : label_end] in ('"', "'")
        if quoted:
            label_end -= 1
        begin = key_start(text, label_end)
        if quoted and text[begin - 1 : begin] != text[label_end]:
            return
        tag = "kv" if text[end - 1] == "=" else "json" if quoted else "colon"
        while text[end : end + 1] == " ":
            end += 1
        key = normalise(text[begin:label_end])
        kind = field_kind(key)
        if kind is None or kind not in self.kinds:
            return
        if tag == "colon" and end == label_end + 1 and _ARCHITECTURE.match(text, end):
            return  # `zip:amd64`: a Debian package and its architecture (apt, dpkg)
        if kind == "SECRET" and is_working_directory(
            text[begin:label_end], text[end : end + 2].lstrip("\"'")
        ):
            return
        found = self._value(text, end, tag)
        if found is None:
            return
        v_start, v_end = found
        if tag == "colon" and kind not in _MULTIWORD_KINDS:
            v_end = _identifier_end(text, v_start, v_end)  # `MRN: A123 phone …`: one id
        value = text[v_start:v_end].strip()
        v_end = v_start + len(text[v_start:v_end].rstrip())
        while tag == "colon" and value[-1:] == ")" and value.count("(") < value.count(")"):
            value, v_end = value[:-1].rstrip(), v_end - 1  # `(MRN: A123)`: the label's bracket
        if is_placeholder(value) or value.startswith("[") or not any(c.isalnum() for c in value):
            return
        if text[v_start - 1 : v_start] not in ("'", '"') and is_reference(value):
            return
        if kind == "DATE":
            date = find_date(text, v_start, v_end)
            if date is not None:
                yield self._span(date.start(), date.end(), kind)
            return
        if key in PERSON_NAME_FIELDS and not looks_like_person(value):
            return
        if kind == "ADDRESS" and key not in ("city", "county") and " " not in value:
            return
        yield self._span(v_start, v_end, kind)

    @staticmethod
    def _value(text: str, pos: int, tag: str) -> tuple[int, int] | None:
        quoted = _QUOTED.match(text, pos)
        if quoted is not None:
            group = 1 if quoted.group(1) is not None else 2
            return quoted.span(group)
        regex = {"json": _JSON_LITERAL, "kv": _KV_VALUE}.get(tag, _PROSE_VALUE)
        match = regex.match(text, pos)
        return match.span() if match else None

    def _span(self, start: int, end: int, kind: str) -> Span:
        return Span(start=start, end=end, kind=kind, confidence=0.8, detector=self.name)


def _identifier_end(text: str, start: int, end: int) -> int:
    """Where an identifier written after a prose label ends: its words carry digits or are
    short capitals (`XK 1234 5678`); an ordinary word (`phone`, `seen`) ends it."""
    stop = start
    for match in _WORD.finditer(text, start, end):
        word = match.group()
        if match.start() > start and not (
            any(c.isdigit() for c in word) or (word.isupper() and len(word) <= 4)
        ):
            break
        stop = match.end()
    return stop if stop > start else end
