"""GitHub workflow commands: escaping, masks for multi-line secrets, policy annotations."""

from __future__ import annotations

from pathlib import Path

from hgate.cli.workflow_commands import (
    annotation,
    mask_announcer,
    mask_commands,
    policy_error_annotation,
    split_location,
)
from hgate.errors import PolicyError


def test_a_multi_line_secret_is_masked_whole_and_line_by_line() -> None:
    assert mask_commands("abc%def\nsecond-line\nxy") == [
        "::add-mask::abc%25def%0Asecond-line%0Axy",
        "::add-mask::abc%25def",
        "::add-mask::second-line",
    ]
    assert mask_commands("abc") == []  # too short to mask without blanking the log


def test_the_announcer_writes_one_command_per_line() -> None:
    written: list[str] = []
    mask_announcer(written.append)("token-value")
    assert written == ["::add-mask::token-value\n"]


def test_locations_split_from_the_right() -> None:
    assert split_location("C:/p/ci.yaml:12:5") == ("C:/p/ci.yaml", 12, 5)
    assert split_location("ci.yaml:12") == ("ci.yaml", 12, None)
    assert split_location("ci.yaml") == ("ci.yaml", None, None)


def test_a_policy_error_points_at_its_line_relative_to_the_workspace(tmp_path: Path) -> None:
    error = PolicyError("bad, very: bad\nreally", location=f"{tmp_path}/policies/ci.yaml:12:5")
    line = policy_error_annotation(error, {"GITHUB_WORKSPACE": str(tmp_path)})
    assert line == (
        "::error file=policies/ci.yaml,line=12,col=5,title=hgate policy error::"
        "bad, very: bad%0Areally"
    )
    assert annotation("warning", "x", title="a:b,c") == "::warning title=a%3Ab%2Cc::x"
