"""The approval evidence the verifier reports never repeats an id that hgate did not
make: an unsigned line of a forged transcript can carry any text in those fields."""

from __future__ import annotations

from typing import Any

from hgate.approvals.evidence import check_approval_events
from tests.secrecy import assert_absent

PLANTED = "078-05-1120"  # synthetic SSN-shaped value (the famous specimen number)


def _decision(**fields: str) -> dict[str, Any]:
    base = {
        "format": "hgate-approval-decision/1",
        "request_id": "0123456789abcdef",
        "request_sha256": "0" * 64,
        "decision": "approve",
        "reason": "",
        "signed_at": "2026-01-01T00:00:00.000+00:00",
        "key_id": "SHA256:" + "A" * 43,
        "signature": "x",
    }
    return {**base, **fields}


def test_an_outcome_for_an_unknown_request_describes_its_id() -> None:
    found = check_approval_events(
        {"approvals": {"approvers": []}},
        [(3, "approval.outcome", {"request_id": PLANTED, "status": "approved"})],
    )
    assert found is not None and found.line == 3
    assert_absent({"planted": PLANTED}, detail=found.detail)
    assert "11 characters" in found.detail


def test_a_decision_for_an_unknown_request_or_key_describes_them() -> None:
    for fields in ({"request_id": PLANTED}, {"format": PLANTED}, {"decision": PLANTED}):
        found = check_approval_events(
            {"approvals": {"approvers": []}},
            [(2, "approval.decision", {"accepted": True, "decision": _decision(**fields)})],
        )
        assert found is not None and found.line == 2
        assert_absent({"planted": PLANTED}, detail=found.detail)


def test_an_id_of_hgates_form_is_still_named() -> None:
    found = check_approval_events(
        {"approvals": {"approvers": []}},
        [(3, "approval.outcome", {"request_id": "0123456789abcdef", "status": "approved"})],
    )
    assert found is not None and "request 0123456789abcdef " in found.detail
