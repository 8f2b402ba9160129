"""What `--help` promises matches what the command does (docs/commands.md's codes)."""

from __future__ import annotations

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
