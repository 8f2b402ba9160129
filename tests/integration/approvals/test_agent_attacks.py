"""The agent, inside a real session and as the same user, attacks its own approval: it
finds its request in the shared directory, signs with what it can read, plants links
for hgate to follow, and floods the approvers."""

from __future__ import annotations

import json
import sys
import time

import pytest

from hgate.session.approvals import MAX_PENDING
from tests.integration.approvals.conftest import Approvals, Held

pytestmark = pytest.mark.integration

SELF_APPROVING_AGENT = """#!/bin/bash
DIR={channel_dir}
bash -c 'touch {marker}' 2>/dev/null &
held=$!
for i in $(seq 400); do
  id=$(ls "$DIR" 2>/dev/null | head -1)
  [ -n "$id" ] && [ -f "$DIR/$id/request.json" ] && break
  sleep 0.05
done
ln -s {victim} "$DIR/$id/.outcome.json.$PPID.tmp"
{python} -m hgate approve "$id" --key {keys}/mallory --channel-dir "$DIR" >/dev/null 2>&1
echo "mallory-rc=$?"
{python} -m hgate approve "$id" --key {keys}/carol --channel-dir "$DIR" >/dev/null 2>&1
echo "in-session-rc=$?"
env -u HGATE_SESSION_ID \
  {python} -m hgate approve "$id" --key {keys}/carol --channel-dir "$DIR" >/dev/null 2>&1
echo "carol-rc=$?"
wait $held; echo "deploy-rc=$?"
"""

FLOODING_AGENT = """#!/bin/bash
for i in $(seq {count}); do
  mkdir -p {tmp}/d$i
  bash -c "touch {tmp}/d$i/deployed" 2>/dev/null &
done
wait; echo flooded
"""


def test_the_agent_cannot_approve_itself_nor_aim_hgates_writes(approvals: Approvals) -> None:
    """Before: hgate wrote the outcome through a temporary name the agent could predict
    (its parent's pid), so a link the agent left there made hgate overwrite any file
    it could write. The signatures the agent can make (an unlisted key; the session's
    own identity through `hgate approve` itself, once it hides that it runs inside the
    session) never count."""
    policy = approvals.policy(timeout="20s")
    victim = approvals.tmp_path / "victim.txt"
    victim.write_text("precious\n")
    agent = approvals.tmp_path / "agent.sh"
    agent.write_text(
        SELF_APPROVING_AGENT.format(
            channel_dir=approvals.channel_dir,
            marker=approvals.marker,
            victim=victim,
            python=sys.executable,
            keys=approvals.tmp_path / "keys",
        )
    )
    agent.chmod(0o755)
    held = approvals.start(policy, agent=agent)
    request_id = approvals.wait_for_request(held)
    deadline = time.monotonic() + 30
    while "carol-rc=" not in held.out_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "mallory-rc=67" in held.out_text()  # `hgate approve` refuses an unlisted key
    assert "in-session-rc=67" in held.out_text()  # and to run inside the asking session
    while not _recorded(held, "approval.decision") and time.monotonic() < deadline:
        time.sleep(0.05)  # the session has judged carol's decision: now a person denies
    approvals.decide("deny", request_id, "alice", "--reason", "no")
    approvals.finish(held)
    assert "carol-rc=0" in held.output  # the CLI signed: carol is listed for the rule
    assert "deploy-rc=126" in held.output and not approvals.marker.exists()
    (refused, denial) = held.of("approval.decision")
    assert (refused["accepted"], refused["refused"]) == (
        False,
        "carol is the session's own identity",
    )
    assert (denial["accepted"], denial["approver"]) == (True, "alice")
    assert victim.read_text() == "precious\n"
    outcome = json.loads((approvals.channel_dir / request_id / "outcome.json").read_text())
    assert outcome["status"] == "denied"


def test_a_flood_of_held_commands_reaches_the_approvers_only_up_to_the_limit(
    approvals: Approvals,
) -> None:
    """Before: every one of the agent's requests was published to the approvers."""
    count = MAX_PENDING + 4
    policy = approvals.policy(timeout="4s")
    agent = approvals.tmp_path / "agent.sh"
    agent.write_text(FLOODING_AGENT.format(count=count, tmp=approvals.tmp_path))
    agent.chmod(0o755)
    held = approvals.finish(approvals.start(policy, agent=agent))
    assert "flooded" in held.output, held.stderr
    assert len(held.of("approval.request")) == count
    statuses = sorted(o["status"] for o in held.of("approval.outcome"))
    assert statuses == ["expired"] * MAX_PENDING + ["failed"] * 4
    assert len(list(approvals.channel_dir.iterdir())) == MAX_PENDING
    assert not list(approvals.tmp_path.glob("d*/deployed"))
    assert approvals.verify(held.transcript).returncode == 0  # type: ignore[arg-type]


def test_blank_padding_cannot_scroll_the_command_off_the_approvers_screen(
    approvals: Approvals,
) -> None:
    """Before: 3,000 spaces (and Braille blanks, which count as printable) between the
    command and a harmless-looking comment were printed as they are: on a terminal the
    `touch` scrolled away above forty blank rows and `# list the temp files` was left."""
    padding = " " * 3000 + "\u2800" * 40
    agent = approvals.tmp_path / "agent.sh"
    agent.write_text(
        f"#!/bin/bash\nbash -c 'touch {approvals.marker} #{padding}# list the temp files'\n"
    )
    agent.chmod(0o755)
    held = approvals.start(approvals.policy(timeout="10s"), agent=agent)
    request_id = approvals.wait_for_request(held)
    shown = approvals.hgate("approvals", "list", "--channel-dir", str(approvals.channel_dir))
    approvals.decide("deny", request_id, "alice", "--reason", "no")
    approvals.finish(held)
    (line,) = [line for line in shown.stdout.splitlines() if line.startswith("  action")]
    assert f"touch {approvals.marker} # ‹3040 blanks› # list the temp files" in line
    assert len(line) < 200
    (length,) = [line for line in shown.stdout.splitlines() if line.startswith("  length")]
    assert length.split()[1] == str(
        len(f"touch {approvals.marker} #{padding}# list the temp files")
    )
    assert not approvals.marker.exists()


def _recorded(held: Held, kind: str) -> bool:
    """Whether the running session's transcript has an event of `kind` yet."""
    for path in held.out.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            if json.loads(line).get("type") == kind:
                return True
    return False
