"""Verifying segments: reassembled bytes verified as a file; gaps and extras named."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from hgate.audit import Segment, Signer, Verdict, verify_segments, verify_source
from hgate.audit.sources import SegmentListing, StoredSegment
from hgate.cli import console as console_module
from hgate.cli.verify import verify
from hgate.errors import ConfigError

from .conftest import sample_events
from .segment_tools import write_segmented


@pytest.fixture
def segments(signer: Signer) -> list[Segment]:
    return write_segmented(signer, sample_events(8), every=2)[1]


def _listing(segments: list[Segment], extra: tuple[str, ...] = ()) -> SegmentListing:
    stored = tuple(StoredSegment(number=s.number, name=s.name, data=s.data) for s in segments)
    return SegmentListing(location="test://store", segments=stored, extra=extra)


def _directory(tmp_path: Path, segments: list[Segment]) -> Path:
    directory = tmp_path / "sess-0001"
    directory.mkdir()
    for segment in segments:
        (directory / segment.name).write_bytes(segment.data)
    return directory


def test_all_segments_verify(segments: list[Segment], public_key: Ed25519PublicKey) -> None:
    report = verify_segments(_listing(segments), public_key)
    assert report.verdict is Verdict.VALID, report.reason
    assert report.segments is not None and report.segments.present == tuple(range(1, 7))
    assert report.checks[-1].name == "segments" and report.checks[-1].status == "pass"
    assert json.loads(json.dumps(report.to_dict()))["segments"]["missing"] == []


def test_a_gap_is_invalid_and_named(segments: list[Segment], public_key: Ed25519PublicKey) -> None:
    report = verify_segments(_listing(segments[:2] + segments[4:]), public_key)
    assert report.verdict is Verdict.INVALID
    assert report.reason.startswith("segment(s) 3-4 missing before segment 6")
    assert report.segments is not None and report.segments.missing == (3, 4)
    assert report.first_break is not None
    assert report.first_break.line == segments[1].last_seq + 1


def test_a_store_that_stopped_early_is_incomplete(
    segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    report = verify_segments(_listing(segments[:3]), public_key)
    assert report.verdict is Verdict.INCOMPLETE
    assert "the store holds segments 1-3 and no seal" in report.reason
    assert report.attested_through == segments[2].last_seq


def test_a_segment_after_the_seal_is_extra(
    segments: list[Segment], public_key: Ed25519PublicKey, signer: Signer
) -> None:
    forged = StoredSegment(number=7, name="000007.jsonl", data=segments[-1].data)
    listing = _listing(segments)
    listing = SegmentListing(location="x", segments=(*listing.segments, forged))
    report = verify_segments(listing, public_key)
    assert report.verdict is Verdict.INVALID
    assert "000007.jsonl (after the seal)" in report.reason


def test_other_objects_in_the_prefix_are_extra(
    segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    report = verify_segments(_listing(segments, extra=("notes.txt",)), public_key)
    assert report.verdict is Verdict.INVALID
    assert report.reason.startswith("objects hgate never writes there: notes.txt")
    assert report.segments is not None and report.segments.extra == ("notes.txt",)


def test_resegmented_lines_are_not_as_hgate_writes_them(
    segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    moved = segments[1].data.splitlines(keepends=True)
    data = list(s.data for s in segments)
    data[1], data[2] = b"".join(moved[:-1]), moved[-1] + data[2]
    stored = tuple(
        StoredSegment(number=i, name=f"{i:06d}.jsonl", data=d) for i, d in enumerate(data, 1)
    )
    report = verify_segments(SegmentListing(location="x", segments=stored), public_key)
    assert report.verdict is Verdict.INVALID
    assert "segment 2 is not as hgate writes it" in report.reason


def test_a_tampered_segment_breaks_the_chain(
    segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    edited = segments[2].data.replace(b"line", b"LINE", 1)
    stored = list(_listing(segments).segments)
    stored[2] = StoredSegment(number=3, name="000003.jsonl", data=edited)
    report = verify_segments(SegmentListing(location="x", segments=tuple(stored)), public_key)
    assert report.verdict is Verdict.INVALID and report.first_break is not None


def test_a_directory_of_segments_verifies(
    tmp_path: Path, segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    directory = _directory(tmp_path, segments)
    (directory / ".incoming-x").write_bytes(b"")  # hidden files are a store's business
    assert verify_source(str(directory), public_key, env={}).verdict is Verdict.VALID


def test_a_directory_with_one_transcript_verifies(
    tmp_path: Path, signer: Signer, public_key: Ed25519PublicKey
) -> None:
    local, _ = write_segmented(signer, sample_events(3))
    (tmp_path / "sess-0001.jsonl").write_bytes(local)
    report = verify_source(str(tmp_path), public_key, env={})
    assert report.verdict is Verdict.VALID and report.segments is None


def test_unreadable_sources_are_config_errors(tmp_path: Path, public_key: Ed25519PublicKey) -> None:
    with pytest.raises(ConfigError, match="no transcript or segment files in"):
        verify_source(str(tmp_path), public_key, env={})
    (tmp_path / "a.jsonl").write_bytes(b"")
    (tmp_path / "b.jsonl").write_bytes(b"")
    with pytest.raises(ConfigError, match="holds 2 transcript files; name one"):
        verify_source(str(tmp_path), public_key, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        verify_source(str(tmp_path / "nope.jsonl"), public_key, env={})
    with pytest.raises(ConfigError, match="is not s3://BUCKET/PREFIX/SESSION_ID"):
        verify_source("s3://bucket-only", public_key, env={})


def test_cli_reports_missing_segments(
    tmp_path: Path,
    segments: list[Segment],
    key_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory = _directory(tmp_path, segments)
    (directory / "000003.jsonl").unlink()
    buffer = io.StringIO()
    monkeypatch.setattr(console_module.console, "file", buffer)
    app = typer.Typer()
    app.command("verify")(verify)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(
        app, ["verify", str(directory), "--key", str(key_dir / "hgate.pub")]
    )
    assert result.exit_code == Verdict.INVALID.exit_code, result.output
    text = buffer.getvalue()
    assert text.startswith("INVALID segment(s) 3 missing before segment 6")
    assert "segments     5 found, numbered up to 6" in text
    assert "missing      3" in text
