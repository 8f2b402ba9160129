"""The example in docs/transcript.md verifies, and its by-hand check runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hgate.audit import Verdict, load_public_key, verify_transcript

DOC = Path(__file__).resolve().parents[3] / "docs" / "transcript.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    (tmp_path / "hgate.pub").write_text(_blocks("text")[0])
    (tmp_path / "01HX3Z8Q2J.jsonl").write_text(_blocks("jsonl")[0])
    return tmp_path


def test_documented_example_is_valid(example: Path) -> None:
    key = load_public_key(example / "hgate.pub")
    report = verify_transcript(example / "01HX3Z8Q2J.jsonl", key)
    assert report.verdict is Verdict.VALID, report.reason
    assert report.key_fingerprint == report.header["key_id"]


def test_documented_hand_check_runs(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example)
    exec(compile(_blocks("python")[0], str(DOC), "exec"), {})
