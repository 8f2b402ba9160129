"""Masking expectations a team reviews in pull requests: lines that must be masked or kept.

Fixture format, one case per line (blank lines and `#` comments are skipped):

    + Patient SSN {{536-22-1234}} seen by {{NAME:Dr. Ann Lee}}   every {{…}} must be masked
    = build 1.2.3 finished in 45 ms                              must pass unchanged

`{{value}}` must not survive masking and must be covered by a token; `{{KIND:value}}`
also requires the token's kind, which must be one the masker can report: a misspelt kind
is a mistake in the fixture, not a case that fails for a reason nobody can see. Reports
name the line and the kind, never the value.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from hgate.mask.detectors import ALL_KINDS
from hgate.mask.masker import Masker

_MARK = re.compile(r"\{\{(?:([A-Z][A-Z0-9_]*):)?(.+?)\}\}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    line: int
    expectation: str  # "mask" or "keep"
    passed: bool
    problem: str = ""
    masked: str = ""  # the masked line, safe to show


@dataclass(frozen=True, slots=True, kw_only=True)
class FixtureReport:
    cases: tuple[CaseResult, ...]

    @property
    def failures(self) -> tuple[CaseResult, ...]:
        return tuple(case for case in self.cases if not case.passed)

    @property
    def passed(self) -> bool:
        return not self.failures


class FixtureError(ValueError):
    """A fixture line that is not a case; carries its line number."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def run_fixture(
    masker: Masker, lines: Iterable[str], *, exact_kinds: Iterable[str] = ()
) -> FixtureReport:
    """Mask every case line with `masker` (state reset between cases) and check it.

    A `{{KIND:…}}` may name hgate's built-in kinds, the masker's detector kinds, SECRET
    (values from the environment) and `exact_kinds`, the kinds of the exact values the
    masker was given (the masker does not expose them)."""
    known = frozenset((*ALL_KINDS, *masker.kinds, "SECRET", *exact_kinds))
    results: list[CaseResult] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[:2] == "+ ":
            results.append(_must_mask(masker, number, line[2:], known))
        elif line[:2] == "= ":
            results.append(_must_keep(masker, number, line[2:]))
        else:
            raise FixtureError(number, "a case starts with '+ ' (must mask) or '= ' (must keep)")
        masker.reset_state()
    return FixtureReport(cases=tuple(results))


def _must_mask(masker: Masker, number: int, case: str, known: frozenset[str]) -> CaseResult:
    marks = list(_MARK.finditer(case))
    if not marks:
        raise FixtureError(number, "a '+' case needs at least one {{value}} to mask")
    for mark in marks:
        if (kind := mark.group(1)) is not None and kind not in known:
            raise FixtureError(number, _unknown_kind(kind, known))
    text = _MARK.sub(lambda m: m.group(2), case)
    result = masker.mask(text)
    problems = []
    shown = result.text
    for index, mark in enumerate(marks, start=1):
        kind, value = mark.group(1), mark.group(2)
        label = f"value {index}" + (f" ({kind})" if kind else "")
        if value in result.text:
            problems.append(f"{label} was not masked")
            shown = shown.replace(value, f"<value {index} NOT MASKED>")
        elif kind and not any(f.kind == kind for f in result.findings):
            found = ", ".join(sorted({f.kind for f in result.findings})) or "nothing"
            problems.append(f"{label} was masked, but as {found}")
    return CaseResult(
        line=number,
        expectation="mask",
        passed=not problems,
        problem="; ".join(problems),
        masked=shown,
    )


def _must_keep(masker: Masker, number: int, case: str) -> CaseResult:
    result = masker.mask(case)
    changed = result.text != case
    kinds = ", ".join(sorted({f.kind for f in result.findings}))
    return CaseResult(
        line=number,
        expectation="keep",
        passed=not changed,
        problem=f"changed: masked as {kinds}" if changed else "",
        masked=result.text,
    )


def _unknown_kind(kind: str, known: frozenset[str]) -> str:
    """The message for a kind no detector or value reports (never the marked value)."""
    close = difflib.get_close_matches(kind, sorted(known), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return (
        f"unknown kind {kind!r} in {{{{{kind}:…}}}}: {hint}known kinds: {', '.join(sorted(known))}"
    )
