"""Reading a transcript back from wherever a sink put it, for `hgate verify`.

A source is a transcript file, a directory (holding one transcript file, or segment
files `NNNNNN.jsonl` as a collector or an S3 download stores them), an S3 session prefix
`s3://BUCKET/PREFIX/SESSION_ID` or a collector's session URL. Segmented sources are
returned as a listing, never repaired: what is missing or extra is for the verifier to
report. Anything that cannot be read is a ConfigError (exit 67), before any verdict.

A store is written by someone else, so reading it is bounded: only regular files are
opened (a FIFO, a device or a directory named like a segment is reported, never read),
at most MAX_SEGMENT_BYTES are read per segment, and each collector request must be
answered in full within `_DEADLINE` seconds, however slowly the bytes trickle in.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hgate.audit.report import printable
from hgate.audit.segments import segment_name, segment_number
from hgate.endpoints import opener_for
from hgate.errors import ConfigError, SinkError
from hgate.regular_files import NotRegularFile, open_regular

__all__ = [
    "MAX_SEGMENT_BYTES",
    "SegmentListing",
    "StoredSegment",
    "read_source",
    "stored_name",
]

_TIMEOUT = 30.0  # seconds for a connection or one read
_DEADLINE = 60.0  # seconds for a whole collector request, answer included
_CHUNK = 1 << 16
MAX_SEGMENT_BYTES = 256 * 1024 * 1024
"""The most read of one stored segment; a larger one is reported, not read."""
_MAX_LISTING_BYTES = 16 * 1024 * 1024
_LOOKS_LIKE_SEGMENT = re.compile(r"\.*[0-9]+\.jsonl\Z")
"""Names a store might hold segments under; only `segment_number`'s are hgate's."""


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
    if not os.path.lexists(path):
        raise ConfigError(f"transcript {_shown(path)} does not exist")
    data = _read_regular(path, None)  # a FIFO or /dev/zero named as the file: refused
    if isinstance(data, str):
        raise ConfigError(f"cannot read transcript {_shown(path)}: {data}")
    return data


def stored_name(spec: str) -> str | None:
    """The session id the location names, the way hgate names it: the file's name without
    `.jsonl`, a segment directory's name, or the last part of an S3 prefix or collector
    URL. None when the location names none (a file not ending in `.jsonl`).

    hgate writes session S to `S.jsonl` or under `.../S/`; `hgate verify` compares this
    with the session inside, so a copy of an old session put where a new one belongs is
    not taken for it (docs/auditors.md)."""
    if spec.startswith(("s3://", "http://", "https://")):
        name = spec.rstrip("/").rpartition("/")[2]
        return name or None
    path = Path(spec)
    if path.is_dir():
        try:
            visible = [n for n in os.listdir(path) if not n.startswith(".")]
        except OSError:
            return None
        if not any(_LOOKS_LIKE_SEGMENT.match(name) for name in visible):
            files = [n for n in visible if n.endswith(".jsonl") and (path / n).is_file()]
            return files[0].removesuffix(".jsonl") if len(files) == 1 else None
        return path.resolve().name or None
    return path.name.removesuffix(".jsonl") if path.name.endswith(".jsonl") else None


def _listing(location: str, found: dict[int, StoredSegment], extra: list[str]) -> SegmentListing:
    if not found and not extra:
        raise ConfigError(f"no transcript segments at {printable(location)}")
    ordered = tuple(found[number] for number in sorted(found))
    return SegmentListing(location=location, segments=ordered, extra=tuple(sorted(extra)))


def _read_directory(path: Path) -> bytes | SegmentListing:
    try:
        names = sorted(entry.name for entry in path.iterdir())
    except OSError as exc:
        raise ConfigError(f"cannot list {_shown(path)}: {_reason(exc)}") from exc
    visible = [name for name in names if not name.startswith(".")]
    if not any(_LOOKS_LIKE_SEGMENT.match(name) for name in visible):
        transcripts = [path / n for n in visible if n.endswith(".jsonl") and (path / n).is_file()]
        if len(transcripts) != 1:
            raise ConfigError(
                f"{_shown(path)} holds {len(transcripts)} transcript files; name one of them"
                if transcripts
                else f"no transcript or segment files in {_shown(path)}"
            )
        data = _read_regular(transcripts[0], None)
        if isinstance(data, str):
            raise ConfigError(f"cannot read transcript {_shown(transcripts[0])}: {data}")
        return data
    found: dict[int, StoredSegment] = {}
    extra: list[str] = []
    for name in names:
        if name.startswith("."):  # a store's own temporary files, unless named like ours
            if name.endswith(".jsonl"):
                extra.append(f"{name} (hidden)")
            continue
        number = segment_number(name)
        if number is None:
            extra.append(name)
            continue
        data = _read_regular(path / name, MAX_SEGMENT_BYTES)
        if isinstance(data, str):
            extra.append(f"{name} ({data})")
        else:
            found[number] = StoredSegment(number=number, name=name, data=data)
    return _listing(str(path), found, extra)


def _read_regular(path: Path, limit: int | None) -> bytes | str:
    """The bytes of a regular file (of at most `limit` bytes), or why it is refused.

    A FIFO would block the reader forever and a device such as /dev/zero never ends, so
    the kind of file is checked before it is opened and again on the open descriptor
    (opened non-blocking, in case it was swapped in between)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:  # a dangling symbolic link (or gone since the listing)
        return "not a regular file: a link to nothing"
    except OSError as exc:
        if os.path.islink(path):  # a loop of symbolic links
            return "not a regular file: a link that cannot be followed"
        raise ConfigError(f"cannot read {_shown(path)}: {_reason(exc)}") from exc
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file: {_kind(path, info.st_mode)}"
    if limit is not None and info.st_size > limit:
        return f"larger than {limit} bytes"
    try:
        with open_regular(path) as handle:
            data = handle.read() if limit is None else handle.read(limit + 1)
    except NotRegularFile as exc:  # swapped in since the stat
        return f"not a regular file: {_kind(path, exc.mode)}"
    except OSError as exc:
        raise ConfigError(f"cannot read {_shown(path)}: {_reason(exc)}") from exc
    if limit is not None and len(data) > limit:
        return f"larger than {limit} bytes"
    return data


