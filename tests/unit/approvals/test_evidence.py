"""`hgate verify` re-checks every accepted decision with the approver keys in the header."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hgate.approvals import ApprovalRequest, SignedDecision, sign_decision
from hgate.audit import (
    DirectorySink,
    TranscriptWriter,
    Verdict,
    generate_keypair,
    load_public_key,
    load_signer,
    verify_transcript,
)
from tests.unit.approvals.conftest import Person, make_request


def transcript(
    tmp_path: Path, people: list[Person], events: list[tuple[str, dict[str, Any]]]
) -> tuple[Path, Path]:
    """A real signed transcript with an approvals header and `events`; (file, public key)."""
    paths = generate_keypair(tmp_path / "key")
    writer = TranscriptWriter(DirectorySink(tmp_path / "runs"), load_signer(paths.private_key))
    approvers = [
        {"name": p.approver.name, "key_id": p.approver.key_id, "public_key": p.approver.public_key}
        for p in people
    ]
    header: dict[str, Any] = {"session_id": "20260101T000000Z-abcd1234"}
    if people:
        header["approvals"] = {"approvers": approvers}
    writer.start(header)
    for kind, data in events:
        writer.append(kind, data)
    writer.seal(exit_code=0, reason="agent exited")
    (path,) = (tmp_path / "runs").glob("*.jsonl")
    return path, paths.public_key


def held(
    request: ApprovalRequest, decision: SignedDecision, name: str
) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("approval.request", {"request": request.to_dict(), "sha256": request.sha256}),
        (
            "approval.decision",
            {
                "request_id": request.id,
                "decision": decision.to_dict(),
                "accepted": True,
                "approver": name,
            },
        ),
        (
            "approval.outcome",
            {"request_id": request.id, "status": "approved", "approved_by": [name]},
        ),
    ]


def test_a_genuine_decision_verifies(tmp_path: Path, alice: Person) -> None:
    request = make_request([alice.approver])
    decision = sign_decision(request, alice.signer, decision="approve", reason="", now=time.time())
    path, key = transcript(tmp_path, [alice], held(request, decision, "alice"))
    report = verify_transcript(path, load_public_key(key))
    assert report.verdict is Verdict.VALID
    (check,) = [c for c in report.checks if c.name == "approvals"]
    assert check.detail == "1 decision(s) verified against 1 approver key(s)"


def test_a_transcript_without_approvals_reports_nothing_new(tmp_path: Path) -> None:
    path, key = transcript(tmp_path, [], [("output", {"lines": []})])
    report = verify_transcript(path, load_public_key(key))
    assert report.verdict is Verdict.VALID
    assert "approvals" not in [c.name for c in report.checks]


@pytest.mark.parametrize("forgery", ["edited", "unlisted", "no-decision"])
def test_a_forged_decision_makes_the_transcript_invalid(
    tmp_path: Path, alice: Person, bob: Person, forgery: str
) -> None:
    request = make_request([alice.approver])
    signer = bob.signer if forgery == "unlisted" else alice.signer
    decision = sign_decision(request, signer, decision="approve", reason="", now=time.time())
    if forgery == "edited":
        decision = SignedDecision.from_dict({**decision.to_dict(), "reason": "added later"})
    events = held(request, decision, "alice")
    if forgery == "no-decision":
        del events[1]
    path, key = transcript(tmp_path, [alice], events)
    report = verify_transcript(path, load_public_key(key))
    assert report.verdict is Verdict.INVALID
    expected = {
        "edited": "signature does not verify",
        "unlisted": "not a listed approver",
        "no-decision": "recorded approved with 0 of 1 verified approvals",
    }[forgery]
    assert report.first_break is not None and expected in report.first_break.what
    cli = subprocess.run(
        [sys.executable, "-m", "hgate", "verify", str(path), "--key", str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 4 and "FAIL" in cli.stdout and "approvals:" in cli.stdout
