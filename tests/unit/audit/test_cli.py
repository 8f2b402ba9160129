"""The `verify` and `keygen` command functions, registered on a throwaway Typer app the way
the lead's app.py does; output is captured by pointing the shared console at a buffer."""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hgate.audit import Signer
from hgate.cli import console as console_module
from hgate.cli.keygen import keygen
from hgate.cli.verify import verify

from .conftest import build_transcript, sample_events, split_lines


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("verify")(verify)
    app.command("keygen")(keygen)
    return app


@pytest.fixture
def out(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(console_module.console, "file", buffer)
    return buffer


@pytest.fixture
def files(tmp_path: Path, key_dir: Path, signer: Signer) -> tuple[Path, Path]:
    path = tmp_path / "sess-0001.jsonl"
    path.write_bytes(build_transcript(signer, sample_events()))
    return path, key_dir / "hgate.pub"


def test_verify_valid_prints_verdict_first(
    app: typer.Typer, out: io.StringIO, files: tuple[Path, Path], signer: Signer
) -> None:
    transcript, pub = files
    result = CliRunner().invoke(app, ["verify", str(transcript), "--key", str(pub)])
    assert result.exit_code == 0, result.output
    text = out.getvalue()
    assert text.startswith("VALID ")
    assert signer.key_id in text
    assert "repo:org/repo:ref:refs/heads/main" in text and "token verified" in text
    assert "lines 1-13 of 13" in text


def test_verify_tampered_reports_first_break(
    app: typer.Typer, out: io.StringIO, files: tuple[Path, Path]
) -> None:
    transcript, pub = files
    transcript.write_bytes(transcript.read_bytes().replace(b"line 1:", b"line 9:"))
    result = CliRunner().invoke(app, ["verify", str(transcript), "--key", str(pub)])
    assert result.exit_code == 4
    assert out.getvalue().startswith("INVALID line 5: prev is not the SHA-256 of line 4")
    assert "first break  line 5:" in out.getvalue()


def test_verify_incomplete_json(
    app: typer.Typer, out: io.StringIO, files: tuple[Path, Path]
) -> None:
    transcript, pub = files
    transcript.write_bytes(b"".join(split_lines(transcript.read_bytes())[:8]))
    result = CliRunner().invoke(app, ["verify", str(transcript), "--key", str(pub), "--json"])
    assert result.exit_code == 3
    report = json.loads(out.getvalue())
    assert report["verdict"] == "INCOMPLETE" and report["unattested"] == {"first": 7, "last": 8}


def test_verify_expectations_mismatch(
    app: typer.Typer, out: io.StringIO, files: tuple[Path, Path]
) -> None:
    transcript, pub = files
    args = ["verify", str(transcript), "--key", str(pub), "--expect-repo", "org/other"]
    args += ["--expect-run", "4242", "--expect-policy-sha256", "ab" * 32]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 6
    assert out.getvalue().startswith("MISMATCH expected ci.repository 'org/other'")


def test_verify_escapes_markup_from_the_file(
    app: typer.Typer, out: io.StringIO, tmp_path: Path, key_dir: Path, signer: Signer
) -> None:
    from .conftest import HEADER

    header = {**HEADER, "identity": {"subject": "[bold]x[/bold]", "issuer": "i", "verified": False}}
    path = tmp_path / "sess-0001.jsonl"  # the name hgate gives it (else MISMATCH)
    path.write_bytes(build_transcript(signer, header=header))
    result = CliRunner().invoke(app, ["verify", str(path), "--key", str(key_dir / "hgate.pub")])
    assert result.exit_code == 0
    assert "[bold]x[/bold] (issuer i, token NOT verified)" in out.getvalue()


def test_verify_requires_key(app: typer.Typer, files: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(app, ["verify", str(files[0])])
    assert result.exit_code == 2


def test_keygen_prints_paths_and_fingerprint(
    app: typer.Typer, out: io.StringIO, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["keygen", "--out", str(tmp_path / "k")])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "k" / "hgate.key") in out.getvalue()
    assert "fingerprint  SHA256:" in out.getvalue()
    again = CliRunner().invoke(app, ["keygen", "--out", str(tmp_path / "k")])
    assert again.exit_code == 1 and "already exists" in str(again.exception)
    forced = CliRunner().invoke(app, ["keygen", "--out", str(tmp_path / "k"), "--force"])
    assert forced.exit_code == 0


def test_keygen_default_directory_is_read_at_call_time(
    app: typer.Typer, out: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HGATE_HOME", str(tmp_path / "home"))
    assert CliRunner().invoke(app, ["keygen"]).exit_code == 0
    assert (tmp_path / "home" / "hgate.pub").exists()


def test_audit_package_imports_no_cli_libraries() -> None:
    package = Path(__file__).resolve().parents[3] / "hgate" / "audit"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"typer", "rich", "click"}, source
                assert not name.startswith(("hgate.cli", "hgate.session")), source


# --- what the file says is shown, never obeyed ------------------------------------------


def _unsigned_header(**members: object) -> bytes:
    """A header line anyone can write without the key (line 1 is not signed itself)."""
    header: dict[str, object] = {
        "seq": 1,
        "prev": "0" * 64,
        "t": 1.0,
        "type": "header",
        "format": "hgate-transcript",
        "version": 1,
        "hash": "sha256",
        "sig_alg": "ed25519",
        "key_id": "SHA256:x",
        "session_id": "forged",
    }
    header.update(members)
    return json.dumps(header, separators=(",", ":")).encode() + b"\n"


@pytest.fixture
def utf8_out(monkeypatch: pytest.MonkeyPatch) -> io.TextIOWrapper:
    """stdout as a real UTF-8 stream: it refuses text UTF-8 cannot encode (a StringIO
    would take a lone surrogate without complaint)."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    monkeypatch.setattr(console_module.console, "file", stream)
    return stream


def _written(stream: io.TextIOWrapper) -> str:
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8")


def test_verify_shows_terminal_controls_from_the_file_escaped(
    app: typer.Typer, utf8_out: io.TextIOWrapper, tmp_path: Path, key_dir: Path
) -> None:
    esc = "\x1b"
    fake = f"{esc}[2K{esc}[1G{esc}[1;32mVALID{esc}[0m 4 lines\r\nVALID 9 lines\x9b2J\x7f"
    identity = {
        "subject": "repo:org/repo \u202eevil\ud800 :warning: [bold]x[/bold]",
        "issuer": "i\x85ss\x00",
        "verified": True,
    }
    path = tmp_path / "forged.jsonl"
    path.write_bytes(_unsigned_header(key_id=fake, identity=identity, host="h"))
    result = CliRunner().invoke(app, ["verify", str(path), "--key", str(key_dir / "hgate.pub")])
    assert result.exit_code == 4, result.output
    text = _written(utf8_out)
    shown = text.splitlines()
    assert shown[0].startswith("INVALID line 1: the header names signing key a string of")
    assert not [line for line in shown if line.startswith("VALID")]
    unsafe = [c for c in text if not c.isprintable() and c != "\n"]
    assert unsafe == [], unsafe
    assert "VALID 9 lines" not in text  # a key id that is no fingerprint is never echoed
    assert "repo:org/repo \\u202eevil\\ud800 :warning: [bold]x[/bold]" in text
    assert "(issuer i\\x85ss\\x00, token verified)" in text


def test_verify_json_survives_a_lone_surrogate(
    app: typer.Typer, utf8_out: io.TextIOWrapper, tmp_path: Path, key_dir: Path
) -> None:
    path = tmp_path / "forged.jsonl"
    path.write_bytes(_unsigned_header(host="\ud800", identity={"subject": "s\ud800"}))
    args = ["verify", str(path), "--key", str(key_dir / "hgate.pub"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 4, result.output
    report = json.loads(_written(utf8_out))
    assert report["header"]["host"] == "\ud800" and report["identity"]["subject"] == "s\ud800"


def test_verify_expect_session_and_attempt(
    app: typer.Typer, out: io.StringIO, files: tuple[Path, Path]
) -> None:
    transcript, pub = files
    base = ["verify", str(transcript), "--key", str(pub)]
    same = [*base, "--expect-session", "sess-0001", "--expect-attempt", "1"]
    assert CliRunner().invoke(app, same).exit_code == 0
    assert "ok         expect.session_id: session_id is sess-0001" in out.getvalue()
    out.seek(0)
    out.truncate()
    result = CliRunner().invoke(app, [*base, "--expect-session", "sess-0002"])
    assert result.exit_code == 6
    assert out.getvalue().startswith("MISMATCH expected session_id 'sess-0002', found 'sess-0001'")
    out.seek(0)
    out.truncate()
    assert CliRunner().invoke(app, [*base, "--expect-attempt", "2"]).exit_code == 6
    assert "expected ci.run_attempt '2', found '1'" in out.getvalue()


def test_what_an_unsigned_header_says_is_shown_as_unattested(
    app: typer.Typer, utf8_out: io.TextIOWrapper, tmp_path: Path, signer: Signer, key_dir: Path
) -> None:
    """A header anyone could write (no signature follows it) gives INCOMPLETE, as a killed
    session does; its key, CI run, policy and every expectation it meets are marked
    unattested, never `ok`."""
    path = tmp_path / "forged.jsonl"
    header = _unsigned_header(
        key_id=signer.key_id,
        policy={"name": "ci", "sha256": "ab" * 32},
        ci={"provider": "github", "repository": "org/repo", "run_id": "4242"},
    )
    path.write_bytes(header + b'{"seq":2,"prev":"')
    argv = ["verify", str(path), "--key", str(key_dir / "hgate.pub"), "--expect-repo", "org/repo"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 3, result.output
    rows = _written(utf8_out).splitlines()
    assert [r.split()[0] for r in rows if "expect.repo" in r or "key: SHA256" in r] == [
        "unattested",
        "unattested",
    ]
    ci = next(r for r in rows if r.startswith("ci run"))
    assert ci.endswith("[unattested header]")
