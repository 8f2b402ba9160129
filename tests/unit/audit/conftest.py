"""Fixtures for the audit tests: keys generated in a temporary directory, an in-memory
sink, and a builder for transcripts plus the tampering tools an attacker would use."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hgate.audit import Signer, Sink, TranscriptWriter, generate_keypair, load_signer
from hgate.audit import format as fmt
from hgate.audit.collector import CollectorServer
from hgate.errors import SinkError

HEADER: dict[str, Any] = {
    "session_id": "sess-0001",
    "hgate_version": "0.1.0",
    "started_at": "2024-05-01T12:00:00.000Z",
    "policy": {"path": "policies/ci.yaml", "name": "ci", "sha256": "ab" * 32},
    "identity": {
        "issuer": "https://token.actions.githubusercontent.com",
        "subject": "repo:org/repo:ref:refs/heads/main",
        "verified": True,
        "claims": {"repository": "org/repo"},
    },
    "command": ["agent", "--task", "fix"],
    "host": "runner-1",
    "ci": {"provider": "github", "repository": "org/repo", "run_id": "4242", "run_attempt": 1},
    "masking": {"engine": "test"},
}


class MemorySink(Sink):
    """Keeps lines in memory and records sync/close calls; `fail_after` simulates a full disk."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.lines: list[bytes] = []
        self.syncs: list[int] = []
        self.session_id: str | None = None
        self.closed = False
        self.fail_after = fail_after

    @property
    def location(self) -> str:
        return "memory"

    def open(self, session_id: str) -> None:
        self.session_id = session_id

    def write(self, line: bytes) -> None:
        if self.fail_after is not None and len(self.lines) >= self.fail_after:
            raise SinkError("memory sink is full (No space left on device)")
        self.lines.append(line)

    def sync(self) -> None:
        self.syncs.append(len(self.lines))

    def close(self) -> None:
        self.closed = True

    @property
    def data(self) -> bytes:
        return b"".join(self.lines)


class FakeClock:
    def __init__(self, start: float = 1_714_564_800.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys") / "hgate"
    generate_keypair(directory)
    return directory


@pytest.fixture(scope="session")
def signer(key_dir: Path) -> Signer:
    return load_signer(key_dir / "hgate.key")


@pytest.fixture(scope="session")
def public_key(signer: Signer) -> Ed25519PublicKey:
    return signer.public_key


@pytest.fixture(scope="session")
def other_signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    directory = tmp_path_factory.mktemp("other-keys")
    generate_keypair(directory)
    return load_signer(directory / "hgate.key")


def build_transcript(
    signer: Signer,
    events: Iterable[tuple[str, Mapping[str, Any]]] = (),
    *,
    seal: bool = True,
    every: int = 3,
    header: Mapping[str, Any] = HEADER,
) -> bytes:
    sink = MemorySink()
    writer = TranscriptWriter(sink, signer, checkpoint_every_lines=every, clock=FakeClock())
    writer.start(header)
    for event_type, data in events:
        writer.append(event_type, data)
    if seal:
        writer.seal(exit_code=0, reason="exited")
    return sink.data


def sample_events(count: int = 8) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        if i % 4 == 3:
            events.append(("decision", {"command": f"psql -c 'select {i}'", "verdict": "allow"}))
        else:
            text = f"line {i}: patient [SSN-1] ok"
            finding = {"kind": "ssn", "start": 14, "end": 21, "token": f"tok{i}"}
            events.append(("output", {"stream": "stdout", "text": text, "findings": [finding]}))
    return events


@pytest.fixture
def transcript(signer: Signer) -> bytes:
    return build_transcript(signer, sample_events())


def split_lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def decode(line: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(line)
    return obj


def encode(obj: Mapping[str, Any]) -> bytes:
    return fmt.encode_line(dict(obj)) + b"\n"


def rechain(lines: list[bytes], resign: Callable[[bytes], bytes] | None = None) -> bytes:
    """What an attacker without the key does after editing: renumber `seq`, recompute
    every `prev` and keep (or, with `resign`, recompute) the signatures."""
    out: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        obj = decode(line)
        if number > 1:
            obj["seq"] = number
            obj["prev"] = hashlib.sha256(out[-1]).hexdigest()
        if "sig" in obj and resign is not None:
            del obj["sig"]
            out.append(fmt.sign_line(fmt.encode_line(obj), resign))
        else:
            out.append(encode(obj))
    return b"".join(out)


COLLECTOR_TOKEN = "collector-test-token"


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorServer]:
    """A real collector on 127.0.0.1 and a free port, storing under tmp_path/store."""
    server = CollectorServer(tmp_path / "store", COLLECTOR_TOKEN, ("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
