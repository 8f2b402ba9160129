"""The directory channel's files, and the terminal prompt on a real pseudo-terminal."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from hgate.approvals import (
    ApprovalError,
    ApprovalOutcome,
    DirectoryChannel,
    Received,
    RequestId,
    TerminalChannel,
    sign_decision,
)
from tests.unit.approvals.conftest import Person, make_request


def test_directory_publish_list_fetch_submit_conclude(tmp_path: Path, alice: Person) -> None:
    channel = DirectoryChannel(tmp_path, interval=0.01)
    request = make_request([alice.approver])
    channel.publish(request)
    assert [r.id for r in channel.pending()] == [request.id]
    assert channel.fetch(request.id) == request
    assert channel.received(request, wait=0.05) == []
    decision = sign_decision(request, alice.signer, decision="approve", reason="", now=time.time())
    channel.submit(decision)
    (tmp_path / request.id / "decisions" / "junk.json").write_text("{not json")
    found = {r.key: r for r in channel.received(request, wait=0)}
    assert found.pop("junk.json").problem == "the decision is not JSON"
    assert [r.decision for r in found.values()] == [decision]
    outcome = ApprovalOutcome(request_id=RequestId(request.id), status="approved", reason="ok")
    channel.conclude(request, outcome)
    assert channel.pending() == []


def test_directory_errors_name_the_problem(tmp_path: Path, alice: Person) -> None:
    channel = DirectoryChannel(tmp_path / "missing")
    with pytest.raises(ApprovalError, match="no approval request 0123456789abcdef"):
        channel.fetch("0123456789abcdef")
    with pytest.raises(ApprovalError, match="is not an approval request id"):
        channel.fetch("../escape")
    (tmp_path / "missing").write_text("a file, not a directory")
    with pytest.raises(ApprovalError, match="cannot publish approval request"):
        channel.publish(make_request([alice.approver]))


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_listing_a_directory_that_is_not_there_is_an_error(tmp_path: Path, kind: str) -> None:
    """Before: a missing directory listed as "nothing pending", so a mistyped share
    looked like a quiet one."""
    path = tmp_path / "approvals"
    if kind == "a file":
        path.write_text("not a directory")
    with pytest.raises(ApprovalError, match=f"cannot list the approvals directory {path}: "):
        DirectoryChannel(path).pending()


def test_approvals_list_with_a_missing_directory_exits_67(tmp_path: Path) -> None:
    from tests.unit.hgate_cli import hgate, one_error_line

    missing = tmp_path / "nope"
    done = hgate("approvals", "list", env={"HGATE_APPROVALS_DIR": str(missing)})
    assert done.returncode == 67, done.stdout
    assert one_error_line(done).startswith(
        f"hgate: error: cannot list the approvals directory {missing}: No such file or directory"
    )
    assert "no pending approval requests" not in done.stdout
    empty = hgate("approvals", "list", "--channel-dir", str(tmp_path))
    assert empty.returncode == 0 and empty.stdout.strip() == "no pending approval requests"


def test_terminal_prompt_signs_the_developers_answer(alice: Person) -> None:
    master, slave = os.openpty()
    try:
        channel = TerminalChannel(alice.signer, tty_path=os.ttyname(slave))
        request = make_request([alice.approver])
        answered: list[Received] = []
        reader = threading.Thread(
            target=lambda: answered.extend(channel.received(request, wait=5)), daemon=True
        )
        reader.start()
        prompt = _read_until(master, b"[y / n REASON]")
        assert request.id.encode() in prompt and b"touch /srv/deployed" in prompt
        os.write(master, b"n not today\n")
        reader.join(timeout=5)
        channel.close()
    finally:
        os.close(master)
        os.close(slave)
    (received,) = answered
    decision = received.decision
    assert decision is not None
    assert (decision.decision, decision.reason, decision.key_id) == (
        "deny",
        "not today",
        alice.signer.key_id,
    )


def test_terminal_fed_by_the_stdin_filter_keeps_the_answer_from_the_agent(alice: Person) -> None:
    master, slave = os.openpty()
    echoed: list[bytes] = []
    try:
        channel = TerminalChannel(
            alice.signer, tty_path=os.ttyname(slave), fed=True, echo=echoed.append
        )
        forwarded: list[bytes] = []

        def type_keys(keys: bytes) -> None:  # as the PTY loop does, from its own thread
            thread = threading.Thread(target=lambda: forwarded.append(channel.feed(keys)))
            thread.start()
            thread.join(timeout=5)

        type_keys(b"ls\r")
        request = make_request([alice.approver])
        assert channel.received(request, wait=0.01) == ()
        assert channel.prompting
        type_keys(b"yx\x7f\r")
        assert forwarded == [b"ls\r", b""]  # no prompt open: keys went to the agent
        (received,) = channel.received(request, wait=1)
        channel.close()
    finally:
        os.close(master)
        os.close(slave)
    assert received.decision is not None and received.decision.decision == "approve"
    assert not channel.prompting and b"approval needed" in b"".join(echoed)


def test_no_terminal_is_a_clear_error(alice: Person, tmp_path: Path) -> None:
    with pytest.raises(ApprovalError, match="needs a terminal"):
        TerminalChannel(alice.signer, tty_path=str(tmp_path / "no-tty"))


def _read_until(fd: int, marker: bytes) -> bytes:
    data = b""
    deadline = time.monotonic() + 5
    while marker not in data and time.monotonic() < deadline:
        data += os.read(fd, 4096)
    return data


@pytest.mark.parametrize("planted", ["fifo", "deep"])
def test_a_hostile_decision_file_is_a_problem_not_a_hang_or_a_crash(
    tmp_path: Path, alice: Person, planted: str
) -> None:
    """Anyone who can write the shared folder (the agent, as the same user) may leave a
    FIFO (opening it waits for a writer) or JSON nested past Python's recursion limit:
    each is reported as a problem with that decision, and the wait goes on."""
    channel = DirectoryChannel(tmp_path, interval=0.01)
    request = make_request([alice.approver])
    channel.publish(request)
    decisions = tmp_path / request.id / "decisions"
    if planted == "fifo":
        os.mkfifo(decisions / "planted.json")
    else:
        (decisions / "planted.json").write_text("[" * 60_000)
    (received,) = channel.received(request, wait=0)
    assert received.decision is None and received.problem
