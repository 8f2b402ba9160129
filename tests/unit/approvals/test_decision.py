"""Requests hash what approvers see; decisions count only when every rule holds."""

from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest

from hgate.approvals import (
    ApprovalError,
    ApprovalRequest,
    DecisionRefused,
    SignedDecision,
    Tally,
    check_decision,
    sign_decision,
    signature_valid,
)
from tests.unit.approvals.conftest import Person, make_request, person


def test_the_request_hash_covers_every_field_and_survives_a_round_trip(alice: Person) -> None:
    request = make_request([alice.approver])
    again = ApprovalRequest.from_json(request.to_json())
    assert again == request and again.sha256 == request.sha256
    other = dataclasses.replace(request, action="touch /srv/other")
    assert other.sha256 != request.sha256


def test_a_request_with_extra_fields_or_a_bad_id_is_refused(alice: Person) -> None:
    data = make_request([alice.approver]).to_dict()
    with pytest.raises(ApprovalError, match="unexpected or missing fields"):
        ApprovalRequest.from_dict({**data, "approved": True})
    with pytest.raises(ApprovalError, match="is not an approval request id"):
        ApprovalRequest.from_dict({**data, "id": "../../etc"})


@pytest.mark.parametrize("openssh", [False, True], ids=["pem", "openssh"])
def test_a_listed_approver_counts_with_either_key_format(openssh: bool) -> None:
    someone = person("dora", openssh=openssh)
    request = make_request([someone.approver])
    decision = sign_decision(
        request, someone.signer, decision="approve", reason="ok", now=time.time()
    )
    assert signature_valid(decision, someone.approver.public_key)
    assert SignedDecision.from_json(json.dumps(decision.to_dict()).encode()) == decision
    approver = check_decision(decision, request, [someone.approver], received_at=time.time())
    assert approver.name == "dora"


def test_refusals_name_why(alice: Person, bob: Person, carol: Person) -> None:
    listed = [alice.approver, carol.approver]
    request = make_request(listed)
    now = time.time()

    def signed(who: Person, target: ApprovalRequest = request) -> SignedDecision:
        return sign_decision(target, who.signer, decision="approve", reason="", now=now)

    other = make_request(listed)
    with pytest.raises(DecisionRefused, match="signed for another request"):
        check_decision(signed(alice, other), request, listed, received_at=now)
    with pytest.raises(
        DecisionRefused, match=re.escape(f"key {bob.signer.key_id} is not an approver")
    ):
        check_decision(signed(bob), request, [*listed, bob.approver], received_at=now)
    with pytest.raises(DecisionRefused, match="carol is the session's own identity"):
        check_decision(signed(carol), request, listed, received_at=now)
    with pytest.raises(DecisionRefused, match="arrived after the request expired"):
        check_decision(signed(alice), request, listed, received_at=request.expires + 1)
    forged = dataclasses.replace(signed(alice), reason="edited after signing")
    with pytest.raises(DecisionRefused, match="does not verify with alice's key"):
        check_decision(forged, request, listed, received_at=now)
    impostor = dataclasses.replace(signed(bob), key_id=alice.signer.key_id)
    with pytest.raises(DecisionRefused, match="does not verify"):
        check_decision(impostor, request, listed, received_at=now)


def test_n_distinct_approvers_and_one_denial(alice: Person, bob: Person, carol: Person) -> None:
    request = make_request([alice.approver, bob.approver], required=2)
    now = time.time()
    tally = Tally(request)
    yes = sign_decision(request, alice.signer, decision="approve", reason="", now=now)
    assert tally.add(yes, alice.approver) is None
    assert tally.add(yes, alice.approver) is None  # the same person twice is one approval
    outcome = tally.add(
        sign_decision(request, bob.signer, decision="approve", reason="", now=now), bob.approver
    )
    assert outcome is not None and outcome.approved and outcome.approved_by == ("alice", "bob")
    denied = Tally(request).add(
        sign_decision(request, bob.signer, decision="deny", reason="freeze", now=now), bob.approver
    )
    assert denied is not None and (denied.status, denied.reason) == (
        "denied",
        "denied by bob: freeze",
    )
    expired = Tally(request).expired()
    assert (expired.approved, expired.reason) == (False, "no decision in time (0 of 2 approvals)")
