"""The S3 sink against moto's S3 server: Object Lock, write-once puts, verify from s3://."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hgate.audit import (
    Segment,
    SegmentRejected,
    SegmentStore,
    Verdict,
    generate_keypair,
    load_signer,
)
from hgate.audit import verify_source as verify
from hgate.audit.directory_sink import DirectorySink
from hgate.audit.fanout import FanoutSink
from hgate.audit.s3_sink import S3SegmentStore, S3Target
from hgate.audit.shipper import SegmentShipper
from hgate.audit.transcript import TranscriptWriter
from hgate.errors import SinkError
from tests.fixtures.s3_server import S3Server
from tests.integration.sinks.conftest import Hgate

pytestmark = pytest.mark.integration

SESSION = "sess-s3-0001"


def _store(s3: S3Server, bucket: str, **options: Any) -> S3SegmentStore:
    target = S3Target(bucket=bucket, prefix="ci/agents", endpoint_url=s3.endpoint_url, **options)
    return S3SegmentStore(target, env=s3.env)


def _segments(tmp_path: Path, count: int = 6) -> tuple[list[Segment], Path]:
    """A real transcript's segments, written through a FanoutSink into memory."""
    keys = tmp_path / "keys"
    generate_keypair(keys)
    captured: list[Segment] = []

    class Capture(SegmentStore):
        location = "capture"

        def prepare(self, session_id: str) -> None:
            pass

        def put(self, segment: Segment) -> None:
            captured.append(segment)

    sink = FanoutSink(DirectorySink(tmp_path / "local"), [SegmentShipper(Capture())])
    writer = TranscriptWriter(sink, load_signer(keys / "hgate.key"), checkpoint_every_lines=2)
    writer.start({"session_id": SESSION})
    for i in range(count):
        writer.append("output", {"stream": "pty", "lines": [{"text": f"line {i}", "end": "\n"}]})
    writer.seal(exit_code=0, reason="exited")
    sink.shutdown(5)
    return captured, keys / "hgate.pub"


