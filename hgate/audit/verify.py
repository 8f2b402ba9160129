"""Offline verification of a transcript with a public key (docs/transcript.md, "Verifying").

The verifier hashes the raw bytes, parses each line strictly, and walks the chain once;
the first problem ends the walk with its line number. It never trusts a key named in
the file: the header's key id must be the given key's fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hgate.audit import format as fmt
from hgate.audit.expectations import check_expectations
from hgate.audit.keys import key_fingerprint
from hgate.audit.report import (
    Break,
    Check,
    Expectations,
    SealSummary,
    Verdict,
    VerificationReport,
)
from hgate.errors import ConfigError

__all__ = ["Expectations", "Verdict", "VerificationReport", "verify_transcript"]

_EVENT_FIELDS = frozenset({"seq", "prev", "t", "type", "data"})
_CHECKPOINT_FIELDS = frozenset({"seq", "prev", "t", "type", "key_id", "sig"})
_START_FIELDS = _CHECKPOINT_FIELDS | {"nonce"}
_SEAL_FIELDS = _CHECKPOINT_FIELDS | {"exit_code", "reason", "ended_at", "totals", "extra"}
_BOM = b"\xef\xbb\xbf"
_NO_EXPECTATIONS = Expectations()


def verify_transcript(
    source: Path | bytes,
    public_key: Ed25519PublicKey,
    expect: Expectations = _NO_EXPECTATIONS,
) -> VerificationReport:
    """Verify a transcript file (or its bytes) against `public_key`; never raises for
    anything inside the file. Raises ConfigError only if the file cannot be read."""
    return _Walk(_read(source), public_key, expect).run()


class _Stop(Exception):
    """Ends the walk: the verdict, the 1-based line, the failed check and what was wrong."""

    def __init__(self, verdict: Verdict, line: int, check: str, what: str) -> None:
        super().__init__(what)
        self.verdict, self.line, self.check, self.what = verdict, line, check, what


class _Walk:
    def __init__(self, data: bytes, key: Ed25519PublicKey, expect: Expectations) -> None:
        self.data, self.key, self.expect = data, key, expect
        self.fingerprint = key_fingerprint(key)
        self.checks: list[Check] = []
        self.header: dict[str, Any] = {}
        self.lines_total = 0
        self.attested = 0
        self.signatures = 0
        self.checkpoints = 0
        self.counts: dict[str, int] = {}
        self.seal: SealSummary | None = None
        self.approvals: list[tuple[int, str, dict[str, Any]]] = []  # approval.* events

    def run(self) -> VerificationReport:
        first_break: Break | None = None
        try:
            verdict, reason = self._walk()
        except _Stop as stop:
            self.checks.append(Check(name=stop.check, status="fail", detail=stop.what))
            verdict, reason = stop.verdict, f"line {stop.line}: {stop.what}"
            first_break = Break(line=stop.line, what=stop.what)
        identity = self.header.get("identity")
        session_id = self.header.get("session_id")
        unattested = None
        if self.lines_total > self.attested:
            unattested = (self.attested + 1, self.lines_total)
        return VerificationReport(
            verdict=verdict,
            reason=reason,
            key_fingerprint=self.fingerprint,
            session_id=session_id if isinstance(session_id, str) else None,
            identity=identity if isinstance(identity, dict) else None,
            header=self.header,
            lines_total=self.lines_total,
            attested_through=self.attested,
            unattested=unattested,
            first_break=first_break,
            checks=tuple(self.checks),
            seal=self.seal,
        )

    def _walk(self) -> tuple[Verdict, str]:
        data = self.data
        if not data:
            raise _Stop(Verdict.MALFORMED, 1, "format", "the file is empty")
        if data.startswith(_BOM):
            raise _Stop(Verdict.MALFORMED, 1, "format", "the file starts with a byte-order mark")
        self.lines_total = data.count(b"\n")
        end = data.find(b"\n")
        if end < 0:
            raise _Stop(Verdict.MALFORMED, 1, "format", "the header line is cut (no newline)")
        start, number, prev = 0, 1, ""
        while end >= 0:
            raw = data[start : end + 1]
            if number == 1:
                self._header(raw)
            else:
                self._line(number, raw, prev)
            prev = hashlib.sha256(raw).hexdigest()
            start, number = end + 1, number + 1
            end = data.find(b"\n", start)
        self.checks.append(Check(name="chain", status="pass", detail=f"{number - 1} lines"))
        self.checks.append(
            Check(name="signatures", status="pass", detail=f"{self.signatures} verified")
        )
        self._approvals()
        tail = len(data) - start
        if tail and self.seal is not None:
            raise _Stop(Verdict.INVALID, number, "seal", "bytes after the seal")
        if self.seal is None:
            return Verdict.INCOMPLETE, self._incomplete_reason(tail)
        self.checks.append(Check(name="seal", status="pass", detail=f"line {self.seal.line}"))
        results = check_expectations(self.header, self.fingerprint, self.expect)
        self.checks.extend(results)
        failed = [check.detail for check in results if check.status == "fail"]
        if failed:
            return Verdict.MISMATCH, "; ".join(failed)
        return Verdict.VALID, f"{self.lines_total} lines, chained, signed and sealed"

    def _approvals(self) -> None:
        """Each accepted approval decision re-verified with the approver keys in the header."""
        from hgate.approvals.evidence import check_approval_events  # lazily: it imports audit

        result = check_approval_events(self.header, self.approvals)
        if result is not None and result.line is not None:
            raise _Stop(Verdict.INVALID, result.line, "approvals", result.detail)
        if result is not None:
            self.checks.append(Check(name="approvals", status="pass", detail=result.detail))

    def _incomplete_reason(self, tail: int) -> str:
        self.checks.append(Check(name="seal", status="fail", detail="no seal"))
        self.checks.extend(check_expectations(self.header, self.fingerprint, self.expect))
        if self.attested == 0:
            text = "no seal and no valid start checkpoint: nothing is attested"
        else:
            text = f"no seal: lines 1-{self.attested} are attested"
            if self.lines_total > self.attested:
                text += f", lines {self.attested + 1}-{self.lines_total} are chained but unsigned"
        if tail:
            text += f"; the file ends in a cut line ({tail} bytes without a newline)"
        return text

    def _header(self, raw: bytes) -> None:
        try:
            obj = fmt.parse_line(raw)
        except fmt.LineError as exc:
            raise _Stop(Verdict.MALFORMED, 1, "format", f"the header {exc}") from exc
        self.header = obj
        problem = _header_problem(obj)
        if problem:
            raise _Stop(Verdict.MALFORMED, 1, "format", problem)
        self.checks.append(Check(name="format", status="pass", detail="hgate-transcript v1"))
        if obj["key_id"] != self.fingerprint:
            what = f"the header names signing key {_key_id(obj['key_id'])}, not the given key"
            raise _Stop(Verdict.INVALID, 1, "key", what)
        self.checks.append(Check(name="key", status="pass", detail=self.fingerprint))

    def _line(self, number: int, raw: bytes, prev: str) -> None:
        if self.seal is not None:
            what = "a second seal" if _is_seal(raw) else "a line after the seal"
            what = f"{what} (sealed at line {self.seal.line})"
            raise _Stop(Verdict.INVALID, number, "seal", what)
        try:
            obj = fmt.parse_line(raw)
        except fmt.LineError as exc:
            raise _Stop(Verdict.INVALID, number, "syntax", f"the line {exc}") from exc
        seq = obj.get("seq")
        if type(seq) is not int or seq != number:
            what = f"seq is {_shown(seq)}, expected {number}: a line was deleted, inserted or moved"
            raise _Stop(Verdict.INVALID, number, "chain", what)
        if obj.get("prev") != prev:
            what = (
                f"prev is not the SHA-256 of line {number - 1}: that line was edited, "
                "or a line was deleted, inserted or moved"
            )
            raise _Stop(Verdict.INVALID, number, "chain", what)
        t = obj.get("t")
        if type(t) not in (int, float):
            raise _Stop(Verdict.INVALID, number, "structure", "t is not a number")
        kind = obj.get("type")
        if number == 2 and (kind != fmt.CHECKPOINT or "nonce" not in obj):
            raise _Stop(Verdict.INVALID, 2, "structure", "line 2 is not the start checkpoint")
        if kind == fmt.CHECKPOINT:
            self._signed(number, raw, obj, _START_FIELDS if number == 2 else _CHECKPOINT_FIELDS)
            if number == 2 and not fmt.NONCE_RE.match(str(obj["nonce"])):
                raise _Stop(Verdict.INVALID, 2, "structure", "the nonce is not 32 hex digits")
            self.checkpoints += 1
        elif kind == fmt.SEAL:
            self._signed(number, raw, obj, _SEAL_FIELDS)
            self._seal(number, obj)
        elif isinstance(kind, str) and fmt.EVENT_TYPE_RE.match(kind) and kind != fmt.HEADER:
            _require_fields(number, obj, _EVENT_FIELDS, "event")
            if not isinstance(obj["data"], dict):
                raise _Stop(Verdict.INVALID, number, "structure", "data is not an object")
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if kind.startswith("approval."):
                self.approvals.append((number, kind, obj["data"]))
        else:
            what = f"unknown line type ({_shown(kind)})"
            raise _Stop(Verdict.INVALID, number, "structure", what)

    def _signed(self, number: int, raw: bytes, obj: dict[str, Any], fields: frozenset[str]) -> None:
        kind = obj["type"]
        _require_fields(number, obj, fields, kind)
        if obj["key_id"] != self.fingerprint:
            what = f"the {kind} names key {_key_id(obj['key_id'])}, not the given key"
            raise _Stop(Verdict.INVALID, number, "signature", what)
        parts = fmt.split_signature(raw)
        if parts is None or obj["sig"] != base64.b64encode(parts[1]).decode("ascii"):
            what = f"the {kind} signature is not the last member in canonical base64"
            raise _Stop(Verdict.INVALID, number, "signature", what)
        message, signature = parts
        try:
            self.key.verify(signature, message)
        except InvalidSignature as exc:
            what = (
                f"the {kind} signature does not verify with the given key: the line was "
                "altered, the chain before it was rewritten, or another key signed it"
            )
            raise _Stop(Verdict.INVALID, number, "signature", what) from exc
        self.attested = number
        self.signatures += 1

    def _seal(self, number: int, obj: dict[str, Any]) -> None:
        exit_code, reason, ended_at = obj["exit_code"], obj["reason"], obj["ended_at"]
        if exit_code is not None and type(exit_code) is not int:
            raise _Stop(Verdict.INVALID, number, "seal", "exit_code is not an integer or null")
        if not isinstance(reason, str) or not isinstance(ended_at, str):
            raise _Stop(Verdict.INVALID, number, "seal", "reason or ended_at is not a string")
        if not isinstance(obj["totals"], dict) or not isinstance(obj["extra"], dict):
            raise _Stop(Verdict.INVALID, number, "seal", "totals or extra is not an object")
        expected = {
            "lines": number,
            "checkpoints": self.checkpoints,
            "events": dict(sorted(self.counts.items())),
        }
        if not _same_json(obj["totals"], expected):
            what = (
                f"the seal totals disagree with the lines counted ({number} lines, "
                f"{self.checkpoints} checkpoints, {sum(self.counts.values())} events)"
            )
            raise _Stop(Verdict.INVALID, number, "totals", what)
        self.checks.append(Check(name="totals", status="pass", detail=f"{number} lines"))
        self.seal = SealSummary(
            line=number, exit_code=exit_code, reason=reason, ended_at=ended_at, totals=expected
        )


def _header_problem(obj: Mapping[str, Any]) -> str | None:
    if obj.get("type") != fmt.HEADER:
        return "line 1 is not a transcript header"
    if obj.get("format") != fmt.FORMAT_NAME:
        return f"not an hgate transcript (format {_shown(obj.get('format'))})"
    version = obj.get("version")
    if type(version) is not int or version != fmt.FORMAT_VERSION:
        return f"unsupported format version {_shown(version)}; this verifier reads version 1"
    if obj.get("hash") != fmt.HASH_ALG or obj.get("sig_alg") != fmt.SIG_ALG:
        hash_alg, sig_alg = _shown(obj.get("hash")), _shown(obj.get("sig_alg"))
        return f"unsupported algorithms hash {hash_alg}, sig_alg {sig_alg}"
    if type(obj.get("seq")) is not int or obj["seq"] != 1 or obj.get("prev") != fmt.GENESIS_PREV:
        return "the header must have seq 1 and prev of 64 zeros"
    if type(obj.get("t")) not in (int, float):
        return "the header's t is not a number"
    if not isinstance(obj.get("key_id"), str):
        return "the header has no key_id"
    session_id = obj.get("session_id")
    if not isinstance(session_id, str) or not fmt.SESSION_ID_RE.match(session_id):
        return "the header has no valid session_id"
    return None


def _require_fields(number: int, obj: Mapping[str, Any], fields: frozenset[str], kind: str) -> None:
    keys = set(obj)
    if keys != fields:
        missing, extra = sorted(fields - keys), sorted(keys - fields)
        what = f"the {kind} line has missing fields {missing} / unexpected fields {extra}"
        raise _Stop(Verdict.INVALID, number, "structure", what)


def _same_json(a: Any, b: Any) -> bool:
    """Equality that tells true from 1 (JSON types, not Python's bool-is-int)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


_KNOWN_WORDS = frozenset(
    {fmt.FORMAT_NAME, fmt.HASH_ALG, fmt.SIG_ALG, "sha512", "sha384", "ed448", "ecdsa", "rsa"}
)
_FINGERPRINT_RE = re.compile(r"SHA256:[A-Za-z0-9+/]{43}\Z")


def _shown(value: Any) -> str:
    """A value read from the file, for a message: only what the file cannot use to smuggle
    text into the auditor's output (a raw value, a flood): a small integer, one of the
    format's own words, else only its JSON type and size."""
    if type(value) is int and -1000 < value < 1000:
        return str(value)
    if isinstance(value, str) and value in _KNOWN_WORDS:
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return f"an object of {len(value)} members"
    return "a value of another type"


def _key_id(value: Any) -> str:
    """A key id from the file: shown when it has a fingerprint's form (the auditor needs to
    know which key the file names), described otherwise."""
    if isinstance(value, str) and _FINGERPRINT_RE.match(value):
        return value
    return f"{_shown(value)} (not a key fingerprint)"


def _is_seal(raw: bytes) -> bool:
    try:
        return fmt.parse_line(raw).get("type") == fmt.SEAL
    except fmt.LineError:
        return False


def _read(source: Path | bytes) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(os.fspath(source))
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"transcript {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read transcript {path}: {exc.strerror or exc}") from exc
