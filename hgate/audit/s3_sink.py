"""S3 with Object Lock: one write-once object per segment under `PREFIX/SESSION_ID/`.

Each segment is put with `If-None-Match: *` (nothing is ever overwritten), its SHA-256
checksum (S3 rejects a body that does not match), and an Object Lock retention date, so
not even the bucket owner can delete or replace it before the retention ends (compliance
mode). boto3 is imported only when an S3 sink is used (`pip install 'hgate[s3]'`).
Credentials come from the standard AWS chain; hgate removes AWS_* from the agent.

botocore's time-outs bound each socket operation, not a request, so every call runs on a
daemon thread and is given up after the sink's `timeout` in total: an expired call is a
failed attempt like any other (retried by the shipper; an abandoned put that lands late
is harmless, as puts are write-once and a retry reads the object back).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from hgate.audit.segments import Segment, SegmentRejected, SegmentStore
from hgate.errors import SinkError

__all__ = ["S3SegmentStore", "S3Target", "s3_client"]

LockMode = Literal["COMPLIANCE", "GOVERNANCE"]
_PERMANENT = frozenset(
    {"AccessDenied", "NoSuchBucket", "InvalidBucketName", "InvalidRequest", "InvalidArgument"}
)
_CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Target:
    """Where and how segments are stored (the policy's `type: s3` sink)."""

    bucket: str
    prefix: str = "hgate"
    region: str | None = None
    endpoint_url: str | None = None  # an S3-compatible store; else AWS_ENDPOINT_URL(_S3)
    object_lock_mode: LockMode = "COMPLIANCE"
    retention_days: int = 2192  # six years, HIPAA's documentation retention
    require_object_lock: bool = True
    timeout: float = 10.0

    def session_prefix(self, session_id: str) -> str:
        base = self.prefix.strip("/")
        return f"{base}/{session_id}/" if base else f"{session_id}/"


def s3_client(
    *,
    region: str | None,
    endpoint_url: str | None,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> Any:
    """A boto3 S3 client with hgate's own retry policy (botocore retries nothing).

    Keys found in `env` are used; otherwise the standard chain (web identity, profile,
    instance role) applies.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise SinkError(
            "the s3 transcript sink needs boto3",
            remedy="pip install 'hgate[s3]'",
        ) from exc
    keys: dict[str, str] = {}
    if env is not None and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        names = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
        pairs = zip(names, _CREDENTIAL_VARS, strict=True)
        keys = {arg: env[var] for arg, var in pairs if var in env}
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": 1},
        request_checksum_calculation="when_required",
    )
    try:
        session = boto3.session.Session(**keys)
        return session.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)
    except Exception as exc:  # botocore raises a dozen kinds for a bad region/endpoint/profile
        raise SinkError(f"cannot set up the S3 client: {exc}") from exc


class S3SegmentStore(SegmentStore):
    """Writes `s3://BUCKET/PREFIX/SESSION_ID/NNNNNN.jsonl`, one locked object per segment."""

    def __init__(
        self, target: S3Target, *, env: Mapping[str, str] | None = None, client: Any = None
    ) -> None:
        self._target = target
        self._env = env
        self._client = client
        self._prefix = ""
        self._locked = False

    @property
    def location(self) -> str:
        return f"s3://{self._target.bucket}/{self._prefix or self._target.prefix.strip('/')}"

    def prepare(self, session_id: str) -> None:
        """Refuse a bucket without Object Lock (unless allowed) and a non-empty session prefix."""
        from botocore.exceptions import BotoCoreError, ClientError

        target = self._target
        if self._client is None:
            self._client = s3_client(
                region=target.region,
                endpoint_url=target.endpoint_url,
                timeout=target.timeout,
                env=self._env,
            )
        self._prefix = target.session_prefix(session_id)
        try:
            try:
                answer = self._call(
                    self._client.get_object_lock_configuration, Bucket=target.bucket
                )
                config = answer.get("ObjectLockConfiguration", {})
                self._locked = config.get("ObjectLockEnabled") == "Enabled"
            except ClientError as exc:
                if _code(exc) != "ObjectLockConfigurationNotFoundError":
                    raise
                self._locked = False
            listing = self._call(
                self._client.list_objects_v2, Bucket=target.bucket, Prefix=self._prefix, MaxKeys=1
            )
        except (ClientError, BotoCoreError, _Expired) as exc:
            raise SinkError(f"cannot use S3 bucket {target.bucket}: {_reason(exc)}") from exc
        if not self._locked and target.require_object_lock:
            raise SinkError(
                f"S3 bucket {target.bucket} does not have Object Lock enabled, so stored "
                "transcripts could be deleted or replaced",
                remedy="create the bucket with Object Lock (docs/sinks.md) or set "
                "require_object_lock: false in the policy's s3 sink",
            )
        if listing.get("KeyCount", 0):
            raise SinkError(f"{self.location} already holds objects; a session id is used once")

    def put(self, segment: Segment) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        target = self._target
        key = self._prefix + segment.name
        request: dict[str, Any] = {
            "Bucket": target.bucket,
            "Key": key,
            "Body": segment.data,
            "ContentType": "application/x-ndjson",
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(hashlib.sha256(segment.data).digest()).decode(),
            "IfNoneMatch": "*",
            "Metadata": {
                "hgate-session": segment.session_id,
                "hgate-first-seq": str(segment.first_seq),
                "hgate-last-seq": str(segment.last_seq),
                "hgate-chain-head": segment.chain_head,
            },
        }
        if self._locked:
            until = datetime.now(UTC) + timedelta(days=target.retention_days)
            request["ObjectLockMode"] = target.object_lock_mode
            request["ObjectLockRetainUntilDate"] = until
        try:
            self._call(self._client.put_object, **request)
        except ClientError as exc:
            code = _code(exc)
            if code == "PreconditionFailed":
                self._confirm_existing(key, segment)
                return
            error = f"cannot store s3://{target.bucket}/{key}: {_reason(exc)}"
            if code in _PERMANENT:
                raise SegmentRejected(error) from exc
            raise SinkError(error) from exc
        except (BotoCoreError, _Expired) as exc:
            raise SinkError(f"cannot store s3://{target.bucket}/{key}: {exc}") from exc

    def _confirm_existing(self, key: str, segment: Segment) -> None:
        """An object already holds this number: fine if it is this segment (a retry whose
        first answer was lost), refused for good otherwise."""
        from botocore.exceptions import BotoCoreError, ClientError

        def read_back() -> bytes:
            answer = self._client.get_object(Bucket=self._target.bucket, Key=key)
            with answer["Body"] as body:  # one byte more than the segment is enough to differ
                data: bytes = body.read(len(segment.data) + 1)
                return data

        try:
            stored = self._call(read_back)
        except (ClientError, BotoCoreError, _Expired) as exc:
            raise SinkError(f"cannot read back s3://{self._target.bucket}/{key}: {exc}") from exc
        if stored != segment.data:
            raise SegmentRejected(
                f"s3://{self._target.bucket}/{key} already holds a different segment "
                f"{segment.number}; it is never overwritten"
            )

    def _call(self, call: Callable[..., Any], /, **kwargs: Any) -> Any:
        """`call(**kwargs)` on a daemon thread, given up after the sink's `timeout`."""
        result: list[Any] = []
        failure: list[BaseException] = []
        done = threading.Event()

        def run() -> None:
            try:
                result.append(call(**kwargs))
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, name="hgate-s3-call", daemon=True).start()
        if not done.wait(self._target.timeout):
            raise _Expired(f"no complete answer within {self._target.timeout:.3g}s")
        if failure:
            raise failure[0]
        return result[0]

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


class _Expired(TimeoutError):
    """An S3 call did not end within the sink's `timeout`."""


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)
