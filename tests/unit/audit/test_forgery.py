"""`hgate verify` against a forger who can write wherever the transcript is stored and the
CI workspace, but holds no signing key: every forgery is refused or named, with one
clear line and the documented exit code, and nothing the forger wrote is echoed raw."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hgate.audit import Expectations, Signer, Verdict, VerificationReport, verify_source
from hgate.audit.collector import CollectorServer
from hgate.audit.http_sink import HttpSegmentStore
from tests.secrecy import assert_absent

from .conftest import (
    COLLECTOR_TOKEN,
    HEADER,
    build_transcript,
    decode,
    encode,
    rechain,
    sample_events,
    split_lines,
)
from .segment_tools import write_segmented

MARKER = "FORGED-7731-MARKER"  # synthetic: stands for a raw value the forger plants
EXIT_CONFIG = 67


def _hgate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """hgate in a child process with a deadline: a verifier that hangs fails the test."""
    return subprocess.run(
        [sys.executable, "-m", "hgate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[:500]
    return lines[0]


# --- what is named as the transcript or the key may be anything the forger put there ----


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_as_the_transcript_is_refused_unread(
    tmp_path: Path, key_dir: Path, kind: str
) -> None:
    """Before: `hgate verify FIFO` blocked forever and `/dev/zero` never ended."""
    path = tmp_path / "sess-0001.jsonl"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    done = _hgate("verify", str(path), "--key", str(key_dir / "hgate.pub"))
    assert done.returncode == EXIT_CONFIG and done.stdout == ""
    line = _one_error_line(done)
    assert line.startswith(f"hgate: error: cannot read transcript {path}: not a regular file")


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_as_the_key_is_refused_unread(
    tmp_path: Path, signer: Signer, kind: str
) -> None:
    """Before: `--key FIFO` (a key file swapped in the workspace) blocked forever."""
    path = tmp_path / "sess-0001.jsonl"
    path.write_bytes(build_transcript(signer, sample_events(2)))
    key = tmp_path / "hgate.pub"
    if kind == "fifo":
        os.mkfifo(key)
    else:
        key.symlink_to("/dev/zero")
    done = _hgate("verify", str(path), "--key", str(key))
    assert done.returncode == EXIT_CONFIG and done.stdout == ""
    assert "is not a regular file, not a key file" in _one_error_line(done)


def test_an_oversized_key_file_is_refused(tmp_path: Path, signer: Signer) -> None:
    path = tmp_path / "sess-0001.jsonl"
    path.write_bytes(build_transcript(signer, sample_events(2)))
    key = tmp_path / "hgate.pub"
    key.write_bytes(b"ssh-ed25519 " + b"A" * 100_000 + b"\n")
    done = _hgate("verify", str(path), "--key", str(key))
    assert done.returncode == EXIT_CONFIG
    assert "larger than 65536 bytes" in _one_error_line(done)


# --- replaying an old session where a new one belongs ----------------------------------


def _other_session(signer: Signer) -> bytes:
    """A genuine, sealed session of the same key and CI run: sess-0002."""
    return build_transcript(signer, sample_events(4), header={**HEADER, "session_id": "sess-0002"})


def test_an_old_session_under_a_new_file_name_is_a_mismatch(
    tmp_path: Path, signer: Signer, public_key: Ed25519PublicKey
) -> None:
    """Before: `sess-0003.jsonl` holding sess-0002 verified VALID."""
    replayed = tmp_path / "sess-0003.jsonl"
    replayed.write_bytes(_other_session(signer))
    report = verify_source(str(replayed), public_key, env={})
    assert report.verdict is Verdict.MISMATCH, report.reason
    assert report.reason.startswith("stored as 'sess-0003' but holds session sess-0002")
    # a run directory holding just that file: the same
    assert verify_source(str(tmp_path), public_key, env={}).verdict is Verdict.MISMATCH
    # the auditor's own pin decides, whatever the name
    pinned = Expectations(session_id="sess-0002")
    report = verify_source(str(replayed), public_key, pinned, env={})
    assert report.verdict is Verdict.VALID, report.reason
    assert ("location", "skip") in {(c.name, c.status) for c in report.checks}
    wrong = Expectations(session_id="sess-0003")
    assert verify_source(str(replayed), public_key, wrong, env={}).verdict is Verdict.MISMATCH
    # under its own name: VALID, and the summary says the name was checked
    own = tmp_path / "own" / "sess-0002.jsonl"
    own.parent.mkdir()
    own.write_bytes(replayed.read_bytes())
    report = verify_source(str(own), public_key, env={})
    assert report.verdict is Verdict.VALID
    assert ("location", "pass") in {(c.name, c.status) for c in report.checks}


def test_an_unsealed_replay_stays_incomplete_with_the_location_named(
    tmp_path: Path, signer: Signer, public_key: Ed25519PublicKey
) -> None:
    replayed = tmp_path / "sess-0003.jsonl"
    header = {**HEADER, "session_id": "sess-0002"}
    replayed.write_bytes(build_transcript(signer, sample_events(4), header=header, seal=False))
    report = verify_source(str(replayed), public_key, env={})
    assert report.verdict is Verdict.INCOMPLETE
    assert ("location", "fail") in {(c.name, c.status) for c in report.checks}


def test_an_old_session_copied_into_a_new_segment_prefix_is_a_mismatch(
    tmp_path: Path, signer: Signer, public_key: Ed25519PublicKey
) -> None:
    """Before: a directory of segments named after another session verified VALID."""
    _, segments = write_segmented(signer, sample_events(6))  # session sess-0001
    directory = tmp_path / "sess-0009"
    directory.mkdir()
    for segment in segments:
        (directory / segment.name).write_bytes(segment.data)
    report = verify_source(str(directory), public_key, env={})
    assert report.verdict is Verdict.MISMATCH, report.reason
    assert "stored as 'sess-0009' but holds session sess-0001" in report.reason


def test_a_session_copied_inside_the_collector_store_is_a_mismatch(
    collector: CollectorServer, signer: Signer, public_key: Ed25519PublicKey
) -> None:
    """The forger copies the collector's stored sess-0001 over to the name sess-0005."""
    _, segments = write_segmented(signer, sample_events(6))
    store = HttpSegmentStore(f"{collector.url}/v1/segments", COLLECTOR_TOKEN, timeout=5)
    store.prepare("sess-0001")
    for segment in segments:
        store.put(segment)
    shutil.copytree(collector.root / "sess-0001", collector.root / "sess-0005")
    genuine = verify_source(f"{collector.url}/v1/sessions/sess-0001", public_key, env={})
    assert genuine.verdict is Verdict.VALID, genuine.reason
    report = verify_source(f"{collector.url}/v1/sessions/sess-0005", public_key, env={})
    assert report.verdict is Verdict.MISMATCH, report.reason