def test_segments_are_locked_write_once_objects(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.bucket()
    segments, _ = _segments(tmp_path)
    store = _store(s3_server, bucket, retention_days=1)
    store.prepare(SESSION)
    assert store.location == f"s3://{bucket}/ci/agents/{SESSION}/"
    for segment in segments:
        store.put(segment)
    store.put(segments[0])  # a retry of a segment already stored: a no-op
    client = s3_server.client()
    try:
        key = f"ci/agents/{SESSION}/000001.jsonl"
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        until = head["ObjectLockRetainUntilDate"]
        assert datetime.now(UTC) + timedelta(hours=23) < until < datetime.now(UTC) + timedelta(2)
        assert head["Metadata"]["hgate-chain-head"] == segments[0].chain_head
        # Object Lock refuses to delete the locked version ...
        with pytest.raises(ClientError, match="AccessDenied"):
            client.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
        # ... and If-None-Match refuses to overwrite it.
        with pytest.raises(ClientError, match="PreconditionFailed"):
            client.put_object(Bucket=bucket, Key=key, Body=b"forged\n", IfNoneMatch="*")
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        with body:
            assert body.read() == segments[0].data
    finally:
        client.close()
    with pytest.raises(SegmentRejected, match="already holds a different segment 1"):
        store.put(Segment(**{**_fields(segments[1]), "number": 1}))
    store.close()


def _fields(segment: Segment) -> dict[str, Any]:
    return {name: getattr(segment, name) for name in Segment.__dataclass_fields__}


def test_verify_from_s3_and_what_tampering_leaves(s3_server: S3Server, tmp_path: Path) -> None:
    from hgate.audit import load_public_key

    bucket = s3_server.bucket()
    segments, pub = _segments(tmp_path)
    store = _store(s3_server, bucket)
    store.prepare(SESSION)
    for segment in segments:
        store.put(segment)
    store.close()
    key, source = load_public_key(pub), f"s3://{bucket}/ci/agents/{SESSION}"
    report = verify(source, key, env=s3_server.env)
    assert report.verdict is Verdict.VALID, report.reason
    client = s3_server.client()
    try:  # what a holder of write credentials can still do under Object Lock
        client.delete_object(Bucket=bucket, Key=f"ci/agents/{SESSION}/000002.jsonl")
        client.put_object(Bucket=bucket, Key=f"ci/agents/{SESSION}/000003.jsonl", Body=b"x\n")
    finally:
        client.close()
    report = verify(source, key, env=s3_server.env)
    assert report.verdict is Verdict.INVALID
    assert report.segments is not None and report.segments.extra == (
        "000002.jsonl (delete marker)",
        "000003.jsonl (1 later version(s))",
    )
    assert "segments 1-" in report.reason and "VALID" in report.reason  # the locked originals


def test_a_bucket_without_object_lock_is_refused_unless_allowed(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.bucket(object_lock=False)
    with pytest.raises(SinkError, match=f"S3 bucket {bucket} does not have Object Lock"):
        _store(s3_server, bucket).prepare(SESSION)
    store = _store(s3_server, bucket, require_object_lock=False)
    store.prepare(SESSION)
    segments, _ = _segments(tmp_path)
    store.put(segments[0])
    store.close()
    with pytest.raises(SinkError, match="already holds objects; a session id is used once"):
        _store(s3_server, bucket, require_object_lock=False).prepare(SESSION)


def test_an_unreachable_or_missing_bucket_is_a_sink_error(
    s3_server: S3Server, tmp_path: Path
) -> None:
    with pytest.raises(SinkError, match="cannot use S3 bucket no-such-bucket-1: NoSuchBucket"):
        _store(s3_server, "no-such-bucket-1").prepare(SESSION)
    store = S3SegmentStore(
        S3Target(bucket="b12", endpoint_url="http://127.0.0.1:9", timeout=1), env=s3_server.env
    )
    with pytest.raises(SinkError, match="cannot use S3 bucket b12"):
        store.prepare(SESSION)
    store.close()


def test_hgate_run_streams_to_s3_and_verify_reads_it_back(
    s3_server: S3Server, hgate: Hgate, agent: Callable[[str], list[str]]
) -> None:
    bucket = s3_server.bucket()
    hgate.extra_env = dict(s3_server.env)
    policy = hgate.policy(
        f"{{type: s3, bucket: {bucket}, prefix: evidence, endpoint_url: "
        f"'{s3_server.endpoint_url}', retries: 1, backoff: 50ms, timeout: 5s}}"
    )
    script = 'echo "aws variables: $(env | grep -c ^AWS_)"\n'
    script += 'for i in $(seq 1 12); do echo "row $i"; done\n'
    result = hgate.run(policy, agent(script))
    assert result.returncode == 0, result.stderr
    assert "aws variables: 0" in result.stdout  # the agent never sees the sink's credentials
    assert f"transcript also streamed to s3://{bucket}/evidence/" in result.stderr
    local = hgate.transcript()
    code, report = hgate.verify(local)
    assert code == 0, report
    code, remote = hgate.verify(f"s3://{bucket}/evidence/{local.stem}")
    assert code == 0, remote["reason"]
    assert remote["lines_total"] == report["lines_total"]
    segments = remote["segments"]
    assert isinstance(segments, dict) and segments["missing"] == [] and segments["extra"] == []
    assert len(segments["present"]) >= 3


def test_hgate_run_refuses_a_bucket_without_object_lock(
    s3_server: S3Server, hgate: Hgate, agent: Callable[[str], list[str]]
) -> None:
    bucket = s3_server.bucket(object_lock=False)
    hgate.extra_env = dict(s3_server.env)
    policy = hgate.policy(
        f"{{type: s3, bucket: {bucket}, endpoint_url: '{s3_server.endpoint_url}'}}"
    )
    marker = hgate.tmp_path / "agent-ran"
    result = hgate.run(policy, agent(f"touch {marker}\n"))
    assert result.returncode == 73, result.stderr
    assert "does not have Object Lock enabled" in result.stderr
    assert not marker.exists() and not list(hgate.runs.glob("*.jsonl"))
