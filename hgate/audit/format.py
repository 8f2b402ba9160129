"""The transcript wire format (docs/transcript.md), shared by the writer and the verifier.

Writer side: compact deterministic JSON, and how a line is signed. Verifier side: the
strict line parser, which rejects rather than normalises anything the writer never emits
(a BOM, CR, invalid UTF-8, duplicate keys, NaN/Infinity, surrounding whitespace).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from typing import Any, NoReturn

FORMAT_NAME = "hgate-transcript"
FORMAT_VERSION = 1
HASH_ALG = "sha256"
SIG_ALG = "ed25519"
GENESIS_PREV = "0" * 64
SIGN_DOMAIN = b"hgate-transcript/1\n"
"""Prefix of every signed message, so a transcript signature can mean nothing else."""

HEADER, CHECKPOINT, SEAL = "header", "checkpoint", "seal"
RESERVED_TYPES = frozenset({HEADER, CHECKPOINT, SEAL})
EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}\Z")
SESSION_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")
NONCE_RE = re.compile(r"[0-9a-f]{32}\Z")

_SIG_B64_LEN = 88  # 64 signature bytes in padded standard base64
_SIG_OPEN = b',"sig":"'
_SIG_SUFFIX_RE = re.compile(rb',"sig":"([A-Za-z0-9+/]{86}==)"\}\n\Z')
_BOM = b"\xef\xbb\xbf"
_MEMBER_NAMES = frozenset(
    [
        "seq",
        "prev",
        "t",
        "type",
        "data",
        "key_id",
        "sig",
        "nonce",
        "format",
        "version",
        "hash",
        "sig_alg",
        "session_id",
        "exit_code",
        "reason",
        "ended_at",
        "totals",
        "extra",
    ]
)
"""Member names a message may repeat; any other name is the file's text, not echoed."""

_compact = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=True
)
_compact_ascii = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), allow_nan=False, check_circular=True
)


def encode_line(obj: dict[str, Any]) -> bytes:
    """One JSON object as UTF-8 bytes, without the newline.

    Non-ASCII text is written literally; only a string holding a lone surrogate (which
    UTF-8 cannot encode) makes the whole line fall back to \\u escapes. Raises
    TypeError/ValueError for values JSON cannot hold (including NaN and Infinity).
    """
    text = _compact.encode(obj)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _compact_ascii.encode(obj).encode("ascii")


def sign_line(unsigned: bytes, sign: Callable[[bytes], bytes]) -> bytes:
    """Append the `sig` member to an encoded object: sig = Ed25519(SIGN_DOMAIN + unsigned)."""
    signature = base64.b64encode(sign(SIGN_DOMAIN + unsigned))
    return unsigned[:-1] + _SIG_OPEN + signature + b'"}\n'


def split_signature(line: bytes) -> tuple[bytes, bytes] | None:
    """(signed message, signature) for a line ending in the `sig` member, else None.

    The message is SIGN_DOMAIN + the line with `,"sig":"…"` and the newline removed,
    taken from the raw bytes. The base64 must be canonical, so no two spellings of one
    signature exist.
    """
    match = _SIG_SUFFIX_RE.search(line)
    if match is None:
        return None
    encoded = match.group(1)
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return None
    if base64.b64encode(signature) != encoded:
        return None
    return SIGN_DOMAIN + line[: match.start()] + b"}", signature


class LineError(ValueError):
    """A line is not strict JSON as the writer emits it; the message says why."""


def parse_line(raw: bytes) -> dict[str, Any]:
    """Parse one line (with its b"\\n") strictly into a JSON object."""
    body = raw[:-1] if raw.endswith(b"\n") else raw
    if body.startswith(_BOM):
        raise LineError("starts with a UTF-8 byte-order mark")
    if b"\r" in body:
        raise LineError("contains a carriage return (CRLF line ending?)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(f"is not valid UTF-8 (byte {exc.start})") from exc
    if not (text.startswith("{") and text.endswith("}")):
        raise LineError("is not a single JSON object without surrounding whitespace")
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except LineError:
        raise
    except json.JSONDecodeError as exc:
        raise LineError(f"is not valid JSON ({exc.msg} at column {exc.colno})") from exc
    except (ValueError, RecursionError) as exc:  # huge integers, absurd nesting
        raise LineError(f"is not JSON this verifier can read ({type(exc).__name__})") from exc
    if not isinstance(obj, dict):
        raise LineError("is not a JSON object")
    return obj


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            shown = f"the key {key!r}" if key in _MEMBER_NAMES else "a key"
            raise LineError(f"has {shown} twice")
        obj[key] = value
    return obj


def _no_constant(name: str) -> NoReturn:
    raise LineError(f"contains {name}, which is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent; one too large for a float (1e400) would
    become Infinity, which the writer never emits and JSON cannot hold."""
    value = float(text)
    if not math.isfinite(value):  # the digits are the file's: not echoed
        raise LineError(f"contains a number of {len(text)} characters, too large for a float")
    return value
