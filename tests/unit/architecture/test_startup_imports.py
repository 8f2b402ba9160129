"""Start-up cost stays paid for: each command imports only what it uses.

hgate runs in every CI step and wraps agents, so `python -X importtime` in a fresh
interpreter is the check: `hgate --version` must not load any library package or
optional dependency, and `hgate run` with the shipped local policy must not load what
only tokens, databases, S3, SSH or the reporting commands need. An eager import added
at the top of a command module or a package's `__init__` fails here.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from hgate import __version__
from hgate.cli import console as console_module

ROOT = Path(__file__).resolve().parents[3]
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$")

OPTIONAL_HEAVY = (
    "jwt",
    "boto3",
    "botocore",
    "psycopg",
    "pgparse",
    "scramp",
    "paramiko",
    "pydantic",
)
VERSION_FORBIDDEN = (
    *OPTIONAL_HEAVY,
    "rich",
    "yaml",
    "cryptography",
    "hgate.approvals",
    "hgate.audit",
    "hgate.creds",
    "hgate.guard",
    "hgate.identity",
    "hgate.mask",
    "hgate.policy",
    "hgate.proxy",
    "hgate.report",
    "hgate.session",
)
RUN_FORBIDDEN = (
    *OPTIONAL_HEAVY,
    "rich",
    "hgate.report",
    "urllib.request",
    "hgate.approvals.decision",  # no approvals section in the local policy
    "hgate.approvals.http_channel",
    "hgate.session.approvals",
    "hgate.audit.verify",  # verification is for auditors, not for the run
    "hgate.audit.s3_sink",
)


def imported_by(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh `python -X importtime ARGS` imports (exit status must be 0)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = {m.group(1) for line in result.stderr.splitlines() if (m := IMPORT_LINE.match(line))}
    assert "hgate" in names, "no importtime output: was -X importtime honoured?"
    return names


def loaded(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


def test_version_imports_no_library_package_or_optional_dependency() -> None:
    names = imported_by(["-m", "hgate", "--version"])
    assert not loaded(names, VERSION_FORBIDDEN), "hgate --version imports these eagerly"
    assert "hgate.cli.app" in names


def test_version_still_prints_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hgate", "--version"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout == f"hgate {__version__}\n"


def test_run_with_the_local_policy_skips_tokens_databases_and_reports(tmp_path: Path) -> None:
    names = imported_by(
        ["-m", "hgate", "run", "--quiet", "--out", str(tmp_path / "runs"), "--", "true"],
        env={"HGATE_HOME": str(tmp_path / "home"), "GITHUB_ACTIONS": "", "NO_COLOR": ""},
    )
    assert "hgate.session.session" in names
    assert not loaded(names, RUN_FORBIDDEN), "hgate run imports these without needing them"


def test_a_plain_notice_to_a_pipe_does_not_load_rich() -> None:
    code = (
        "import sys\n"
        "from hgate.cli.console import err_console\n"
        "err_console.print('hgate: session s ended: exit 0', markup=False, style='dim')\n"
        "assert 'rich' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "hgate: session s ended: exit 0\n"


def rich_output(text: str, **options: Any) -> str:
    buffer = io.StringIO()
    Console(file=buffer, stderr=True, highlight=False, soft_wrap=True).print(text, **options)
    return buffer.getvalue()


def utf8_pipe() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8")


@given(st.text(max_size=80))
def test_the_plain_fast_path_writes_what_rich_writes(text: str) -> None:
    """Whenever the stand-in console skips rich, its line is byte for byte rich's."""
    for options in ({"markup": False}, {"markup": False, "style": "dim"}):
        line = console_module._plain(utf8_pipe(), (text,), dict(options))
        if line is not None:
            assert line == rich_output(text, **options)


@pytest.mark.parametrize(
    "text",
    [
        "hgate: session 20260101T000000Z-1a2b3c4d ended: agent exited, exit 0; 3 lines, 0 masked",
        "hgate: verify with: hgate verify runs/s.jsonl --key /home/ci/.config/hgate/hgate.pub",
        "hgate: error: policy [local] is invalid · see docs",
    ],
)
def test_hgate_notices_take_the_fast_path(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    line = console_module._plain(utf8_pipe(), (text,), {"markup": False, "style": "dim"})
    assert line == rich_output(text, markup=False, style="dim") == text + "\n"


@pytest.mark.parametrize(
    ("objects", "options"),
    [
        (("a :smile: b",), {"markup": False}),  # rich would substitute the emoji
        (("tab\there",), {"markup": False}),
        (("[bold]x[/]",), {}),  # markup on
        (("x",), {"markup": False, "style": "bold red"}),
        (("x",), {"markup": False, "end": ""}),
        (("x", "y"), {"markup": False}),
    ],
)
def test_anything_else_goes_to_rich(objects: tuple[str, ...], options: dict[str, object]) -> None:
    assert console_module._plain(utf8_pipe(), objects, options) is None


def test_a_terminal_goes_to_rich() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert console_module._plain(Tty(), ("x",), {"markup": False}) is None
