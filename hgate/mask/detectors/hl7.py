"""HL7 v2 segments: the fields that carry a person, found by position (PID-5 is the name).

An HL7 v2 message is a run of segments, each a three-letter id and `|`-separated fields
(`PID|1||4482913^^^HOSP^MR||Roe^Jane^Q||19620314|F`), ended by `\\r`, which a terminal
turns into one line per segment; a JSON log writes the `\\r` as the two characters `\\r`.
A value there has no label and often no shape of its own (`Roe^Jane^Q`), so the segment
and the field number decide its kind, and the whole field is masked: every component and
repetition. Empty fields and HL7's explicit null (`""`) stay. Field 1 of each segment
here is a set id (digits or empty), which tells a segment from text that happens to hold
`PID|`; the merge segment MRG has no set id and is taken as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.detectors.segments import split_fields
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["SEGMENT_FIELDS", "Hl7Detector"]

# segment -> {field number: kind}, from the HL7 v2.5 segment definitions
SEGMENT_FIELDS: dict[str, dict[int, str]] = {
    "PID": {
        2: "MRN",  # patient id (external)
        3: "MRN",  # patient identifier list
        4: "MRN",  # alternate patient id
        5: "NAME",  # patient name
        6: "NAME",  # mother's maiden name
        7: "DATE",  # date/time of birth
        9: "NAME",  # patient alias
        11: "ADDRESS",  # patient address
        13: "PHONE",  # home phone
        14: "PHONE",  # business phone
        18: "ACCOUNT",  # patient account number
        19: "SSN",  # SSN
        20: "DRIVERS_LICENSE",  # driver's license number
        21: "MRN",  # mother's identifier
        29: "DATE",  # patient death date and time
    },
    "NK1": {2: "NAME", 4: "ADDRESS", 5: "PHONE", 6: "PHONE", 16: "DATE", 30: "NAME", 32: "ADDRESS"},
    "PV1": {7: "NAME", 8: "NAME", 9: "NAME", 17: "NAME", 19: "ACCOUNT", 44: "DATE", 45: "DATE"},
    "GT1": {2: "ACCOUNT", 3: "NAME", 5: "ADDRESS", 6: "PHONE", 7: "PHONE", 8: "DATE", 12: "SSN"},
    "IN1": {16: "NAME", 18: "DATE", 19: "ADDRESS", 36: "MEMBER_ID", 49: "MEMBER_ID"},
    "OBR": {16: "NAME", 28: "NAME"},  # ordering provider, result copies to
    "MRG": {1: "MRN", 2: "MRN", 3: "ACCOUNT", 4: "MRN", 5: "ACCOUNT", 7: "NAME"},
}
_SET_ID_FREE = frozenset({"MRG"})
_SEGMENT_ENDS = ("\\r", "\\n")  # a message written into a JSON string


class Hl7Detector(CandidateDetector):
    name = "hl7"
    kinds = frozenset(kind for fields in SEGMENT_FIELDS.values() for kind in fields.values())
    patterns = (
        Pattern(regex="(?:" + "|".join(SEGMENT_FIELDS) + r")\|", tag="segment", needs_start=False),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        begin = end - 4
        before = text[begin - 1 : begin]
        if before.isalnum() and text[begin - 2 : begin] not in _SEGMENT_ENDS:
            return  # `XPID|`: not a segment id
        segment = text[begin : end - 1]
        stop = min((i for i in (text.find(e, end) for e in _SEGMENT_ENDS) if i >= 0), default=-1)
        stop = len(text) if stop < 0 else stop
        fields = split_fields(text, end, stop, "|")
        set_id = text[fields[0][0] : fields[0][1]]
        if segment not in _SET_ID_FREE and set_id and not set_id.isdigit():
            return  # field 1 is a set id: digits or nothing
        wanted = SEGMENT_FIELDS[segment]
        for number, (f_start, f_end) in enumerate(fields, start=1):
            kind = wanted.get(number)
            if kind is None or f_start == f_end or text[f_start:f_end] == '""':
                continue
            yield Span(start=f_start, end=f_end, kind=kind, confidence=0.9, detector=self.name)
