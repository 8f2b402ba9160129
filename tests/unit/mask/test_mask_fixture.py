"""`hgate policy test`'s fixture runner: cases pass and fail for the right reasons.

All values are synthetic.
"""

from __future__ import annotations

import secrets

import pytest

from hgate.mask import Masker, RegexDetector
from hgate.mask.fixture import FixtureError, run_fixture


@pytest.fixture
def masker() -> Masker:
    return Masker(
        key=secrets.token_bytes(32),
        detectors=[RegexDetector(name="ssn", kind="SSN", pattern=r"\b\d{3}-\d{2}-\d{4}\b")],
    )


def test_passing_and_failing_cases(masker: Masker) -> None:
    report = run_fixture(
        masker,
        [
            "# comment",
            "",
            "+ ssn {{536-22-1234}} here",
            "+ ssn {{SSN:536-22-1234}} typed",
            "+ name {{Maria Gonzalez}} is not detected by this masker",
            "+ kind {{EMAIL:536-22-1234}} is wrong",
            "= nothing to see",
            "= but 536-22-1234 is masked",
        ],
    )
    assert [(c.line, c.passed) for c in report.cases] == [
        (3, True),
        (4, True),
        (5, False),
        (6, False),
        (7, True),
        (8, False),
    ]
    problems = {c.line: c.problem for c in report.failures}
    assert problems[5] == "value 1 was not masked"
    assert problems[6] == "value 1 (EMAIL) was masked, but as SSN"
    assert problems[8] == "changed: masked as SSN"
    assert not report.passed
    assert "536-22-1234" not in " ".join(c.masked + c.problem for c in report.cases), (
        "reports never carry a raw value"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("no marker", "a case starts with"),
        ("+ nothing marked", "needs at least one"),
    ],
)
def test_malformed_lines(masker: Masker, line: str, message: str) -> None:
    with pytest.raises(FixtureError, match=message) as info:
        run_fixture(masker, ["= fine", line])
    assert info.value.line == 2
