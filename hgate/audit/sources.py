"""Reading a transcript back from wherever a sink put it, for `hgate verify`.

A source is a transcript file, a directory (holding one transcript file, or segment
files `NNNNNN.jsonl` as a collector or an S3 download stores them), an S3 session prefix
`s3://BUCKET/PREFIX/SESSION_ID` or a collector's session URL. Segmented sources are
returned as a listing, never repaired: what is missing or extra is for the verifier to
report. Anything that cannot be read is a ConfigError (exit 67), before any verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hgate.audit.segments import SEGMENT_NAME_RE
from hgate.errors import ConfigError, SinkError

__all__ = ["SegmentListing", "StoredSegment", "read_source"]

_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSegment:
    number: int
    name: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentListing:
    """One session's segments as a store holds them (sorted, one per number), plus the
    objects there that hgate never writes."""

    location: str
    segments: tuple[StoredSegment, ...]
    extra: tuple[str, ...] = ()


def read_source(spec: str, *, env: Mapping[str, str]) -> bytes | SegmentListing:
    """A whole transcript's bytes (a file) or a segment listing (everything else)."""
    if spec.startswith("s3://"):
        return _read_s3(spec, env)
    if spec.startswith(("http://", "https://")):
        return _read_http(spec.rstrip("/"), env)
    path = Path(spec)
    if path.is_dir():
        return _read_directory(path)
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"transcript {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read transcript {path}: {exc.strerror or exc}") from exc


def _listing(location: str, found: dict[int, StoredSegment], extra: list[str]) -> SegmentListing:
    if not found:
        raise ConfigError(f"no transcript segments at {location}")
    ordered = tuple(found[number] for number in sorted(found))
    return SegmentListing(location=location, segments=ordered, extra=tuple(sorted(extra)))


def _read_directory(path: Path) -> bytes | SegmentListing:
    try:
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise ConfigError(f"cannot list {path}: {exc.strerror or exc}") from exc
    segments = [p for p in entries if SEGMENT_NAME_RE.match(p.name)]
    if not segments:
        transcripts = [p for p in entries if p.suffix == ".jsonl" and p.is_file()]
        if len(transcripts) != 1:
            raise ConfigError(
                f"{path} holds {len(transcripts)} transcript files; name one of them"
                if transcripts
                else f"no transcript or segment files in {path}"
            )
        return read_source(str(transcripts[0]), env={})
    found: dict[int, StoredSegment] = {}
    for entry in segments:
        number = int(entry.name.split(".")[0])
        try:
            found[number] = StoredSegment(number=number, name=entry.name, data=entry.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read {entry}: {exc.strerror or exc}") from exc
    extra = [p.name for p in entries if p not in segments]
    return _listing(str(path), found, extra)


def _read_s3(spec: str, env: Mapping[str, str]) -> SegmentListing:
    """Every version of every object under the prefix: a later version or a delete marker
    over a locked segment is reported as extra, and the first version written is read."""
    from hgate.audit.s3_sink import s3_client

    bucket, _, path = spec.removeprefix("s3://").partition("/")
    path = path.strip("/")
    if not bucket or not path:
        raise ConfigError(f"{spec!r} is not s3://BUCKET/PREFIX/SESSION_ID")
    prefix = path + "/"
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        client = s3_client(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"),
            timeout=_TIMEOUT,
            env=env,
        )
    except (SinkError, ImportError) as exc:
        raise ConfigError(f"cannot read {spec}: {exc}") from exc
    versions: dict[str, list[str]] = {}
    extra: list[str] = []
    found: dict[int, StoredSegment] = {}
    try:
        pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Versions", []):
                versions.setdefault(item["Key"], []).append(item["VersionId"])
            for item in page.get("DeleteMarkers", []):
                extra.append(f"{item['Key'][len(prefix) :]} (delete marker)")
        for key, ids in sorted(versions.items()):
            name = key[len(prefix) :]
            if not SEGMENT_NAME_RE.match(name):
                extra.append(name)
                continue
            if len(ids) > 1:  # S3 lists a key's versions newest first
                extra.append(f"{name} ({len(ids) - 1} later version(s))")
            answer = client.get_object(Bucket=bucket, Key=key, VersionId=ids[-1])
            with answer["Body"] as body:
                data = body.read()
            number = int(name.split(".")[0])
            found[number] = StoredSegment(number=number, name=name, data=data)
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(f"cannot read {spec}: {exc}") from exc
    finally:
        client.close()
    return _listing(spec, found, extra)


def _read_http(url: str, env: Mapping[str, str]) -> SegmentListing:
    """A collector's session URL: `GET URL` lists the segments, `GET URL/segments/N` each."""
    try:
        listing: Any = json.loads(_get(url, env))
    except ValueError as exc:
        raise ConfigError(f"{url} did not answer with JSON") from exc
    numbers = listing.get("segments") if isinstance(listing, dict) else None
    if not isinstance(numbers, list) or not all(type(n) is int and n > 0 for n in numbers):
        raise ConfigError(f"{url} did not answer with a segment listing")
    found = {
        n: StoredSegment(number=n, name=f"{n:06d}.jsonl", data=_get(f"{url}/segments/{n}", env))
        for n in numbers
    }
    return _listing(url, found, [])


def _get(url: str, env: Mapping[str, str]) -> bytes:
    import http.client  # lazily: `hgate run` never reads a collector
    import urllib.error
    import urllib.request

    headers = {"User-Agent": "hgate-verify"}
    if token := env.get("HGATE_VERIFY_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as exc:
        with exc:
            raise ConfigError(f"cannot read {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {url}: {getattr(exc, 'reason', exc)}") from exc
