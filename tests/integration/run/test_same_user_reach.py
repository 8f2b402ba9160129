"""Adversarial: an agent of the same OS user goes looking for hgate's secrets in /proc.

hgate removes its secrets from the agent's environment, but the kernel keeps each
process's initial environment in /proc/<pid>/environ, readable by the same user. The
session runs inside `unshare --user` (a user namespace with no capabilities), so hgate
and the agent are one unprivileged user, as on a CI runner. A shell between the test and
hgate carries a harmless marker: the agent must be able to read that (the probe works)
and must not find the signing key in any ancestor (hgate sealed itself).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.integration.run.conftest import Gate

PROBE = r"""
pid=$$
while [ "$pid" -gt 1 ]; do
  comm=$(cat /proc/$pid/comm)
  if env_text=$(tr '\0' '\n' < /proc/$pid/environ 2>/dev/null); then
    case "$env_text" in *HGATE_SIGNING_KEY=*) echo "LEAK $comm" ;; esac
    case "$env_text" in *HGATE_REACH_MARKER=*) echo "MARKER $comm" ;; esac
  else
    echo "DENIED $comm"
  fi
  pid=$(awk '{print $4}' /proc/$pid/stat)
done
echo probe-done
"""


def test_agent_cannot_read_hgates_initial_environment(
    gate: Gate, tmp_path: Path, agent_script: Callable[[str], list[str]]
) -> None:
    unshare = shutil.which("unshare")
    assert unshare, "util-linux `unshare` is needed to run hgate as an unprivileged user"
    keys = tmp_path / "keys"
    subprocess.run(gate.command("keygen", "--out", str(keys)), check=True, capture_output=True)
    agent = agent_script(PROBE)
    hgate_argv = gate.command(
        "run", "--policy", str(gate.policy()), "--out", str(tmp_path / "runs"), "--", *agent
    )
    # The key is set for hgate alone (a prefix assignment), so the shell holds only the marker.
    launcher = f'HGATE_SIGNING_KEY="$(cat {shlex.quote(str(keys / "hgate.key"))})" ' + " ".join(
        shlex.quote(a) for a in hgate_argv
    )
    proc = subprocess.run(
        [unshare, "--user", "sh", "-c", launcher + "; exit $?"],
        capture_output=True,
        timeout=60,
        env=gate.env(HGATE_REACH_MARKER="1"),
    )
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert "probe-done" in out
    assert "MARKER sh" in out, f"the probe could not read a same-user ancestor: {out!r}"
    assert "LEAK" not in out, f"the agent found the signing key in an ancestor: {out!r}"
    assert "DENIED python" in out, f"hgate's environment was not refused: {out!r}"
