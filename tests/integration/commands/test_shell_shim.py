"""Commands an agent runs through `sh`/`bash`/`$SHELL`: checked, recorded, refused with 126."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.commands.conftest import Harness
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration


def test_blocked_commands_are_refused_wherever_they_hide(harness: Harness) -> None:
    (harness.tmp_path / "inner.sh").write_text(f"echo inner\nrm -rf {harness.victim}\n")
    session = harness.run(
        harness.agent("""\
bash -c 'echo start | rm -rf VICTIM'; echo "pipeline=$?"
sh -c 'echo $(rm -rf VICTIM)'; echo "subst=$?"
bash -c 'sudo -n env X=1 rm -rf VICTIM'; echo "sudo=$?"
bash -lc "bash ./inner.sh"; echo "script=$?"
$SHELL -ec 'timeout 5 rm -r VICTIM/keep'; echo "shell=$?"
""")
    )
    assert session.returncode == 0, session.stderr
    for name in ("pipeline", "subst", "sudo", "script", "shell"):
        assert f"{name}=126" in session.output
    assert "hgate: blocked by rule no-victim: the victim directory must survive" in session.output
    assert "inner" not in session.output.replace("inner.sh", "")
    assert (harness.victim / "keep").exists()
    blocked = session.of("decision", action="block", rule="no-victim")
    assert len(blocked) == 5
    assert {d["matched"].split()[-1] for d in blocked} >= {str(harness.victim)}


def test_allowed_commands_run_unchanged_with_their_exit_status(harness: Harness) -> None:
    session = harness.run(
        harness.agent("""\
bash -c 'echo "args:$0:$1"; exit 7' zero one; echo "bash=$?"
sh -c 'printf "%s\\n" "$(echo nested)"'; echo "sh=$?"
$SHELL -o pipefail -c 'false | true'; echo "pipefail=$?"
echo "shell=$SHELL"
""")
    )
    assert session.returncode == 0, session.stderr
    assert "args:zero:one" in session.output and "bash=7" in session.output
    assert "nested" in session.output and "sh=0" in session.output
    assert "pipefail=1" in session.output
    requests = session.of("command", phase="request", source="shell")
    assert [r["argv"][0] for r in requests] == ["bash", "sh", "bash"]
    exits = {e["id"]: e["exit_code"] for e in session.of("command", phase="exit")}
    assert [exits.get(r["id"]) for r in requests] == [7, 0, 1]
    assert all(d["action"] == "allow" for d in session.of("decision") if "command" in d)
    (recorder,) = session.of("recorder")
    assert recorder["source"] == "proc_connector" and recorder["complete"] is True
    assert "VALID" in harness.verify(session.transcript).stdout


def test_unparsable_lines_are_refused_by_default(harness: Harness) -> None:
    session = harness.run(harness.agent("bash -c 'case x in x) echo ran;;'; echo rc=$?\n"))
    assert "rc=126" in session.output and "ran" not in session.output.replace("rc=", "")
    (decision,) = session.of("decision", rule="commands.unparsable")
    assert decision["action"] == "block"


def test_syntax_bashlex_cannot_parse_is_checked_by_the_fallback(harness: Harness) -> None:
    session = harness.run(
        harness.agent("""\
bash -c '[[ -d /tmp ]] && echo fallback-ran'; echo "allowed=$?"
bash -c '[[ -d /tmp ]] && rm -rf VICTIM'; echo "blocked=$?"
""")
    )
    assert session.returncode == 0, session.stderr
    assert "fallback-ran" in session.output and "allowed=0" in session.output
    assert "blocked=126" in session.output and (harness.victim / "keep").exists()
    allowed, blocked = (d for d in session.of("decision") if "command" in d)
    assert (allowed["action"], allowed["parser"]) == ("allow", "fallback")
    assert (blocked["action"], blocked["rule"], blocked["parser"]) == (
        "block",
        "no-victim",
        "fallback",
    )


def test_approve_rules_are_refused_until_approvals_exist(harness: Harness) -> None:
    session = harness.run(harness.agent("bash -c 'kubectl delete pod web-1'; echo rc=$?\n"))
    assert "rc=126" in session.output
    assert "approval is not configured" in session.output
    (decision,) = session.of("decision", rule="kubectl-delete")
    assert (decision["action"], decision["approval"]) == ("block", "not-configured")


def test_the_shim_fails_closed_without_a_session(tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HGATE_")}
    lonely = subprocess.run(
        [sys.executable, "-m", "hgate", "shell", "-c", "echo ran"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (lonely.returncode, lonely.stdout) == (126, "")
    assert "not inside an hgate session" in lonely.stderr
    env["HGATE_CONTROL"] = "/nonexistent/control.sock"
    gone = subprocess.run(
        [sys.executable, "-m", "hgate", "shell", "-c", "echo ran"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert gone.returncode == 126 and "cannot reach the hgate session" in gone.stderr


def test_secrets_in_command_lines_are_masked_in_the_record(harness: Harness) -> None:
    token = "ghp_" + "a1B2c3D4" * 5
    session = harness.run(harness.agent(f"bash -c 'echo {token} >/dev/null'\n"))
    text = session.transcript.read_text()
    assert_absent({"token": token}, transcript=text)
    assert "[SECRET:" in text
