"""A reader that goes away (`hgate verify … | head -1`) must not change the exit code:
the console drops the rest of the output and the verdict's code stands (before: rich's or
click's exit 1)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from hgate.cli import console as console_module
from tests.unit.hgate_cli import hgate, signed_transcript

LINES = [f"build step {number} ok" for number in range(200)]


def closed_stdout(*args: str) -> tuple[int, str]:
    """Run hgate with stdout a pipe whose reader is already gone: every write is EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = hgate(*args, stdout=write_end)
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


@pytest.mark.parametrize("json_output", [False, True])
def test_verify_keeps_its_verdict_code_when_the_reader_is_gone(
    tmp_path: Path, json_output: bool
) -> None:
    path, key = signed_transcript(tmp_path, LINES)
    extra = ["--json"] if json_output else []
    assert closed_stdout("verify", str(path), "--key", str(key), *extra) == (0, "")
    tampered = path.read_bytes().replace(b"build step 7 ok", b"build step 8 ok")
    path.write_bytes(tampered)
    assert closed_stdout("verify", str(path), "--key", str(key), *extra) == (4, "")


@pytest.mark.parametrize(
    "args",
    [["show"], ["show", "--json"], ["report"], ["summary", "--json"], ["replay", "--no-delay"]],
)
def test_viewers_exit_0_when_the_reader_is_gone(tmp_path: Path, args: list[str]) -> None:
    path, _ = signed_transcript(tmp_path, LINES)
    code, stderr = closed_stdout(*args, str(path))
    assert code == 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


class _BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_write_out_and_console_drop_output_after_a_broken_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(console_module, "_gone", set())  # this test's streams only
    broken = _BrokenPipe()
    monkeypatch.setattr("sys.stdout", broken)
    console_module.write_out(json.dumps({"a": 1}))  # no exception
    assert id(broken) in console_module._gone
    console_module.write_out("more")  # dropped, no exception either
    console_module.settle_output()


def test_mask_stops_quietly_when_the_reader_is_gone(tmp_path: Path) -> None:
    """`hgate mask big.log | head`: no traceback, exit 0, nothing said on stderr."""
    log = tmp_path / "big.log"
    log.write_text("build step ok, synthetic line\n" * 50_000)
    policy = Path(__file__).resolve().parents[3] / "policies" / "local.yaml"
    code, stderr = closed_stdout("mask", "--policy", str(policy), "--quiet", str(log))
    assert (code, stderr) == (0, "")
