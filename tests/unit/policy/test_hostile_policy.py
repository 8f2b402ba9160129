"""A policy file written to hurt the gate that loads it (it may come from a branch the
agent pushed): each must fail closed with one `file:line:col` line and exit 65, through
the real `hgate` binary, and never quote a value the policy asks to mask."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.secrecy import assert_absent
from tests.unit.hgate_cli import hgate, one_error_line

EXIT_POLICY = 65
HEAD = "version: 1\nname: t\n"
SECRET = "Zq8-synthetic-mask-value-0000"


def _check(policy: Path, *command: str) -> str:
    args = command or ("policy", "check", str(policy))
    done = hgate(*args, home=policy.parent / "home", cwd=policy.parent)
    assert done.returncode == EXIT_POLICY, done.stderr[-500:]
    return one_error_line(done)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", ["check", "run"])
def test_deep_nesting_is_refused_not_a_crash(tmp_path: Path, command: str) -> None:
    """Before: libyaml's composer recursed 50 000 levels and hgate died with SIGSEGV (-11)."""
    policy = _write(tmp_path / "p.yaml", HEAD + "description: " + "[" * 50_000 + "]" * 50_000)
    args = ("run", "-p", str(policy), "--", "true") if command == "run" else ()
    line = _check(policy, *args)
    assert line.startswith(f"hgate: error: {policy}:3:") and "nested deeper than 64" in line


def test_moderate_nesting_of_a_real_policy_still_loads(tmp_path: Path) -> None:
    policy = _write(tmp_path / "p.yaml", HEAD + "description: " + "[" * 3 + "]" * 3 + "\n")
    done = hgate("policy", "check", str(policy), home=tmp_path / "home", cwd=tmp_path)
    assert "nested deeper" not in done.stderr


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    """10^8 strings if expanded: refused at the first alias used where a value belongs."""
    text = "version: 1\nname: t\nx0: &a0 [lol]\n"
    text += "".join(f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    policy = _write(tmp_path / "p.yaml", text + "description: *a8\n")
    started = time.monotonic()
    line = _check(policy)
    assert time.monotonic() - started < 30
    assert f"{policy}:" in line


def test_a_mask_value_with_a_bad_tag_is_not_quoted(tmp_path: Path) -> None:
    """Before: `'Zq8-…' cannot be read as a YAML int` printed the value to be masked."""
    policy = _write(
        tmp_path / "p.yaml",
        HEAD + f"mask:\n  values:\n    - {{kind: SECRET, value: !!int {SECRET}}}\n",
    )
    line = _check(policy)
    assert f"{policy}:5:" in line
    assert_absent({"mask value": SECRET}, error=line)


def test_a_control_character_is_one_line_with_its_place(tmp_path: Path) -> None:
    """Before: `YAML error: unacceptable character…` plus an `in "<unicode string>"` line."""
    policy = _write(tmp_path / "p.yaml", HEAD + 'description: "ab\x01"\n')
    line = _check(policy)
    assert line.startswith(f"hgate: error: {policy}:3:17: ") and "#x0001" in line


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../outside.yaml", "must be a file name relative"),
        ("ABSOLUTE", "must be a file name relative"),
        ("link.yaml", "resolves outside"),
        ("zero.yaml", "resolves outside"),
    ],
)
def test_an_include_cannot_leave_the_policys_directory(
    tmp_path: Path, name: str, message: str
) -> None:
    """Before: each was read (the /dev/zero one reported as 'not found')."""
    outside = _write(tmp_path / "outside.yaml", "version: 1\nname: o\n")
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "link.yaml").symlink_to(outside)
    (policies / "zero.yaml").symlink_to("/dev/zero")
    include = str(outside) if name == "ABSOLUTE" else name
    policy = _write(policies / "p.yaml", HEAD + f"include: [{include!r}]\n")
    line = _check(policy)
    assert line.startswith(f"hgate: error: {policy}:3:") and message in line


def test_a_fifo_include_is_named_for_what_it_is(tmp_path: Path) -> None:
    """Before: 'not found' (the check skipped it); now the open refuses it without blocking."""
    os.mkfifo(tmp_path / "fifo.yaml")
    policy = _write(tmp_path / "p.yaml", HEAD + "include: [fifo.yaml]\n")
    assert "not a regular file" in _check(policy)


