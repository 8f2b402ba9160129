"""Masker: tokens, exact values, merging, idempotence, failing closed.

All values here are synthetic (made up for the tests, not real identifiers).
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgate.mask.interface import Detector, Span
from hgate.mask.masker import DETECTOR_ERROR, DETECTOR_ERROR_MARKER, TOKEN_PATTERN, Masker
from hgate.mask.regex_detector import RegexDetector

KEY = b"synthetic-test-key-0123456789abc"
SSN = RegexDetector(name="ssn", kind="SSN", pattern=r"\b\d{3}-\d{2}-\d{4}\b")
DIGITS = RegexDetector(name="digits", kind="NUMBER", pattern=r"\d{6,}", confidence=0.5)


class Exploding(Detector):
    name = "exploding"
    kinds = frozenset({"BOOM"})

    def find(self, text: str) -> Iterable[Span]:
        raise RuntimeError(f"cannot parse {text}")


class Fixed(Detector):
    """Returns fixed spans, to drive the merge logic."""

    kinds = frozenset({"A", "B"})

    def __init__(self, name: str, spans: list[tuple[int, int, str, float]]) -> None:
        self.name = name
        self._spans = spans

    def find(self, text: str) -> Iterable[Span]:
        for start, end, kind, confidence in self._spans:
            yield Span(start=start, end=end, kind=kind, confidence=confidence, detector=self.name)


def test_exact_value_is_replaced_by_a_keyed_token() -> None:
    masker = Masker(key=KEY, exact=[("SECRET", "synthetic-pass-1")])
    result = masker.mask("login with synthetic-pass-1 now")
    assert "synthetic-pass-1" not in result.text, "planted value leaked"
    (finding,) = result.findings
    assert result.text[finding.start : finding.end] == finding.token
    assert TOKEN_PATTERN.fullmatch(finding.token)
    assert (finding.kind, finding.detector) == ("SECRET", "exact")


def test_tokens_are_stable_per_key_and_kind() -> None:
    masker = Masker(key=KEY)
    assert masker.token("SSN", "078-05-1120") == masker.token("SSN", "078-05-1120")
    assert masker.token("SSN", "078-05-1120") != masker.token("MRN", "078-05-1120")
    assert Masker(key=b"another-synthetic-key-000000000").token("SSN", "078-05-1120") != (
        masker.token("SSN", "078-05-1120")
    )


def test_add_exact_takes_effect_after_a_mask_call() -> None:
    masker = Masker(key=KEY)
    assert masker.mask("token abcd-1234").findings == ()
    masker.add_exact("abcd-1234", "CREDENTIAL")
    result = masker.mask("token abcd-1234")
    assert [f.kind for f in result.findings] == ["CREDENTIAL"]


def test_short_exact_values_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 4 characters"):
        Masker(key=KEY).add_exact("abc")


def test_bad_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="upper-case"):
        Masker(key=KEY).add_exact("abcdef", "lower")


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Masker(key=b"short")


def test_overlapping_spans_merge_and_the_most_confident_kind_wins() -> None:
    det = Fixed("f", [(0, 5, "A", 0.5), (3, 9, "B", 0.9), (20, 22, "A", 0.5)])
    result = Masker(key=KEY, detectors=[det]).mask("0123456789" * 3)
    assert [f.kind for f in result.findings] == ["B", "A"]
    assert result.text.endswith("89")
    assert result.text.startswith("[B:")


def test_equal_confidence_longest_wins() -> None:
    det = Fixed("f", [(0, 3, "A", 0.9), (1, 8, "B", 0.9)])
    assert [f.kind for f in Masker(key=KEY, detectors=[det]).mask("x" * 10).findings] == ["B"]


def test_exact_and_detector_overlap_merge() -> None:
    masker = Masker(key=KEY, detectors=[SSN], exact=[("SECRET", "45-6789 tail")])
    result = masker.mask("a 123-45-6789 tail b")
    assert result.text.count("[") == 1
    assert result.findings[0].kind == "SECRET"


def test_failing_detector_masks_the_whole_line() -> None:
    result = Masker(key=KEY, detectors=[SSN, Exploding()]).mask("raw 123-45-6789 and more")
    assert result.text == DETECTOR_ERROR_MARKER
    (finding,) = result.findings
    assert (finding.kind, finding.detector) == (DETECTOR_ERROR, "exploding")


def test_tokens_are_never_detected_again() -> None:
    masker = Masker(key=KEY, detectors=[DIGITS])
    once = masker.mask("order 12345678 shipped").text
    assert masker.mask(once).text == once
    assert masker.mask("[SSN:123456] [MASKED:detector-error]").findings == ()


def test_span_touching_a_token_is_clipped_not_dropped() -> None:
    masker = Masker(key=KEY, detectors=[DIGITS])
    result = masker.mask("[SSN:123456]98765432")
    assert result.text.startswith("[SSN:123456][NUMBER:")


_values = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=16)
_noise = st.text(alphabet="ab 1-_:[]=\"'.,", max_size=30)


@settings(max_examples=150, deadline=None)
@given(value=_values, before=_noise, after=_noise)
def test_planted_value_never_survives_and_masking_is_idempotent(
    value: str, before: str, after: str
) -> None:
    masker = Masker(key=KEY, detectors=[SSN, DIGITS], exact=[("SECRET", value)])
    once = masker.mask(before + value + after).text
    assert value not in once, "planted value leaked"
    assert masker.mask(once).text == once


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=80))
def test_masking_arbitrary_text_is_idempotent(text: str) -> None:
    masker = Masker(key=KEY, detectors=[SSN, DIGITS], exact=[("SECRET", "s3cr3t-v4lue")])
    once = masker.mask(text).text
    assert masker.mask(once).text == once
