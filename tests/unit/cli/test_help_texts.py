"""What `--help` promises matches what the command does (docs/commands.md's codes)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.hgate_cli import hgate


def test_verify_help_names_the_code_for_an_unreadable_key_or_transcript() -> None:
    """Before: only the verdicts' codes, though a missing key or transcript exits 67."""
    done = hgate("verify", "--help")
    assert done.returncode == 0, done.stderr
    assert "67 (no verdict)" in " ".join(done.stdout.split())


def test_mask_help_names_the_default_policy_as_run_does() -> None:
    """Before: "Default: local.", which names no file a user can find."""
    done = hgate("mask", "--help")
    assert "Default: the shipped local policy." in " ".join(done.stdout.split())


def test_a_development_token_lifetime_is_bounded(tmp_path: Path) -> None:
    """`--ttl 0` minted an expired token and a huge one an effectively standing one."""
    for ttl in ("0", "86401"):
        done = hgate("dev-issuer", "mint", "--audience", "a", "--ttl", ttl, home=tmp_path)
        assert done.returncode == 2 and "1<=x<=86400" in done.stderr, done.stderr
