"""`hgate mask` and `hgate policy test` as a user runs them. Synthetic values only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hgate.policy.loader import shipped_policies_dir
from tests.integration.run.conftest import Gate
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[2] / "data" / "masking-fixture.txt"


def test_mask_filters_a_file(gate: Gate, tmp_path: Path) -> None:
    log = tmp_path / "old.log"
    log.write_text("build ok\npatient ssn 536-22-1234 and jane.roe@example.com\n")
    done = subprocess.run(
        gate.command("mask", str(log)), capture_output=True, text=True, timeout=60, env=gate.env()
    )
    assert done.returncode == 0, done.stderr
    assert_absent(
        {"ssn": "536-22-1234", "email": "jane.roe@example.com"},
        stdout=done.stdout,
        stderr=done.stderr,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "build ok"
    assert lines[1].startswith("patient ssn [SSN:")
    assert "masked 2 value(s)" in done.stderr


def test_policy_test_passes_the_shipped_fixture(gate: Gate) -> None:
    done = subprocess.run(
        gate.command("policy", "test", str(shipped_policies_dir() / "local.yaml"), str(FIXTURE)),
        capture_output=True,
        text=True,
        timeout=60,
        env=gate.env(),
    )
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("10 passed, 0 failed")


def test_policy_test_fails_on_a_leak(gate: Gate, tmp_path: Path) -> None:
    policy = gate.policy(text="version: 1\nname: no-masking\n")
    fixture = tmp_path / "fixture.txt"
    fixture.write_text("+ ssn {{536-22-1234}}\n= plain\n")
    done = subprocess.run(
        gate.command("policy", "test", str(policy), str(fixture)),
        capture_output=True,
        text=True,
        timeout=60,
        env=gate.env(),
    )
    assert done.returncode == 1
    assert f"FAIL {fixture}:1 (mask): value 1 was not masked" in done.stdout
    assert_absent({"ssn": "536-22-1234"}, report=done.stdout.replace("{{536-22-1234}}", ""))


def test_mask_shows_progress_on_a_terminal_for_a_big_file(gate: Gate, tmp_path: Path) -> None:
    """`hgate mask big.log > clean.log` in a terminal: a bar on stderr, nothing of it in
    the masked output, and the summary after it."""
    import shlex

    import pexpect

    log, clean = tmp_path / "big.log", tmp_path / "clean.log"
    line = b"step 17 ok: compiled 42 files for jane.roe@example.com\n"  # synthetic
    log.write_bytes(line * (17 * 2**20 // len(line) + 1))
    command = " ".join(shlex.quote(part) for part in gate.command("mask", str(log)))
    child = pexpect.spawn(
        "bash", ["-c", f"{command} > {shlex.quote(str(clean))}"],
        env=gate.env(), timeout=120, dimensions=(24, 120),
    )  # fmt: skip
    child.expect(r"masking.*?MB")
    child.expect(r"masked (\d+) value\(s\)")
    count = int(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    masked = clean.read_bytes()
    assert count == masked.count(b"[EMAIL:") == log.stat().st_size // len(line)
    assert b"masking" not in masked and b"\x1b" not in masked
    assert_absent({"email": "jane.roe@example.com"}, output=masked.decode())