def _kind(path: Path, mode: int) -> str:
    kind = "something else"
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            kind = name
    return f"a symbolic link to {kind}" if os.path.islink(path) else kind


def _read_s3(spec: str, env: Mapping[str, str]) -> SegmentListing:
    """Every version of every object under the prefix: a later version or a delete marker
    over a locked segment is reported as extra, and the first version written is read."""
    from hgate.audit.s3_sink import s3_client

    bucket, _, path = spec.removeprefix("s3://").partition("/")
    path = path.strip("/")
    if not bucket or not path:
        raise ConfigError(f"{printable(spec)!r} is not s3://BUCKET/PREFIX/SESSION_ID")
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
        raise ConfigError(f"cannot read {printable(spec)}: {printable(str(exc))}") from exc
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
            number = segment_number(name)
            if number is None:  # another object, or a second spelling of a number
                extra.append(name)
                continue
            if len(ids) > 1:  # S3 lists a key's versions newest first
                extra.append(f"{name} ({len(ids) - 1} later version(s))")
            answer = client.get_object(Bucket=bucket, Key=key, VersionId=ids[-1])
            with answer["Body"] as body:
                data = body.read(MAX_SEGMENT_BYTES + 1)
            if len(data) > MAX_SEGMENT_BYTES:
                extra.append(f"{name} (larger than {MAX_SEGMENT_BYTES} bytes)")
                continue
            found[number] = StoredSegment(number=number, name=name, data=data)
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(f"cannot read {printable(spec)}: {printable(str(exc))}") from exc
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read {printable(spec)}: an unexpected S3 answer") from exc
    finally:
        client.close()
    return _listing(spec, found, extra)


def _read_http(url: str, env: Mapping[str, str]) -> SegmentListing:
    """A collector's session URL: `GET URL` lists the segments, `GET URL/segments/N` each."""
    shown = printable(url)
    answer = _get(url, env, _MAX_LISTING_BYTES)
    if len(answer) > _MAX_LISTING_BYTES:
        raise ConfigError(f"{shown} answered with over {_MAX_LISTING_BYTES} bytes")
    try:
        listing: Any = json.loads(answer)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, absurdly nested
        raise ConfigError(f"{shown} did not answer with JSON ({type(exc).__name__})") from exc
    numbers = listing.get("segments") if isinstance(listing, dict) else None
    if not isinstance(numbers, list) or not all(type(n) is int for n in numbers):
        raise ConfigError(f"{shown} did not answer with a segment listing")
    found: dict[int, StoredSegment] = {}
    extra: list[str] = []
    for number in numbers:
        if number < 1:
            extra.append(f"segment {number} (not a segment number)")
            continue
        name = segment_name(number)
        if number in found:
            extra.append(f"{name} (listed twice)")
            continue
        data = _get(f"{url}/segments/{number}", env, MAX_SEGMENT_BYTES)
        if len(data) > MAX_SEGMENT_BYTES:
            extra.append(f"{name} (larger than {MAX_SEGMENT_BYTES} bytes)")
            continue
        found[number] = StoredSegment(number=number, name=name, data=data)
    return _listing(url, found, extra)


def _get(url: str, env: Mapping[str, str], limit: int) -> bytes:
    """The body of `GET url`, cut after `limit + 1` bytes; the whole request (connection,
    headers and body) must finish within `_DEADLINE` seconds, so a server that answers
    one byte at a time cannot hold the verifier. The request runs in a daemon thread
    that gives up at its next read once the deadline has passed."""
    outcome: list[bytes | Exception] = []
    cancelled = threading.Event()

    def fetch() -> None:
        try:
            outcome.append(_fetch(url, env, limit, cancelled))
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=fetch, name="hgate-verify-get", daemon=True)
    worker.start()
    worker.join(_DEADLINE)
    if worker.is_alive() or not outcome:
        cancelled.set()
        raise ConfigError(
            f"cannot read {printable(url)}: no complete answer within {_DEADLINE:g} seconds"
        )
    result = outcome[0]
    if isinstance(result, Exception):
        raise result
    return result


def _fetch(url: str, env: Mapping[str, str], limit: int, cancelled: threading.Event) -> bytes:
    import http.client  # lazily: `hgate run` never reads a collector
    import urllib.error
    import urllib.request

    shown = printable(url)
    headers = {"User-Agent": "hgate-verify"}
    if token := env.get("HGATE_VERIFY_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    chunks: list[bytes] = []
    size = 0
    try:
        with opener_for(request.full_url).open(request, timeout=_TIMEOUT) as response:
            while size <= limit and not cancelled.is_set():
                chunk: bytes = response.read1(min(_CHUNK, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as exc:
        with exc:
            reason = printable(str(exc.reason))
            raise ConfigError(f"cannot read {shown}: HTTP {exc.code} {reason}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = printable(str(getattr(exc, "reason", exc)))
        raise ConfigError(f"cannot read {shown}: {reason}") from exc
    return b"".join(chunks)


def _shown(path: Path) -> str:
    return printable(str(path))


def _reason(exc: OSError) -> str:
    return printable(str(exc.strerror or exc))
