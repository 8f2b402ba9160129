"""RegexDetector: a policy's own patterns. Synthetic data only."""

from __future__ import annotations

import pytest

from hgate.mask.regex_detector import RegexDetector


def spans(detector: RegexDetector, text: str) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, text[s.start : s.end]) for s in detector.find(text)]


def test_whole_match_is_masked() -> None:
    det = RegexDetector(name="mrn", kind="MRN", pattern=r"\bMRN-\d{6}\b")
    assert spans(det, "see MRN-123456 and MRN-1") == [(4, 14, "MRN-123456")]
    assert det.kinds == frozenset({"MRN"})


def test_group_by_number_and_name() -> None:
    by_number = RegexDetector(name="a", kind="ACCT", pattern=r"acct=(\w+)", group=1)
    by_name = RegexDetector(name="b", kind="ACCT", pattern=r"acct=(?P<v>\w+)", group="v")
    assert spans(by_number, "acct=AB12 x") == [(5, 9, "AB12")]
    assert spans(by_name, "acct=AB12 x") == [(5, 9, "AB12")]


def test_optional_group_that_did_not_match_is_skipped() -> None:
    det = RegexDetector(name="a", kind="X", pattern=r"id(?::(\d+))?", group=1)
    assert spans(det, "id id:42") == [(6, 8, "42")]


def test_ignore_case() -> None:
    det = RegexDetector(name="a", kind="X", pattern=r"member-\d+", ignore_case=True)
    assert spans(det, "MEMBER-77") == [(0, 9, "MEMBER-77")]


def test_invalid_pattern_carries_the_re_message() -> None:
    with pytest.raises(ValueError, match=r"invalid regex for 'bad': .*missing \)"):
        RegexDetector(name="bad", kind="X", pattern=r"(\d+")


@pytest.mark.parametrize(
    ("group", "message"), [(2, "has no group 2"), ("nope", "no group named 'nope'")]
)
def test_missing_group_is_refused(group: int | str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RegexDetector(name="g", kind="X", pattern=r"a(\d)", group=group)


def test_pattern_matching_empty_is_refused() -> None:
    with pytest.raises(ValueError, match="matches the empty string"):
        RegexDetector(name="e", kind="X", pattern=r"\d*")


def test_confidence_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="confidence"):
        RegexDetector(name="c", kind="X", pattern=r"\d+", confidence=1.5)
