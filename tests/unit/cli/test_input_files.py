"""One rule for input files named on the command line, checked with the real `hgate`.

A file hgate must read whole (a transcript, a key, a fixture, a claims file) that is
missing, a directory, a FIFO or device, unreadable, larger than its limit or not UTF-8
where text is expected is exit 67 with one `hgate: error:` line naming the file; a policy
is 65 for the same problems. Before: 2 for some commands (click's own checks, the
claims readers, `hgate mask FILE`), 67 for others, and a FIFO hung the reader.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.secrecy import assert_absent
from tests.unit.hgate_cli import ROOT, hgate, one_error_line, signed_transcript

EXIT_USAGE, EXIT_POLICY, EXIT_CONFIG, EXIT_INTERRUPTED = 2, 65, 67, 130
POLICY = ROOT / "policies" / "local.yaml"
SYNTHETIC_SSN = "536-22-1234"  # synthetic, in a claims file that does not parse


def _without_file_capabilities() -> list[str]:
    """As root, a mode-000 file is still readable; drop the capabilities that allow it."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv: cannot make a file unreadable")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def run(*args: str, tmp_path: Path, unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    """`hgate ARGS` with a short time-out: a reader that hangs on a FIFO fails, not waits."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HGATE_") and k != "CI"}
    base.pop("GITHUB_ACTIONS", None)
    base["HGATE_HOME"] = str(tmp_path / "home")
    prefix = _without_file_capabilities() if unprivileged else []
    try:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "hgate", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=base,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hgate {args[0]} hung on its input")


def make(kind: str, tmp_path: Path) -> Path:
    """An input path that cannot be used as a file of `kind`."""
    path = tmp_path / f"input-{kind}"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "unreadable":
        path.write_text("{}\n")
        path.chmod(0)
    elif kind == "not-utf8":
        path.write_bytes(b"+ caf\xe9 {{x}}\n")
    elif kind == "too-large":
        with path.open("wb") as handle:
            handle.truncate(20 << 20)  # sparse: no disk used
    elif kind == "device":
        return Path("/dev/zero")
    return path  # "missing": nothing made


ProblemArgs = Callable[[Path, Path, Path], list[str]]
# command -> args, given (problem path, transcript, key)
WHOLE_FILE_READERS: dict[str, ProblemArgs] = {
    "show": lambda p, t, k: ["show", str(p)],
    "replay": lambda p, t, k: ["replay", "--no-delay", str(p)],
    "report": lambda p, t, k: ["report", str(p)],
    "summary": lambda p, t, k: ["summary", str(p)],
    "show --key": lambda p, t, k: ["show", str(t), "--key", str(p)],
    "report --key": lambda p, t, k: ["report", str(t), "--key", str(p)],
    "policy test FIXTURE": lambda p, t, k: ["policy", "test", str(POLICY), str(p)],
    "verify --key": lambda p, t, k: ["verify", str(t), "--key", str(p)],
    "approve --key": lambda p, t, k: [
        "approve",
        "0123456789abcdef",
        "--key",
        str(p),
        "--channel-dir",
        str(t.parent),
    ],
    "policy explain --claims": lambda p, t, k: [
        "policy",
        "explain",
        str(POLICY),
        "--claims",
        str(p),
    ],
    "dev-issuer mint --claims-file": lambda p, t, k: [
        "dev-issuer",
        "mint",
        "--claims-file",
        str(p),
        "--audience",
        "hgate:dev",
    ],
}
KINDS = ["missing", "directory", "fifo", "device", "unreadable"]
TEXT_KINDS = ["not-utf8", "too-large"]  # for the files read as text with a size limit


def _cases() -> list[tuple[str, str]]:
    cases = [(command, kind) for command in WHOLE_FILE_READERS for kind in KINDS]
    cases += [
        (command, kind)
        for command in (
            "policy test FIXTURE",
            "policy explain --claims",
            "dev-issuer mint --claims-file",
        )
        for kind in TEXT_KINDS
    ]
    return [c for c in cases if c != ("summary", "directory")]  # a directory of runs: below


@pytest.mark.parametrize(("command", "kind"), _cases())
def test_an_unusable_input_file_is_67_with_one_line_naming_it(
    tmp_path: Path, command: str, kind: str
) -> None:
    transcript, key = signed_transcript(tmp_path)
    problem = make(kind, tmp_path)
    done = run(
        *WHOLE_FILE_READERS[command](problem, transcript, key),
        tmp_path=tmp_path,
        unprivileged=kind == "unreadable",
    )
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert problem.name in one_error_line(done)


@pytest.mark.parametrize("kind", ["missing", "directory", "unreadable"])
def test_mask_file_that_cannot_be_read_is_67(tmp_path: Path, kind: str) -> None:
    problem = make(kind, tmp_path)
    done = run("mask", "-q", str(problem), tmp_path=tmp_path, unprivileged=kind == "unreadable")
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert problem.name in one_error_line(done)


def test_mask_reads_a_fifo_as_a_stream(tmp_path: Path) -> None:
    """`hgate mask <(zcat old.log.gz)`: a pipe is input like stdin, not an error."""
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    child = subprocess.Popen(
        [sys.executable, "-m", "hgate", "mask", "-q", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    with fifo.open("wb") as writer:
        writer.write(b"build ok\n")
    out, err = child.communicate(timeout=60)
    assert (child.returncode, out, err) == (0, b"build ok\n", b"")


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo", "device", "unreadable"])
def test_a_policy_that_cannot_be_read_is_65(tmp_path: Path, kind: str) -> None:
    problem = make(kind, tmp_path)
    for args in (["policy", "check", str(problem)], ["mask", "-q", "-p", str(problem)]):
        done = run(*args, tmp_path=tmp_path, unprivileged=kind == "unreadable")
        assert done.returncode == EXIT_POLICY, done.stderr
        assert problem.name in one_error_line(done)


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo", "unreadable"])
def test_summary_log_that_cannot_be_read_quotes_nothing(tmp_path: Path, kind: str) -> None:
    """--log is hgate run's stderr, quoted when there was no session; a FIFO there hung."""
    runs = tmp_path / "runs"
    runs.mkdir()
    problem = make(kind, tmp_path)
    done = run(
        "summary",
        str(runs),
        "--log",
        str(problem),
        tmp_path=tmp_path,
        unprivileged=kind == "unreadable",
    )
    assert done.returncode == 0, done.stderr


def test_claims_that_do_not_parse_are_67_without_their_text(tmp_path: Path) -> None:
    claims = tmp_path / "claims.json"
    claims.write_text('{"iss": "x", "ssn": "' + SYNTHETIC_SSN + '"')
    for args in (
        ["policy", "explain", str(POLICY), "--claims", str(claims)],
        ["dev-issuer", "mint", "--claims-file", str(claims), "--audience", "hgate:dev"],
    ):
        done = run(*args, tmp_path=tmp_path)
        assert done.returncode == EXIT_CONFIG, done.stderr
        assert "claims.json" in one_error_line(done)
        assert_absent({"the claims' SSN": SYNTHETIC_SSN}, stderr=done.stderr, stdout=done.stdout)


def test_claims_that_are_not_an_object_are_67(tmp_path: Path) -> None:
    claims = tmp_path / "claims.json"
    claims.write_text("[1, 2]\n")
    done = run("policy", "explain", str(POLICY), "--claims", str(claims), tmp_path=tmp_path)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "JSON object" in one_error_line(done)


@pytest.mark.parametrize(
    "args",
    [
        ["dev-issuer", "init", "--alg", "HS256"],
        ["replay", "--speed", "0"],
        ["summary", "--format", "html"],
    ],
)
def test_a_bad_option_value_is_2_with_one_line(tmp_path: Path, args: list[str]) -> None:
    transcript, _ = signed_transcript(tmp_path)
    if args[0] in ("replay", "summary"):
        args = [args[0], str(transcript), *args[1:]]
    else:
        args = [*args, "--dir", str(tmp_path / "issuer")]
    done = run(*args, tmp_path=tmp_path)
    assert done.returncode == EXIT_USAGE, done.stderr
    one_error_line(done)


def test_a_file_given_as_dev_issuer_dir_is_67(tmp_path: Path) -> None:
    """A file where the issuer's directory should be is a directory hgate cannot use."""
    afile = tmp_path / "afile"
    afile.write_text("")
    done = run("dev-issuer", "init", "--dir", str(afile), tmp_path=tmp_path)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "afile" in one_error_line(done)


def _closed_stdout(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return hgate(*args, home=tmp_path / "home", stdout=write_end)
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],  # (`--help` into a closed pipe: click's own echo exits 1)
        ["keygen", "--json"],
        ["keygen"],
        ["dev-issuer", "mint"],
    ],
)
def test_a_reader_that_goes_away_does_not_change_the_code(tmp_path: Path, args: list[str]) -> None:
    if args[0] == "dev-issuer":
        assert hgate("dev-issuer", "init", home=tmp_path / "home").returncode == 0
        claims = tmp_path / "claims.json"
        claims.write_text('{"sub": "repo:example/app:ref:refs/heads/main"}')
        args = [*args, "--claims-file", str(claims), "--audience", "hgate:dev"]
    done = _closed_stdout(*args, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_during_mask_is_130_without_a_traceback() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "hgate", "mask", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdin is not None
    child.stdin.write(b"build ok\n")
    child.stdin.flush()
    time.sleep(2.0)  # past start-up, reading stdin
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == EXIT_INTERRUPTED
    assert b"Traceback" not in err
