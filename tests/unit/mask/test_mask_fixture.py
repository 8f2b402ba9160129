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


def test_an_unknown_kind_is_a_fixture_error_at_its_line(masker: Masker) -> None:
    """Before: accepted, and the case failed as "masked, but as SSN" (or, had the value
    not been masked, as "not masked"): the typo itself was never named."""
    with pytest.raises(FixtureError, match=r"unknown kind 'SNN' .*did you mean SSN\?") as info:
        run_fixture(masker, ["+ ssn {{SSN:536-22-1234}}", "", "+ typo {{SNN:536-22-1234}}"])
    assert info.value.line == 3
    assert "536-22-1234" not in str(info.value)


def test_kinds_of_built_in_detectors_and_exact_values_are_known(masker: Masker) -> None:
    report = run_fixture(
        masker,
        ["+ {{EMAIL:536-22-1234}}", "+ {{PATIENT_ID:536-22-1234}}"],
        exact_kinds=["PATIENT_ID"],
    )
    assert [c.problem for c in report.cases] == [
        "value 1 (EMAIL) was masked, but as SSN",
        "value 1 (PATIENT_ID) was masked, but as SSN",
    ]
    with pytest.raises(FixtureError, match="unknown kind 'PATIENT_ID'"):
        run_fixture(masker, ["+ {{PATIENT_ID:536-22-1234}}"])


def test_a_prose_label_names_one_identifier_not_the_rest_of_the_line() -> None:
    from hgate.mask import build_default_detectors

    masker = Masker(key=secrets.token_bytes(32), detectors=build_default_detectors())
    report = run_fixture(
        masker,
        [
            "+ MRN: {{MRN:A1234567}} phone {{PHONE:415-555-0134}}",
            "+ Member ID: {{MEMBER_ID:XK12345678}} verified",
        ],
    )
    assert report.passed, [c.problem for c in report.failures]
    assert "phone [PHONE:" in report.cases[0].masked


def test_exact_values_added_from_another_thread_while_masking() -> None:
    """The database proxy taints values from its thread while the PTY loop masks."""
    import threading

    masker = Masker(key=secrets.token_bytes(32))
    values = [f"synthetic-taint-{n:05d}" for n in range(400)]
    errors: list[BaseException] = []

    def taint() -> None:
        try:
            for value in values:
                masker.add_exact(value, "NAME")
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    thread = threading.Thread(target=taint)
    thread.start()
    while thread.is_alive():
        masker.mask("nothing to see " + values[0])
    thread.join()
    assert errors == []
    assert all("[NAME:" in masker.mask(v).text for v in values[::37])