def test_an_include_inside_the_directory_through_a_symlink_still_loads(tmp_path: Path) -> None:
    _write(tmp_path / "real.yaml", "version: 1\nname: r\n")
    (tmp_path / "alias.yaml").symlink_to("real.yaml")
    policy = _write(tmp_path / "p.yaml", HEAD + "include: [alias.yaml]\n")
    done = hgate("policy", "check", str(policy), home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("included", "message"),
    [
        ("mask:\n  detectors:\n    disable: [SSN, EMAIL]\n", "may not disable detectors"),
        ("commands:\n  rules:\n    - {name: r, action: allow, program: rm}\n", "allow rules"),
        ("commands:\n  rules:\n    - {name: r, action: Allow, program: rm}\n", "expected one of"),
        ("Commands:\n  default: allow\n", "unknown key 'Commands'"),
        ("commands:\n  default: allow\n", "unknown key 'default'"),
        ("identities:\n  - {name: x, local: true}\n", "unknown key 'identities'"),
        (
            "x: &r {name: r, action: allow, program: rm}\ncommands:\n  rules:\n    - {<<: *r}\n",
            "merge keys",
        ),
        ("commands:\n  rules:\n    - {<<: {action: allow}, name: r}\n", "merge keys"),
    ],
)
def test_an_include_cannot_widen_the_policy(tmp_path: Path, included: str, message: str) -> None:
    _write(tmp_path / "extra.yaml", "version: 1\n" + included)
    policy = _write(tmp_path / "p.yaml", HEAD + "include: [hipaa-baseline.yaml, extra.yaml]\n")
    line = _check(policy)
    assert f"{tmp_path / 'extra.yaml'}:" in line and message in line


@pytest.mark.parametrize("pattern", ["(a+)+b", r"(\\w+\\s?)*x", "(?:a|b+)*c", "((ab)*)+c"])
@pytest.mark.parametrize("command", ["check", "mask"])
def test_a_catastrophic_mask_pattern_is_refused(tmp_path: Path, pattern: str, command: str) -> None:
    """Before: accepted; `(a+)+b` took 6 s on a line of 26 a's, doubling with each more."""
    policy = _write(
        tmp_path / "p.yaml",
        HEAD + f'mask:\n  rules:\n    - {{name: r, kind: PROJ, pattern: "{pattern}"}}\n',
    )
    args = ("mask", "-p", str(policy), "-q") if command == "mask" else ()
    line = _check(policy, *args)
    assert line.startswith(f"hgate: error: {policy}:5:") and "exponential time" in line


@pytest.mark.parametrize("pattern", ["(a+)++b", "(?>a+)+b", r"MRN[:#]? ?(\\d{6,10})", "(?:ab-)*c"])
def test_a_linear_mask_pattern_is_accepted(tmp_path: Path, pattern: str) -> None:
    policy = _write(
        tmp_path / "p.yaml",
        HEAD + f'mask:\n  rules:\n    - {{name: r, kind: PROJ, pattern: "{pattern}"}}\n',
    )
    done = hgate("policy", "check", str(policy), home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_catastrophic_claim_regex_is_refused(tmp_path: Path) -> None:
    """A claim such as `ref` carries the branch name the agent pushed. Before: accepted."""
    policy = _write(
        tmp_path / "p.yaml",
        HEAD + "issuers:\n  - {name: gh, url: 'https://token.actions.githubusercontent.com', "
        "audience: 'hgate:acme/x'}\n"
        "identities:\n  - name: ci\n    issuer: gh\n"
        "    claims: {ref: 'regex:refs/heads/(a+)+$'}\n",
    )
    line = _check(policy)
    assert line.startswith(f"hgate: error: {policy}:8:") and "exponential time" in line


@pytest.mark.parametrize("item", [f"value:{SECRET}", f"{SECRET}: x", f"'{SECRET}'"])
def test_a_misspelt_mask_value_key_is_not_quoted(tmp_path: Path, item: str) -> None:
    """`value:s3cret` (no space) is a key in flow style. Before: `unknown key 'value:…'`."""
    policy = _write(
        tmp_path / "p.yaml", HEAD + f"mask:\n  values:\n    - {{kind: SECRET, {item}}}\n"
    )
    line = _check(policy)
    assert f"{policy}:5:" in line
    assert_absent({"mask value": SECRET}, error=line)
