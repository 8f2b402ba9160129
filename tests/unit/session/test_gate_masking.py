"""The command gate masks before it cuts: a secret on the 4096-character cut stays hidden."""

from __future__ import annotations

import json
from typing import cast

from hgate.audit import TranscriptWriter
from hgate.guard import Matcher, NoApprovals, Rule
from hgate.mask import Masker
from hgate.policy.commands import CommandPolicy
from hgate.session.gate import MAX_RECORDED_TEXT, CommandGate
from tests.journal import Journal

SECRET = "Zq8vN3xKp0Lm7RtY2wB9cD4fH6jS1uEa"


def make() -> tuple[CommandGate, Journal]:
    masker, journal = Masker(key=b"k" * 32), Journal()
    masker.add_exact(SECRET, "SECRET")
    rule = Rule(name="no-ssh", action="block", matcher=Matcher(programs=("ssh",)))
    gate = CommandGate(
        CommandPolicy(rules=(rule,)),
        masker=masker,
        writer=cast(TranscriptWriter, journal),
        approvals=NoApprovals(),
        shim_dir="/nonexistent/shims",
        stop=lambda _why: None,
    )
    return gate, journal


def test_a_secret_lying_on_the_cut_leaves_nothing_of_itself_in_the_record() -> None:
    gate, journal = make()
    pad = "A" * (MAX_RECORDED_TEXT - len("ssh host ") - 8)  # the cut falls 8 chars in
    line = f"ssh host {pad}{SECRET}"
    verdict = gate.shell_request(shell="bash", args=("-c", line), cwd="", path="", pid=None).verdict
    assert verdict.action == "block"
    recorded = json.dumps(journal.events)
    for shown in (recorded, verdict.message()):
        assert SECRET[:8] not in shown
        assert SECRET[8:16] not in shown
    verdict = gate.stdin_line(line)
    assert verdict.action == "block"
    assert SECRET[:8] not in json.dumps(journal.events) + verdict.message()


def test_recorded_text_is_still_cut() -> None:
    gate, journal = make()
    gate.stdin_line("ssh " + "B" * (2 * MAX_RECORDED_TEXT))
    command = next(data for kind, data in journal.events if kind == "command")
    assert len(command["text"]) == MAX_RECORDED_TEXT + 1
