"""The session side: a held action waits in its own thread, and every step is evidence."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from hgate.approvals import DirectoryChannel, Requirement, sign_decision
from hgate.audit import DirectorySink, TranscriptWriter, generate_keypair, load_signer
from hgate.guard import Verdict
from hgate.policy.approvals import ApprovalsPolicy, ChannelSettings
from hgate.session.approvals import SessionApprovals
from hgate.session.control import NOTICE
from tests.unit.approvals.conftest import Person


def session(tmp_path: Path, people: list[Person], *, timeout: float = 10.0) -> SessionApprovals:
    paths = generate_keypair(tmp_path / "key")
    writer = TranscriptWriter(DirectorySink(tmp_path / "runs"), load_signer(paths.private_key))
    writer.start({"session_id": "20260101T000000Z-abcd1234"})
    (tmp_path / "shared").mkdir()
    policy = ApprovalsPolicy(
        channel=ChannelSettings(
            type="directory", path=str(tmp_path / "shared"), poll_interval=0.02
        ),
        approvers=tuple(p.approver for p in people),
        default=Requirement(rule="*", timeout=timeout),
    )
    return SessionApprovals(
        policy,
        DirectoryChannel(tmp_path / "shared", interval=0.01),
        session_id="20260101T000000Z-abcd1234",
        issuer="local",
        subject="carol@ci",
        policy_sha256="0" * 64,
        writer=writer,
        mask=lambda text: text.replace("s3cr3t", "[SECRET]"),
    )


def events(tmp_path: Path) -> list[dict[str, Any]]:
    (path,) = (tmp_path / "runs").glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_held_command_is_settled_by_a_decision_from_elsewhere(
    tmp_path: Path, alice: Person
) -> None:
    approvals = session(tmp_path, [alice])
    notices: list[str] = []
    inbox = DirectoryChannel(tmp_path / "shared")

    def approver() -> None:
        while not inbox.pending():
            time.sleep(0.01)
        (request,) = inbox.pending()
        inbox.submit(
            sign_decision(request, alice.signer, decision="approve", reason="", now=time.time())
        )

    thread = threading.Thread(target=approver)
    thread.start()
    token = NOTICE.set(notices.append)
    try:
        verdict = approvals.settle(
            Verdict(action="approve", rule="deploy", reason="prod"), text="deploy --token s3cr3t"
        )
    finally:
        NOTICE.reset(token)
        thread.join(timeout=10)
    assert (verdict.action, verdict.approval) == ("allow", "approved")
    assert "held for approval by rule deploy" in notices[0] and "hgate approve" in notices[0]
    kinds = [e["type"] for e in events(tmp_path) if e["type"].startswith("approval.")]
    assert kinds == ["approval.request", "approval.decision", "approval.outcome"]
    recorded = json.dumps(events(tmp_path))
    assert "deploy --token [SECRET]" in recorded and "s3cr3t" not in recorded


def test_closing_the_session_cancels_a_waiting_request(tmp_path: Path, alice: Person) -> None:
    approvals = session(tmp_path, [alice])
    results: list[Any] = []
    thread = threading.Thread(
        target=lambda: results.append(
            approvals.request_approval("SELECT 1", "sql-rule", source="sql", masked=True)
        )
    )
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    approvals.close()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2
    (outcome,) = results
    assert (outcome.status, outcome.approved) == ("cancelled", False)


def test_a_proxy_call_with_a_shorter_timeout_expires(tmp_path: Path, alice: Person) -> None:
    approvals = session(tmp_path, [alice])
    outcome = approvals.request_approval(
        "DELETE FROM t", "r", source="sql", masked=True, timeout=0.2
    )
    assert outcome.status == "expired"
    (request,) = [e["data"]["request"] for e in events(tmp_path) if e["type"] == "approval.request"]
    assert (request["source"], request["action"]) == ("sql", "DELETE FROM t")


def test_a_channel_that_cannot_publish_is_a_denial(tmp_path: Path, alice: Person) -> None:
    approvals = session(tmp_path, [alice])
    (tmp_path / "shared").rmdir()
    verdict = approvals.settle(Verdict(action="approve", rule="deploy"), text="deploy")
    assert (verdict.action, verdict.approval) == ("block", "failed")
    assert "could not be published" in verdict.reason


def test_the_proxy_channel_records_sql_statements_as_given(tmp_path: Path, alice: Person) -> None:
    approvals = session(tmp_path, [alice])
    channel = approvals.channel_for("sql", timeout=0.2)
    verdict = channel.settle(Verdict(action="approve", rule="r"), text="DELETE s3cr3t")
    assert (verdict.action, verdict.approval) == ("block", "expired")
    (request,) = [e["data"]["request"] for e in events(tmp_path) if e["type"] == "approval.request"]
    assert (request["source"], request["action"]) == ("sql", "DELETE s3cr3t")  # masked by the proxy
