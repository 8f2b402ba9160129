from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hgate.audit import Expectations, Signer, Verdict, verify_transcript
from hgate.audit import format as fmt
from hgate.errors import ConfigError

from .conftest import HEADER, build_transcript, decode, encode, rechain, sample_events, split_lines

# The sample transcript (every=3, 8 events): 1 header, 2 start checkpoint, 3-5 events,
# 6 checkpoint, 7-9 events, 10 checkpoint, 11-12 events, 13 seal.
TOTAL = 13


def _verify(data: bytes, key: Ed25519PublicKey, **expect: str) -> Any:
    return verify_transcript(data, key, Expectations(**expect))


def _assert(report: Any, verdict: Verdict, line: int | None = None, what: str = "") -> None:
    assert report.verdict is verdict, report.reason
    if line is not None:
        assert report.first_break is not None and report.first_break.line == line
        assert what in report.first_break.what
        assert report.reason.startswith(f"line {line}: ")


def _with_line(data: bytes, number: int, new: bytes) -> bytes:
    lines = split_lines(data)
    lines[number - 1] = new
    return b"".join(lines)


def test_valid_transcript(transcript: bytes, public_key: Ed25519PublicKey, signer: Signer) -> None:
    report = _verify(transcript, public_key)
    _assert(report, Verdict.VALID)
    assert report.exit_code == 0
    assert report.key_fingerprint == signer.key_id
    assert report.session_id == "sess-0001"
    assert report.identity == HEADER["identity"]
    assert report.lines_total == report.attested_through == TOTAL
    assert report.unattested is None and report.first_break is None
    assert report.seal is not None and report.seal.exit_code == 0
    assert report.seal.totals["events"] == {"decision": 2, "output": 6}
    names = [check.name for check in report.checks if check.status == "pass"]
    assert names == ["format", "key", "totals", "chain", "signatures", "seal"]
    assert json.loads(json.dumps(report.to_dict()))["verdict"] == "VALID"


def test_reads_a_file(tmp_path: Path, transcript: bytes, public_key: Ed25519PublicKey) -> None:
    (tmp_path / "t.jsonl").write_bytes(transcript)
    assert verify_transcript(tmp_path / "t.jsonl", public_key).verdict is Verdict.VALID


def test_missing_file_is_a_config_error(tmp_path: Path, public_key: Ed25519PublicKey) -> None:
    with pytest.raises(ConfigError, match=r"transcript .*absent.jsonl does not exist"):
        verify_transcript(tmp_path / "absent.jsonl", public_key)


# --- truncation -------------------------------------------------------------------------


