"""Run the real `hgate` entry point in a child process, as a user does: the exit code and
the one stderr line are what these tests are about, and only `main` decides them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

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
