"""Run the real `hgate` entry point in a child process, as a user does: the exit code and
the one stderr line are what these tests are about, and only `main` decides them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from hgate.audit import DirectorySink, TranscriptWriter, generate_keypair, load_signer

ROOT = Path(__file__).resolve().parents[2]


def hgate(
    *args: str,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    stdout: int | IO[bytes] | None = subprocess.PIPE,
    stdin: str = "",
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m hgate ARGS` (in `cwd`, default the repository), without the caller's
    HGATE_* and CI variables; `home` becomes HGATE_HOME."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HGATE_") and k != "CI"}
    base.pop("GITHUB_ACTIONS", None)
    if home is not None:
        base["HGATE_HOME"] = str(home)
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hgate", *args],
        input=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd or ROOT,
        env=base,
        timeout=60,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single `hgate: error:` line on stderr (no traceback, no internal error)."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("hgate: error: "), done.stderr
    return lines[0]


def signed_transcript(tmp_path: Path, texts: Iterable[str] = ("build ok",)) -> tuple[Path, Path]:
    """A real, sealed transcript of one output line per text, and its public key."""
    keys = generate_keypair(tmp_path / "key")
    writer = TranscriptWriter(DirectorySink(tmp_path / "runs"), load_signer(keys.private_key))
    writer.start({"session_id": "20260101T000000Z-abcd1234", "command": ["./agent.sh"]})
    for text in texts:
        writer.append("output", {"stream": "pty", "lines": [{"text": text, "end": "\n"}]})
    writer.seal(exit_code=0, reason="agent exited")
    (path,) = (tmp_path / "runs").glob("*.jsonl")
    return path, keys.public_key