def test_cut_after_a_line_is_incomplete_with_the_attested_prefix(
    transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    report = _verify(b"".join(split_lines(transcript)[:8]), public_key)
    _assert(report, Verdict.INCOMPLETE)
    assert report.exit_code == 3
    assert (report.attested_through, report.unattested, report.lines_total) == (6, (7, 8), 8)
    assert "lines 1-6 are attested, lines 7-8 are chained but unsigned" in report.reason


def test_removing_the_seal_is_incomplete(transcript: bytes, public_key: Ed25519PublicKey) -> None:
    report = _verify(b"".join(split_lines(transcript)[:-1]), public_key)
    _assert(report, Verdict.INCOMPLETE)
    assert report.attested_through == 10


def test_header_only_attests_nothing(transcript: bytes, public_key: Ed25519PublicKey) -> None:
    report = _verify(split_lines(transcript)[0], public_key)
    _assert(report, Verdict.INCOMPLETE)
    assert report.attested_through == 0 and report.unattested == (1, 1)
    assert "nothing is attested" in report.reason


def test_cut_mid_line_is_incomplete(transcript: bytes, public_key: Ed25519PublicKey) -> None:
    lines = split_lines(transcript)
    report = _verify(b"".join(lines[:8]) + lines[8][:20], public_key)
    _assert(report, Verdict.INCOMPLETE)
    assert report.lines_total == 8
    assert "the file ends in a cut line (20 bytes without a newline)" in report.reason


def test_seal_without_final_newline_is_incomplete(
    transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    _assert(_verify(transcript[:-1], public_key), Verdict.INCOMPLETE)


# --- MALFORMED: not readable as a transcript ---------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "what"),
    [
        (lambda d: b"", "the file is empty"),
        (lambda d: b"\xef\xbb\xbf" + d, "byte-order mark"),
        (lambda d: d[:40], "the header line is cut"),
        (lambda d: d.replace(b"\n", b"\r\n", 1), "carriage return"),
        (lambda d: d.replace(b'"version":1', b'"version":2'), "unsupported format version 2"),
        (lambda d: d.replace(b'"version":1', b'"version":true'), "unsupported format version"),
        (lambda d: d.replace(b'"sig_alg":"ed25519"', b'"sig_alg":"rsa"'), "unsupported algo"),
        (lambda d: d.replace(b'"hash":"sha256"', b'"hash":"md5"'), "unsupported algo"),
        (lambda d: d.replace(b'"format":"hgate-transcript"', b'"format":"x"'), "not an hgate"),
        (lambda d: d.replace(b'"seq":1,', b'"seq":1,"seq":1,', 1), "has the key 'seq' twice"),
        (lambda d: d.replace(b'"t":1714564800.0', b'"t":NaN', 1), "contains NaN"),
        (lambda d: d.replace(b'"host":"runner-1"', b'"host":"\xffx"'), "not valid UTF-8"),
        (lambda d: d.replace(b'"session_id":"sess-0001"', b'"session_id":7'), "session_id"),
        (lambda d: b" " + d, "surrounding whitespace"),
        (lambda d: b"[]\n" + d, "surrounding whitespace"),
        (lambda d: b"".join(split_lines(d)[1:]), "line 1 is not a transcript header"),
    ],
)
def test_malformed(transcript: bytes, public_key: Ed25519PublicKey, mutate: Any, what: str) -> None:
    report = _verify(mutate(transcript), public_key)
    _assert(report, Verdict.MALFORMED, 1, what)
    assert report.exit_code == 5


# --- INVALID: tampered -------------------------------------------------------------------


def test_edited_byte_breaks_the_chain(transcript: bytes, public_key: Ed25519PublicKey) -> None:
    report = _verify(transcript.replace(b"line 4:", b"line 5:"), public_key)
    _assert(report, Verdict.INVALID, 9, "prev is not the SHA-256 of line 8")
    assert report.attested_through == 6 and report.unattested == (7, TOTAL)
    assert report.exit_code == 4


def test_recomputed_plain_chain_is_caught_by_the_next_signature(
    transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    lines = split_lines(transcript)
    lines[7] = lines[7].replace(b"line 4:", b"line 5:")
    report = _verify(rechain(lines), public_key)
    _assert(report, Verdict.INVALID, 10, "checkpoint signature does not verify")
    assert report.attested_through == 6


def test_deleted_event_recomputed_chain_is_caught(
    transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    lines = split_lines(transcript)
    del lines[11]  # line 12, the last event before the seal
    _assert(_verify(rechain(lines), public_key), Verdict.INVALID, 12, "seal signature does not")


@pytest.mark.parametrize(
    ("mutate", "line", "what"),
    [
        (lambda ls: ls[:3] + ls[4:], 4, "seq is 5, expected 4"),
        (lambda ls: [*ls[:4], ls[3], *ls[4:]], 5, "seq is 4, expected 5"),
        (lambda ls: [*ls[:3], ls[4], ls[3], *ls[5:]], 4, "seq is 5, expected 4"),
        (lambda ls: [*ls[:4], ls[8], *ls[4:]], 5, "seq is 9, expected 5"),
        (lambda ls: [*ls, ls[4]], 14, "a line after the seal"),
        (lambda ls: [*ls, ls[-1]], 14, "a second seal"),
        (lambda ls: [ls[0], *ls[2:]], 2, "seq is 3"),
    ],
)
def test_deleted_inserted_duplicated_reordered_lines(
    transcript: bytes, public_key: Ed25519PublicKey, mutate: Any, line: int, what: str
) -> None:
    lines = split_lines(transcript)
    _assert(_verify(b"".join(mutate(lines)), public_key), Verdict.INVALID, line, what)


def test_missing_start_checkpoint_even_when_rechained(
    transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    lines = split_lines(transcript)
    _assert(
        _verify(rechain([lines[0], *lines[2:]]), public_key),
        Verdict.INVALID,
        2,
        "line 2 is not the start checkpoint",
    )


def test_lines_after_the_seal_even_when_rechained_and_signed(
    signer: Signer, transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    lines = split_lines(transcript)
    forged = rechain([*lines, lines[4], lines[-1]], resign=signer.sign)
    _assert(_verify(forged, public_key), Verdict.INVALID, 14, "a line after the seal (sealed at")
    forged = rechain([*lines, lines[-1]], resign=signer.sign)
    _assert(_verify(forged, public_key), Verdict.INVALID, 14, "a second seal")


def test_bytes_after_the_seal(transcript: bytes, public_key: Ed25519PublicKey) -> None:
    _assert(_verify(transcript + b"{", public_key), Verdict.INVALID, 14, "bytes after the seal")


def test_transcript_signed_by_another_key(
    other_signer: Signer, public_key: Ed25519PublicKey
) -> None:
    report = _verify(build_transcript(other_signer, sample_events()), public_key)
    _assert(report, Verdict.INVALID, 1, f"names signing key {other_signer.key_id}, not the given")
    assert report.attested_through == 0


def test_checkpoint_resigned_by_another_key(
    other_signer: Signer, transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    lines = split_lines(transcript)
    lines[7] = lines[7].replace(b"line 4:", b"line 5:")
    report = _verify(rechain(lines, resign=other_signer.sign), public_key)
    _assert(report, Verdict.INVALID, 2, "signature does not verify with the given key")


def test_checkpoint_naming_another_key(
    other_signer: Signer, signer: Signer, transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    lines = split_lines(transcript)
    lines[5] = lines[5].replace(signer.key_id.encode(), other_signer.key_id.encode())
    report = _verify(rechain(lines, resign=other_signer.sign), public_key)
    _assert(report, Verdict.INVALID, 2, "signature does not verify")
    unsigned = {k: v for k, v in decode(lines[5]).items() if k != "sig"}
    checkpoint = fmt.sign_line(fmt.encode_line(unsigned), other_signer.sign)
    report = _verify(_with_line(transcript, 6, checkpoint), public_key)
    _assert(report, Verdict.INVALID, 6, f"the checkpoint names key {other_signer.key_id},")


def test_seal_totals_that_disagree(
    signer: Signer, transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    seal = decode(split_lines(transcript)[-1])
    del seal["sig"]
    seal["totals"]["events"]["output"] = 7
    forged = _with_line(transcript, TOTAL, fmt.sign_line(fmt.encode_line(seal), signer.sign))
    _assert(_verify(forged, public_key), Verdict.INVALID, TOTAL, "the seal totals")
    seal["totals"]["events"]["output"] = 6
    seal["totals"]["lines"] = True  # JSON true is not the number 1
    forged = _with_line(transcript, TOTAL, fmt.sign_line(fmt.encode_line(seal), signer.sign))
    _assert(_verify(forged, public_key), Verdict.INVALID, TOTAL, "the seal totals")


def test_non_canonical_signature_encoding(transcript: bytes, public_key: Ed25519PublicKey) -> None:
    seal = split_lines(transcript)[-1]
    at = len(seal) - 6  # the last base64 digit before "==": its low 4 bits are padding
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = alphabet[alphabet.index(seal[at]) ^ 1]
    forged = seal[:at] + bytes([twin]) + seal[at + 1 :]
    assert base64.b64decode(forged[-91:-3]) == base64.b64decode(seal[-91:-3])
    report = _verify(_with_line(transcript, TOTAL, forged), public_key)
    _assert(report, Verdict.INVALID, TOTAL, "canonical base64")


@pytest.mark.parametrize(
    ("mutate", "what"),
    [
        (lambda line: line.replace(b"\n", b"\r\n"), "carriage return"),
        (lambda line: line.replace(b'"seq":4,', b'"seq":4,"seq":4,'), "has the key 'seq' twice"),
        (lambda line: line.replace(b'"t":1714564800.0', b'"t":NaN'), "contains NaN"),
        (lambda line: line.replace(b'"t":1714564800.0', b'"t":-Infinity'), "contains -Infinity"),
        (lambda line: line.replace(b"patient", b"pat\xc3ient"), "not valid UTF-8"),
        (lambda line: b"\xef\xbb\xbf" + line, "byte-order mark"),
        (lambda line: line.replace(b"}}\n", b"}} \n"), "surrounding whitespace"),
        (lambda line: line.replace(b'"type":"output"', b'"type":"Output"'), "unknown line type"),
        (lambda line: line.replace(b'"type":"output"', b'"type":"header"'), "unknown line type"),
        (lambda line: line.replace(b'"t":1714564800.0', b'"t":"now"'), "t is not a number"),
        (lambda line: line.replace(b'"data":{', b'"extra":1,"data":{'), "unexpected fields"),
        (lambda line: line[:-1], "not valid JSON"),
    ],
)
def test_strict_parsing_after_the_header_is_invalid(
    transcript: bytes, public_key: Ed25519PublicKey, mutate: Any, what: str
) -> None:
    lines = split_lines(transcript)
    lines[3] = mutate(lines[3])
    if what == "not valid JSON":  # a line split in two by an inserted newline
        lines[3] += b"}\n"
    _assert(_verify(b"".join(lines), public_key), Verdict.INVALID, 4, what)


def test_added_field_inside_data_breaks_the_chain(
    transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    forged = _with_line(transcript, 4, split_lines(transcript)[3].replace(b',"f', b',"x":1,"f'))
    _assert(_verify(forged, public_key), Verdict.INVALID, 5, "prev is not the SHA-256 of line 4")


@pytest.mark.parametrize(
    "payload", [b'{"n":' + b"9" * 5000 + b"}", b'{"n":' + b"[" * 100_000 + b"]" * 100_000 + b"}"]
)
def test_hostile_json_is_invalid_not_a_crash(
    transcript: bytes, public_key: Ed25519PublicKey, payload: bytes
) -> None:
    line = split_lines(transcript)[3]
    line = line[: line.index(b'"data":') + 7] + payload + b"}\n"
    _assert(_verify(_with_line(transcript, 4, line), public_key), Verdict.INVALID, 4, "JSON")


def test_event_data_must_be_an_object(signer: Signer, public_key: Ed25519PublicKey) -> None:
    lines = split_lines(build_transcript(signer, sample_events(1)))
    event = decode(lines[2])
    event["data"] = [1]
    lines[2] = encode(event)
    _assert(_verify(rechain(lines), public_key), Verdict.INVALID, 3, "data is not an object")


# --- MISMATCH: valid, but not the expected session ---------------------------------------


def test_matching_expectations_are_valid(
    signer: Signer, transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    report = _verify(
        transcript,
        public_key,
        repo="org/repo",
        run_id="4242",
        policy_sha256="sha256:" + "AB" * 32,
        key_fingerprint=signer.key_id.removeprefix("SHA256:"),
    )
    _assert(report, Verdict.VALID)
    assert [c.name for c in report.checks if c.name.startswith("expect.")] == [
        "expect.repo",
        "expect.run_id",
        "expect.policy_sha256",
        "expect.key_fingerprint",
    ]


@pytest.mark.parametrize(
    ("expect", "what"),
    [
        ({"repo": "org/other"}, "expected ci.repository 'org/other', found 'org/repo'"),
        ({"run_id": "1"}, "expected ci.run_id '1', found '4242'"),
        ({"policy_sha256": "cd" * 32}, "expected policy.sha256"),
        ({"key_fingerprint": "SHA256:nope"}, "expected key fingerprint 'SHA256:nope'"),
        ({"session_id": "sess-0002"}, "expected session_id 'sess-0002', found 'sess-0001'"),
        ({"run_attempt": "2"}, "expected ci.run_attempt '2', found '1'"),
    ],
)
def test_expectations_that_differ_are_a_mismatch(
    transcript: bytes, public_key: Ed25519PublicKey, expect: dict[str, str], what: str
) -> None:
    report = _verify(transcript, public_key, **expect)
    _assert(report, Verdict.MISMATCH)
    assert report.exit_code == 6 and what in report.reason
    assert report.first_break is None and report.attested_through == TOTAL


def test_numeric_run_id_and_missing_ci(signer: Signer, public_key: Ed25519PublicKey) -> None:
    numeric = {**HEADER, "ci": {"repository": "org/repo", "run_id": 4242}}
    assert _verify(build_transcript(signer, header=numeric), public_key, run_id="4242").verdict is (
        Verdict.VALID
    )
    local = {**HEADER, "ci": None}
    report = _verify(build_transcript(signer, header=local), public_key, repo="org/repo")
    _assert(report, Verdict.MISMATCH)
    assert "found absent" in report.reason


def test_incomplete_stays_incomplete_with_expectations_recorded(
    transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    report = _verify(b"".join(split_lines(transcript)[:5]), public_key, repo="org/other")
    _assert(report, Verdict.INCOMPLETE)
    assert [c.status for c in report.checks if c.name == "expect.repo"] == ["fail"]


def test_session_and_attempt_expectations_hold(
    transcript: bytes, public_key: Ed25519PublicKey
) -> None:
    report = _verify(transcript, public_key, session_id="sess-0001", run_attempt="1")
    _assert(report, Verdict.VALID)
    assert [c.name for c in report.checks if c.name.startswith("expect.")] == [
        "expect.session_id",
        "expect.run_attempt",
    ]


# --- hostile content is a verdict, never a crash -------------------------------------------


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" * 400 + b".0"])
def test_numbers_too_large_for_a_float_are_rejected(
    transcript: bytes, public_key: Ed25519PublicKey, number: bytes
) -> None:
    header = split_lines(transcript)[0].replace(b'"t":1714564800.0', b'"t":' + number, 1)
    report = _verify(_with_line(transcript, 1, header), public_key)
    _assert(report, Verdict.MALFORMED, 1, "too large for a float")
    lines = split_lines(transcript)
    event = lines[3]
    event = event[: event.index(b'"data":') + 7] + b'{"x":' + number + b"}}\n"
    report = _verify(_with_line(transcript, 4, event), public_key)
    _assert(report, Verdict.INVALID, 4, "too large for a float")
    assert json.dumps(report.to_dict(), allow_nan=False)


def _unsigned_event(data: bytes, kind: str, payload: dict[str, Any]) -> bytes:
    """An event chained after the last line, as anyone with write access can add it."""
    last = split_lines(data)[-1]
    seq = data.count(b"\n") + 1
    event = {
        "seq": seq,
        "prev": hashlib.sha256(last).hexdigest(),
        "t": 1.0,
        "type": kind,
        "data": payload,
    }
    return data + fmt.encode_line(event) + b"\n"


def test_an_approval_event_the_checker_cannot_read_is_invalid_not_a_crash(
    signer: Signer, public_key: Ed25519PublicKey
) -> None:
    data = build_transcript(signer, sample_events(1), seal=False)
    refused = {"request_id": "r1", "received_at": 1.0, "accepted": False, "refused": "late"}
    data = _unsigned_event(data, "approval.decision", refused)
    request = {
        "format": "hgate-approval-request/1",
        "id": "abcdef0123456789",
        "session_id": "sess-0001",
        "issuer": "i",
        "subject": "s",
        "source": "shell",
        "action": "\ud800",  # a lone surrogate: UTF-8 cannot encode it
        "rule": "r",
        "reason": "",
        "created_at": "2024-05-01T12:00:00+00:00",
        "expires_at": "2024-05-01T13:00:00+00:00",
        "required": 1,
        "approvers": [],
        "policy_sha256": "ab" * 32,
    }
    data = _unsigned_event(data, "approval.request", {"request": request, "sha256": "0" * 64})
    report = _verify(data, public_key)
    line = data.count(b"\n")
    _assert(report, Verdict.INVALID, line, "an approval event hgate never writes")
    assert report.checks[-1].name == "approvals" and report.checks[-1].status == "fail"
    assert "UnicodeEncodeError" in report.reason
