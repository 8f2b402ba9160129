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
    path = tmp_path / "t.jsonl"
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