# --- nothing the forger wrote is echoed: each message describes, never repeats ----------


def _line(data: bytes, number: int, edit: Callable[[dict[str, object]], None]) -> bytes:
    lines = split_lines(data)
    obj = decode(lines[number - 1])
    edit(obj)
    lines[number - 1] = encode(obj)
    return b"".join(lines[:number])


FORGERIES: dict[str, Callable[[bytes], bytes]] = {
    "header key_id": lambda d: _line(d, 1, lambda o: o.update(key_id=MARKER)),
    "header format": lambda d: _line(d, 1, lambda o: o.update(format=MARKER)),
    "header version": lambda d: _line(d, 1, lambda o: o.update(version=MARKER)),
    "header hash": lambda d: _line(d, 1, lambda o: o.update(hash=MARKER)),
    "header big version": lambda d: _line(d, 1, lambda o: o.update(version=77317731)),
    "checkpoint key_id": lambda d: _line(d, 2, lambda o: o.update(key_id=MARKER)),
    "event seq": lambda d: _line(d, 3, lambda o: o.update(seq=MARKER)),
    "event seq as array": lambda d: _line(d, 3, lambda o: o.update(seq=[MARKER] * 5000)),
    "event type": lambda d: _line(d, 3, lambda o: o.update(type=MARKER)),
    "duplicate member": lambda d: (
        b"".join(split_lines(d)[:2]) + f'{{"seq":3,"{MARKER}":1,"{MARKER}":2}}\n'.encode()
    ),
    "huge float": lambda d: (
        b"".join(split_lines(d)[:2]) + b'{"seq":3,"t":77317731' + b"7" * 400 + b"e99999}\n"
    ),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_a_forged_value_is_described_never_echoed(
    tmp_path: Path, signer: Signer, key_dir: Path, name: str
) -> None:
    """Before: `seq is 'FORGED…'`, `unknown line type 'FORGED…'`, the header's key id,
    format, version and algorithms, a duplicated member name and the digits of a huge
    number were repeated into the verdict line (and a 5000-item array in full)."""
    path = tmp_path / "sess-0001.jsonl"
    path.write_bytes(FORGERIES[name](build_transcript(signer, sample_events(4))))
    done = _hgate("verify", str(path), "--key", str(key_dir / "hgate.pub"))
    assert done.returncode in (Verdict.INVALID.exit_code, Verdict.MALFORMED.exit_code)
    assert "Traceback" not in done.stderr
    verdict_line = done.stdout.splitlines()[0]
    assert len(verdict_line) < 200, len(verdict_line)
    checks = [line for line in done.stdout.splitlines() if "FAIL" in line]
    assert_absent(
        {"marker": MARKER, "number": "77317731"},
        verdict=verdict_line,
        failed_checks="\n".join(checks),
    )


def test_a_checkpoint_naming_a_real_key_still_names_it(
    tmp_path: Path, signer: Signer, other_signer: Signer, public_key: Ed25519PublicKey
) -> None:
    """A key id of fingerprint form is what the auditor needs to see: shown."""
    data = build_transcript(signer, sample_events(2))
    forged = _line(data, 2, lambda o: o.update(key_id=other_signer.key_id))
    report = verify_source_bytes(tmp_path, forged, public_key)
    assert report.verdict is Verdict.INVALID
    assert f"names key {other_signer.key_id}, not the given key" in report.reason


def verify_source_bytes(tmp_path: Path, data: bytes, key: Ed25519PublicKey) -> VerificationReport:
    path = tmp_path / "sess-0001.jsonl"
    path.write_bytes(data)
    return verify_source(str(path), key, env={})


def test_a_store_flooded_with_objects_gives_one_short_line(
    tmp_path: Path, signer: Signer, key_dir: Path
) -> None:
    """Before: 30,000 planted names made a 3 MB verdict line (each name three times)."""
    _, segments = write_segmented(signer, sample_events(6))
    directory = tmp_path / "sess-0001"
    directory.mkdir()
    for segment in segments:
        (directory / segment.name).write_bytes(segment.data)
    for number in range(3000):
        (directory / f"planted-{number:05d}.txt").write_bytes(b"")
    done = _hgate("verify", str(directory), "--key", str(key_dir / "hgate.pub"))
    assert done.returncode == Verdict.INVALID.exit_code
    assert done.stdout.startswith("INVALID objects hgate never writes there: planted-00000.txt")
    assert "and 2990 more" in done.stdout.splitlines()[0]
    assert len(done.stdout) < 8000, len(done.stdout)
    report = json.loads(
        _hgate("verify", str(directory), "--key", str(key_dir / "hgate.pub"), "--json").stdout
    )
    assert len(report["segments"]["extra"]) == 3000  # --json keeps every name


# --- the summary says what the verdict rests on -----------------------------------------


def test_the_summary_says_how_the_key_is_trusted(
    tmp_path: Path, signer: Signer, key_dir: Path
) -> None:
    """Before: the summary showed a fingerprint and nothing about where the key came
    from, so a key the forger left beside the transcript read like the auditor's own."""
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "sess-0001.jsonl"
    path.write_bytes(build_transcript(signer, sample_events(2)))
    beside = runs / "hgate.pub"
    shutil.copy(key_dir / "hgate.pub", beside)

    def trusted_as(*extra: str, key: Path) -> str:
        done = _hgate("verify", str(path), "--key", str(key), *extra)
        rows = [line for line in done.stdout.splitlines() if line.startswith("trusted as")]
        assert len(rows) == 1, done.stdout
        return rows[0]

    assert "lies beside the transcript and is not pinned" in trusted_as(key=beside)
    own = trusted_as(key=key_dir / "hgate.pub")
    assert "not pinned by fingerprint" in own and "beside" not in own
    pinned = trusted_as("--expect-key-fingerprint", signer.key_id, key=beside)
    assert pinned.endswith("pinned by --expect-key-fingerprint")
    wrong = trusted_as("--expect-key-fingerprint", "SHA256:" + "A" * 43, key=beside)
    assert "NOT the fingerprint pinned" in wrong
    done = _hgate("verify", str(path), "--key", str(beside), "--json")
    assert "lies beside the transcript" in json.loads(done.stdout)["key_basis"]


# --- forgeries the chain and signatures already catch (kept as regressions) -------------


def test_resigning_with_another_key_fails_with_the_auditors_key(
    tmp_path: Path, signer: Signer, other_signer: Signer, public_key: Ed25519PublicKey
) -> None:
    """The forger re-signs every checkpoint with their key and names it in the header."""
    lines = split_lines(build_transcript(signer, sample_events(4)))
    for number, line in enumerate(lines):
        obj = decode(line)
        if "key_id" in obj:
            obj["key_id"] = other_signer.key_id
            lines[number] = encode(obj)
    forged = rechain(lines, resign=other_signer.sign)
    report = verify_source_bytes(tmp_path, forged, public_key)
    assert report.verdict is Verdict.INVALID


@pytest.mark.parametrize(
    "edit",
    ["drop the seal", "drop the last segment", "edit a masked line", "append after the seal"],
)
def test_shortening_or_editing_never_verifies_valid(
    tmp_path: Path, signer: Signer, public_key: Ed25519PublicKey, edit: str
) -> None:
    lines = split_lines(build_transcript(signer, sample_events(8)))
    if edit == "drop the seal":
        forged, expected = b"".join(lines[:-1]), Verdict.INCOMPLETE
    elif edit == "drop the last segment":
        last_checkpoint = max(i for i, x in enumerate(lines[:-1]) if b'"checkpoint"' in x)
        forged, expected = b"".join(lines[: last_checkpoint + 1]), Verdict.INCOMPLETE
    elif edit == "edit a masked line":
        lines[2] = lines[2].replace(b"[SSN-1]", b"000-00-0000")
        forged, expected = rechain(lines), Verdict.INVALID
    else:
        prev = hashlib.sha256(lines[-1]).hexdigest()
        extra = {"seq": len(lines) + 1, "prev": prev, "t": 1.0, "type": "output", "data": {}}
        forged, expected = b"".join(lines) + encode(extra), Verdict.INVALID
    report = verify_source_bytes(tmp_path, forged, public_key)
    assert report.verdict is expected


def test_a_segment_spliced_from_another_session_is_invalid(
    tmp_path: Path, signer: Signer, public_key: Ed25519PublicKey
) -> None:
    _, ours = write_segmented(signer, sample_events(6))
    _, theirs = write_segmented(signer, sample_events(7))
    directory = tmp_path / "sess-0001"
    directory.mkdir()
    for segment in ours:
        (directory / segment.name).write_bytes(segment.data)
    (directory / ours[2].name).write_bytes(theirs[2].data)
    report = verify_source(str(directory), public_key, env={})
    assert report.verdict is Verdict.INVALID, report.reason


def test_a_flooded_header_gives_a_bounded_summary(
    tmp_path: Path, signer: Signer, key_dir: Path
) -> None:
    """Before: a header-only file with a 5 MB subject printed all of it in the summary."""
    header = decode(split_lines(build_transcript(signer))[0])
    header["identity"] = {"subject": "S" * 5_000_000, "issuer": "i"}
    path = tmp_path / "sess-0001.jsonl"
    path.write_bytes(encode(header))
    done = _hgate("verify", str(path), "--key", str(key_dir / "hgate.pub"))
    assert done.returncode == Verdict.INCOMPLETE.exit_code, done.stderr
    assert len(done.stdout) < 8000, len(done.stdout)
    assert "(4999700 more characters) (issuer i" in done.stdout
    report = json.loads(
        _hgate("verify", str(path), "--key", str(key_dir / "hgate.pub"), "--json").stdout
    )
    assert len(report["identity"]["subject"]) == 5_000_000  # --json keeps the header whole
