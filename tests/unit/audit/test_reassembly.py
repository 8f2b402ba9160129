"""Verifying segments: reassembled bytes verified as a file; gaps and extras named."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from hgate.audit import Segment, Signer, Verdict, sources, verify_segments, verify_source
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


# --- a store holding what hgate never writes: named, bounded, never a hang or a crash ----


def test_a_far_segment_number_is_extra_not_a_range_of_missing_ones(
    segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    for number in (200_000, 10**15):
        far = StoredSegment(number=number, name=f"{number:06d}.jsonl", data=b"junk\n")
        listing = _listing(segments)
        listing = SegmentListing(location="x", segments=(*listing.segments, far))
        report = verify_segments(listing, public_key)
        assert report.verdict is Verdict.INVALID
        assert report.segments is not None and report.segments.missing == ()
        assert report.segments.present == tuple(range(1, 7))
        assert report.segments.extra == (f"{far.name} (numbered {number}, far after segment 6)",)


def test_a_gap_before_a_far_segment_stays_bounded(
    segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    far = StoredSegment(number=200_000, name="200000.jsonl", data=b"junk\n")
    listing = SegmentListing(location="x", segments=(*_listing(segments[:2]).segments, far))
    report = verify_segments(listing, public_key)
    assert report.verdict is Verdict.INVALID and report.segments is not None
    assert report.segments.present == (1, 2) and report.segments.missing == ()
    assert "far after segment 2" in report.reason


def test_segment_zero_is_extra_not_malformed(
    tmp_path: Path, segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    directory = _directory(tmp_path, segments)
    (directory / "000000.jsonl").write_bytes(b"")
    report = verify_source(str(directory), public_key, env={})
    assert report.verdict is Verdict.INVALID, report.reason
    assert report.segments is not None and report.segments.extra == ("000000.jsonl",)
    zero = StoredSegment(number=0, name="000000.jsonl", data=b"")
    listing = SegmentListing(location="x", segments=(zero, *_listing(segments).segments))
    report = verify_segments(listing, public_key)
    assert report.verdict is Verdict.INVALID, report.reason
    assert report.segments is not None
    assert report.segments.extra == ("000000.jsonl (not a segment number)",)


def test_other_spellings_of_segment_names_are_extra(
    tmp_path: Path, segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    directory = _directory(tmp_path, segments)
    (directory / "0000001.jsonl").write_bytes(segments[0].data)  # segment 1, again
    (directory / "000000002.jsonl").write_bytes(segments[1].data)
    (directory / ".000007.jsonl").write_bytes(b"{}\n")
    (directory / ".incoming-x").write_bytes(b"")  # a collector's temporary file: ignored
    report = verify_source(str(directory), public_key, env={})
    assert report.verdict is Verdict.INVALID, report.reason
    assert report.segments is not None and report.segments.present == tuple(range(1, 7))
    assert report.segments.extra == (".000007.jsonl (hidden)", "000000002.jsonl", "0000001.jsonl")


def test_segments_that_are_not_regular_files_are_refused_unread(
    tmp_path: Path, segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    directory = _directory(tmp_path, segments)
    (directory / "000007.jsonl").mkdir()
    os.mkfifo(directory / "000008.jsonl")  # opening it to read would block
    (directory / "000009.jsonl").symlink_to("/dev/zero")  # reading it would never end
    report = verify_source(str(directory), public_key, env={})
    assert report.verdict is Verdict.INVALID, report.reason
    assert report.segments is not None and report.segments.extra == (
        "000007.jsonl (not a regular file: a directory)",
        "000008.jsonl (not a regular file: a FIFO)",
        "000009.jsonl (not a regular file: a symbolic link to a character device)",
    )
    alone = tmp_path / "alone"
    alone.mkdir()
    os.mkfifo(alone / "000001.jsonl")
    report = verify_source(str(alone), public_key, env={})
    assert report.verdict is Verdict.INVALID and "a FIFO" in report.reason


def test_an_oversized_segment_is_not_read(
    tmp_path: Path,
    segments: list[Segment],
    public_key: Ed25519PublicKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory = _directory(tmp_path, segments)
    limit = max(len(s.data) for s in segments[:-1])
    monkeypatch.setattr(sources, "MAX_SEGMENT_BYTES", limit)
    (directory / "000006.jsonl").write_bytes(segments[-1].data + b" " * (limit + 1))
    report = verify_source(str(directory), public_key, env={})
    assert report.verdict is Verdict.INVALID, report.reason
    assert report.segments is not None
    assert report.segments.extra == (f"000006.jsonl (larger than {limit} bytes)",)


class _FakeBody:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def __enter__(self) -> _FakeBody:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self, amount: int) -> bytes:
        return self.data[:amount]


class _FakeS3:
    """What list_object_versions and get_object answer for one session prefix."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get_paginator(self, name: str) -> _FakeS3:
        assert name == "list_object_versions"
        return self

    def paginate(self, *, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
        versions = [{"Key": Prefix + name, "VersionId": "v1"} for name in self.objects]
        return [{"Versions": versions}]

    def get_object(self, *, Bucket: str, Key: str, VersionId: str) -> dict[str, Any]:
        return {"Body": _FakeBody(self.objects[Key.rsplit("/", 1)[1]])}

    def close(self) -> None:
        pass


def test_s3_names_are_numbered_only_as_hgate_names_them(
    segments: list[Segment], public_key: Ed25519PublicKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hgate.audit import s3_sink

    objects = {s.name: s.data for s in segments}
    objects["0000001.jsonl"] = b'{"forged":"segment 1, other version"}\n'
    objects["000000.jsonl"] = b""
    monkeypatch.setattr(s3_sink, "s3_client", lambda **kwargs: _FakeS3(objects))
    report = verify_source("s3://bucket/evidence/sess-0001", public_key, env={})
    assert report.verdict is Verdict.INVALID, report.reason
    assert report.segments is not None and report.segments.present == tuple(range(1, 7))
    assert report.segments.extra == ("000000.jsonl", "0000001.jsonl")
