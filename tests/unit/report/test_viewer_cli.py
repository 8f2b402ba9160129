"""The viewers (`show`, `replay`, `report`, `summary`) as a user runs them: a file that is
not a transcript is refused with one line and verify's MALFORMED code (5), a MALFORMED
verdict never exits 0, and an output that cannot be written is exit 67, not a crash."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from hgate.errors import ConfigError
from hgate.report import not_a_transcript, read_transcript
from tests.unit.hgate_cli import hgate, one_error_line, signed_transcript

EXIT_MALFORMED, EXIT_CONFIG = 5, 67
VIEWERS = {
    "show": ["show"],
    "summary": ["summary"],
    "report": ["report"],
    "replay": ["replay", "--no-delay"],
}


NOT_TRANSCRIPTS = {
    "passwd": (b"root:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/:/sbin/nologin\n", "line 1 is not"),
    "empty": (b"", "the file is empty"),
    "random": (bytes(range(256)) * 3, "line 1 is not"),
    "cut": (b'{"type": "header"', "no complete line"),
    "json-not-header": (b'{"type": "output", "data": {}}\n', "line 1 is not"),
}


@pytest.mark.parametrize("content", sorted(NOT_TRANSCRIPTS))
@pytest.mark.parametrize("viewer", sorted(VIEWERS))
def test_a_file_that_is_not_a_transcript_is_refused(
    tmp_path: Path, viewer: str, content: str
) -> None:
    """Before: exit 0 with a plausible view of /etc/passwd, an empty file, random bytes."""
    data, problem = NOT_TRANSCRIPTS[content]
    path = tmp_path / "file.jsonl"
    path.write_bytes(data)
    done = hgate(*VIEWERS[viewer], str(path))
    assert done.returncode == EXIT_MALFORMED, done.stderr
    line = one_error_line(done)
    assert line.startswith(f"hgate: error: {path} is not an hgate transcript: ") and problem in line
    assert done.stdout == ""


@pytest.mark.parametrize("viewer", sorted(VIEWERS))
def test_a_malformed_verdict_is_shown_and_exits_5(tmp_path: Path, viewer: str) -> None:
    """Before: `show FILE --key K` printed MALFORMED and exited 0."""
    path, key = signed_transcript(tmp_path)
    lines = path.read_bytes().split(b"\n")
    header = json.loads(lines[0])
    header["version"] = 99  # a format this hgate does not read: verify says MALFORMED
    path.write_bytes(b"\n".join([json.dumps(header).encode(), *lines[1:]]))
    verified = hgate("verify", str(path), "--key", str(key))
    assert verified.returncode == EXIT_MALFORMED
    done = hgate(*VIEWERS[viewer], str(path), "--key", str(key))
    assert done.returncode == EXIT_MALFORMED, done.stderr
    assert "MALFORMED" in done.stdout + done.stderr


@pytest.mark.parametrize("viewer", sorted(VIEWERS))
def test_a_real_transcript_is_still_shown(tmp_path: Path, viewer: str) -> None:
    path, key = signed_transcript(tmp_path)
    assert hgate(*VIEWERS[viewer], str(path), "--key", str(key)).returncode == 0
    assert hgate(*VIEWERS[viewer], str(path)).returncode == 0


def test_not_a_transcript_accepts_a_cut_or_tampered_transcript(tmp_path: Path) -> None:
    path, _ = signed_transcript(tmp_path)
    data = path.read_bytes()
    assert not_a_transcript(read_transcript(data)) is None
    assert not_a_transcript(read_transcript(data[: data.index(b"\n") + 5])) is None
    assert not_a_transcript(read_transcript(data.replace(b"build ok", b"build OK"))) is None


def test_report_html_into_a_directory_exits_67(tmp_path: Path) -> None:
    """Before: typer's usage error (exit 2) for a directory."""
    path, _ = signed_transcript(tmp_path)
    done = hgate("report", str(path), "--html", str(tmp_path))
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert (
        one_error_line(done)
        == f"hgate: error: cannot write {tmp_path}: it is a directory (name a file)"
    )
    missing = hgate("report", str(path), "--html", str(tmp_path / "no" / "r.html"))
    assert missing.returncode == EXIT_CONFIG
    assert "No such file or directory" in one_error_line(missing)


def test_summary_writes_no_ci_file_when_one_of_them_cannot_be_written(tmp_path: Path) -> None:
    """Before: the step summary and outputs were appended, then the dotenv failed (67) with
    half of the hand-on done; now every file is checked before anything is written."""
    path, key = signed_transcript(tmp_path)
    step_summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    dotenv = tmp_path / "no-such-dir" / "hgate.env"
    done = hgate("summary", str(path), "--key", str(key), "--format", "github",
                 "--append-to", str(step_summary), "--outputs-to", str(outputs),
                 "--dotenv", str(dotenv))  # fmt: skip
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert step_summary.read_text() == "" and outputs.read_text() == "", "nothing handed on"
    assert (
        one_error_line(done)
        == f"hgate: error: --dotenv {dotenv} cannot be written: No such file or directory"
    )
    assert done.stdout == ""


def test_report_html_on_a_read_only_file_system_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the clean-up's own EROFS escaped as `internal error: OSError`, exit 70.
    (A read-only mount needs privileges a test should not use: the calls fail instead.)"""
    from hgate.cli.report import _write

    def read_only(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "write_text", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(ConfigError) as info:
        _write(tmp_path / "report.html", "<html></html>")
    assert str(info.value) == f"cannot write {tmp_path / 'report.html'}: Read-only file system"
    assert info.value.exit_code == EXIT_CONFIG
