from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hgate.audit import DirectorySink, Signer, Verdict, verify_transcript
from hgate.errors import SinkError


def test_creates_directory_and_appends_lines(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path / "transcripts" / "deep")
    sink.open("sess-1")
    sink.write(b'{"a":1}\n')
    sink.write(b'{"b":2}\n')
    sink.sync()
    sink.close()
    path = tmp_path / "transcripts" / "deep" / "sess-1.jsonl"
    assert sink.location == str(path) and sink.path == path
    assert path.read_bytes() == b'{"a":1}\n{"b":2}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # identity, grants, policy: the runner's only


def test_lines_reach_the_file_before_sync(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path)
    sink.open("s")
    sink.write(b"x\n")
    assert (tmp_path / "s.jsonl").read_bytes() == b"x\n"
    sink.close()


def test_existing_transcript_is_never_reused(tmp_path: Path) -> None:
    (tmp_path / "sess-1.jsonl").write_bytes(b"old\n")
    with pytest.raises(SinkError, match=r"sess-1.jsonl already exists; a session id is used"):
        DirectorySink(tmp_path).open("sess-1")
    assert (tmp_path / "sess-1.jsonl").read_bytes() == b"old\n"


@pytest.mark.parametrize("session_id", ["../escape", ".hidden", "a/b", "", "x" * 129])
def test_session_id_cannot_escape_the_directory(tmp_path: Path, session_id: str) -> None:
    with pytest.raises(SinkError, match=r"cannot name a transcript file"):
        DirectorySink(tmp_path).open(session_id)


def test_directory_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SinkError, match=r"cannot create transcript directory .*sub: Not a dir"):
        DirectorySink(tmp_path / "file" / "sub").open("s")


def test_write_before_open_and_after_close(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path)
    with pytest.raises(SinkError, match=r"is not opened"):
        sink.write(b"x\n")
    sink.open("s")
    sink.close()
    with pytest.raises(SinkError, match=r"s.jsonl is closed"):
        sink.write(b"x\n")
    with pytest.raises(SinkError, match=r"is closed"):
        sink.sync()
    with pytest.raises(SinkError, match=r"was already opened"):
        sink.open("t")


def test_full_disk_raises_sink_error(tmp_path: Path) -> None:
    """A file size limit makes write() fail with EFBIG, as a full disk fails with ENOSPC."""
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from hgate.audit import DirectorySink
        from hgate.errors import SinkError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        sink = DirectorySink(Path({str(tmp_path)!r}))
        sink.open("s")
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, resource.RLIM_INFINITY))
        try:
            for _ in range(10):
                sink.write(b"x" * 40 + b"\\n")
        except SinkError as exc:
            print("SinkError:", exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=_env()
    )
    assert "SinkError: cannot write transcript" in result.stdout
    assert "s.jsonl: File too large" in result.stdout


def test_sigkill_leaves_every_appended_line(tmp_path: Path, key_dir: Path, signer: Signer) -> None:
    """A killed hgate cannot seal; everything it appended is on disk and chained."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from hgate.audit import DirectorySink, TranscriptWriter, load_signer
        signer = load_signer(Path({str(key_dir / "hgate.key")!r}))
        writer = TranscriptWriter(DirectorySink(Path({str(tmp_path)!r})), signer,
                                  checkpoint_every_lines=10)
        writer.start({{"session_id": "killed"}})
        for i in range(25):
            writer.append("output", {{"stream": "stdout", "text": f"line {{i}}", "findings": []}})
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, env=_env())
    assert result.returncode == -signal.SIGKILL
    report = verify_transcript(tmp_path / "killed.jsonl", signer.public_key)
    assert report.verdict is Verdict.INCOMPLETE
    assert report.lines_total == 2 + 25 + 2  # header, start checkpoint, events, 2 checkpoints
    assert report.attested_through == 24
    assert report.unattested == (25, 29)


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[3])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}
