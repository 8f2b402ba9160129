"""Comparing a transcript's header with what the auditor expected (the MISMATCH verdict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hgate.audit.report import Check, Expectations

_FINGERPRINT_PREFIX = "SHA256:"


def check_expectations(
    header: Mapping[str, Any], fingerprint: str, expect: Expectations
) -> list[Check]:
    """One check per expectation that was given; a failed one names both values."""
    checks: list[Check] = []
    ci = header.get("ci")
    policy = header.get("policy")
    if expect.session_id is not None:
        actual = header.get("session_id")
        actual = actual if isinstance(actual, str) else None
        checks.append(_compare("expect.session_id", "session_id", expect.session_id, actual))
    if expect.repo is not None:
        actual = _field(ci, "repository")
        checks.append(_compare("expect.repo", "ci.repository", expect.repo, actual))
    if expect.run_id is not None:
        actual = _field(ci, "run_id")
        checks.append(_compare("expect.run_id", "ci.run_id", expect.run_id, actual))
    if expect.run_attempt is not None:
        actual = _field(ci, "run_attempt")
        checks.append(_compare("expect.run_attempt", "ci.run_attempt", expect.run_attempt, actual))
    if expect.policy_sha256 is not None:
        actual = _field(policy, "sha256")
        checks.append(
            _compare(
                "expect.policy_sha256",
                "policy.sha256",
                _digest(expect.policy_sha256),
                _digest(actual) if actual is not None else None,
            )
        )
    if expect.key_fingerprint is not None:
        wanted = expect.key_fingerprint
        if not wanted.startswith(_FINGERPRINT_PREFIX):
            wanted = _FINGERPRINT_PREFIX + wanted
        checks.append(_compare("expect.key_fingerprint", "key fingerprint", wanted, fingerprint))
    return checks


def _field(section: Any, name: str) -> str | None:
    """A header value as text (run ids may be numbers); None if absent."""
    if not isinstance(section, dict):
        return None
    value = section.get(name)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        return str(value)
    return None


def _digest(value: str) -> str:
    value = value.strip().lower()
    return value.removeprefix("sha256:")


def _compare(name: str, label: str, expected: str, actual: str | None) -> Check:
    if actual == expected:
        return Check(name=name, status="pass", detail=f"{label} is {expected}")
    shown = "absent" if actual is None else repr(actual)
    return Check(name=name, status="fail", detail=f"expected {label} {expected!r}, found {shown}")
