"""A held command waits for a signed human decision; only a valid one lets it run."""

from __future__ import annotations

import dataclasses
import time

import pytest

from hgate.approvals import DirectoryChannel, sign_decision
from hgate.audit import load_signer
from tests.integration.approvals.conftest import Approvals

pytestmark = pytest.mark.integration


def test_an_approved_command_runs_and_verify_checks_the_decision(approvals: Approvals) -> None:
    held = approvals.start(approvals.policy())
    request_id = approvals.wait_for_request(held)
    listed = approvals.hgate("approvals", "list", "--channel-dir", str(approvals.channel_dir))
    assert request_id in listed.stdout and "touch" in listed.stdout
    assert "approved request" in approvals.decide("approve", request_id, "bob", "--reason", "ok")
    approvals.finish(held)
    assert held.proc.returncode == 0, held.stderr
    assert "deploy-rc=0" in held.output and "after" in held.output
    assert f"held for approval by rule deploy: request {request_id}" in held.output
    assert approvals.marker.exists()
    (decision,) = held.of("approval.decision")
    assert (decision["accepted"], decision["approver"]) == (True, "bob")
    (outcome,) = held.of("approval.outcome")
    assert (outcome["status"], outcome["approved_by"]) == ("approved", ["bob"])
    (record,) = [d for d in held.of("decision") if d.get("rule") == "deploy"]
    assert (record["action"], record["approval"]) == ("allow", "approved")
    report = approvals.verify(held.transcript)  # type: ignore[arg-type]
    assert report.returncode == 0, report.stdout
    assert "approvals: 1 decision(s) verified against 3 approver key(s)" in report.stdout


def test_a_denial_blocks_the_command_and_the_agent_is_told_why(approvals: Approvals) -> None:
    held = approvals.start(approvals.policy())
    request_id = approvals.wait_for_request(held)
    approvals.decide("deny", request_id, "alice", "--reason", "not during the freeze")
    approvals.finish(held)
    assert "deploy-rc=126" in held.output and "after" in held.output
    assert f"request {request_id} denied by alice: not during the freeze" in held.output
    assert not approvals.marker.exists()
    (outcome,) = held.of("approval.outcome")
    assert (outcome["status"], outcome["denied_by"]) == ("denied", "alice")
    assert approvals.verify(held.transcript).returncode == 0  # type: ignore[arg-type]


def test_no_answer_in_time_is_a_denial(approvals: Approvals) -> None:
    held = approvals.start(approvals.policy(timeout="1500ms"))
    approvals.wait_for_request(held)
    approvals.finish(held)
    assert "deploy-rc=126" in held.output
    assert "no decision in time (0 of 1 approvals)" in held.output
    assert not approvals.marker.exists()
    assert held.of("approval.outcome")[0]["status"] == "expired"


def test_unlisted_self_and_misdirected_decisions_are_refused(approvals: Approvals) -> None:
    held = approvals.start(approvals.policy(timeout="4s"))
    request_id = approvals.wait_for_request(held)
    inbox = DirectoryChannel(approvals.channel_dir)
    request = inbox.fetch(request_id)
    other = dataclasses.replace(request, action="touch /elsewhere/deployed")
    now = time.time()
    for who, target in (("mallory", request), ("carol", request), ("alice", other)):
        signer = load_signer(approvals.key(who))
        inbox.submit(sign_decision(target, signer, decision="approve", reason="", now=now))
    approvals.finish(held)
    assert "deploy-rc=126" in held.output and not approvals.marker.exists()
    refused = sorted(d["refused"] for d in held.of("approval.decision"))
    assert [d["accepted"] for d in held.of("approval.decision")] == [False, False, False]
    assert any("is not an approver for rule deploy" in r for r in refused)
    assert "carol is the session's own identity" in refused
    assert "the decision was signed for another request" in refused
    assert held.of("approval.outcome")[0]["status"] == "expired"
    report = approvals.verify(held.transcript)  # type: ignore[arg-type]
    assert "0 decision(s) verified against 3 approver key(s); 3 refused" in report.stdout


def test_two_of_three_need_two_distinct_approvers(approvals: Approvals) -> None:
    held = approvals.start(approvals.policy(required=2))
    request_id = approvals.wait_for_request(held)
    approvals.decide("approve", request_id, "alice")
    approvals.decide("approve", request_id, "alice", "--reason", "again")  # same person
    time.sleep(1.0)
    assert held.proc.poll() is None and not approvals.marker.exists()
    approvals.decide("approve", request_id, "bob")
    approvals.finish(held)
    assert "deploy-rc=0" in held.output and approvals.marker.exists()
    (outcome,) = held.of("approval.outcome")
    assert outcome["approved_by"] == ["alice", "bob"]


def test_the_cli_refuses_a_key_the_request_does_not_list(approvals: Approvals) -> None:
    held = approvals.start(approvals.policy(timeout="3s"))
    request_id = approvals.wait_for_request(held)
    result = approvals.hgate(
        "approve",
        request_id,
        "--key",
        str(approvals.key("mallory")),
        "--channel-dir",
        str(approvals.channel_dir),
    )
    approvals.finish(held)
    assert result.returncode == 67
    assert "is not an approver for request" in result.stderr


def test_the_approver_sees_escape_sequences_in_the_action_not_their_effect(
    approvals: Approvals,
) -> None:
    """An agent that paints `echo harmless` over its real command with ESC[2K ESC[G: the
    approver's listing shows the escapes as text, so the real command stays in view."""
    agent = approvals.tmp_path / "agent.sh"
    painted = f"touch {approvals.marker} #\\033[2K\\033[G  action  echo harmless"
    agent.write_text(f"#!/bin/bash\nbash -c \"$(printf '{painted}')\"\n")
    agent.chmod(0o755)
    held = approvals.start(approvals.policy(timeout="4s"), agent=agent)
    approvals.wait_for_request(held)
    shown = approvals.hgate("approvals", "list", "--channel-dir", str(approvals.channel_dir))
    approvals.finish(held)
    (line,) = [line for line in shown.stdout.splitlines() if line.startswith("  action")]
    assert "\x1b" not in shown.stdout
    assert f"touch {approvals.marker} #\\x1b[2K\\x1b[G  action  echo harmless" in line


def test_a_script_swapped_while_held_runs_as_approved(approvals: Approvals) -> None:
    """The agent asks for `bash job.sh`, then rewrites job.sh while the approver reads the
    request: what runs is what the approver was shown, not what the file now holds."""
    script = approvals.tmp_path / "job.sh"
    swapped = approvals.tmp_path / "swapped"
    script.write_text(f"touch {approvals.marker}\necho approved-script-ran\n")
    agent = approvals.tmp_path / "agent.sh"
    agent.write_text('#!/bin/bash\nbash job.sh; echo "deploy-rc=$?"\n')
    agent.chmod(0o755)
    held = approvals.start(approvals.policy(), agent=agent)
    request_id = approvals.wait_for_request(held)
    script.write_text(f"touch {swapped}\necho swapped-script-ran\n")
    approvals.decide("approve", request_id, "alice")
    approvals.finish(held)
    assert "deploy-rc=0" in held.output and "approved-script-ran" in held.output
    assert "swapped-script-ran" not in held.output and not swapped.exists()
    assert approvals.marker.exists()
    (request,) = [c for c in held.of("command") if c.get("phase") == "request"]
    assert request["mode"] == "script" and "script_sha256" in request
