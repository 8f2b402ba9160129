"""A cache of compiled Hyperscan databases, so a session starts in milliseconds, not 300 ms.

Compiling the detectors' patterns is the largest part of hgate's start-up. The compiled
database depends only on the patterns, their flags and the Hyperscan version, so it is
cached under a name derived from exactly those. A cached database decides what gets
masked, so it is trusted only with a valid MAC: the key is derived from hgate's signing
key by the caller; whoever could forge the cache could already forge transcripts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

_MAC_SIZE = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledCache:
    directory: Path
    key: bytes = field(repr=False)

    def fingerprint(self, description: object) -> str:
        """A name for a database built from `description` (patterns, flags, version)."""
        text = json.dumps(description, sort_keys=True, separators=(",", ":"))
        owner = hashlib.sha256(b"owner\0" + self.key).hexdigest()[:8]  # one file per key
        return owner + "-" + hashlib.sha256(text.encode()).hexdigest()[:40]

    def load(self, fingerprint: str) -> bytes | None:
        """The cached bytes, or None when absent, unreadable or not authentic."""
        try:
            data = (self.directory / f"hs-{fingerprint}.db").read_bytes()
        except OSError:
            return None
        mac, body = data[:_MAC_SIZE], data[_MAC_SIZE:]
        if len(mac) != _MAC_SIZE or not hmac.compare_digest(mac, self._mac(fingerprint, body)):
            return None
        return body

    def store(self, fingerprint: str, body: bytes) -> None:
        """Best effort: a cache that cannot be written only costs the next start-up time."""
        target = self.directory / f"hs-{fingerprint}.db"
        temporary = target.with_suffix(f".tmp{os.getpid()}")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            temporary.write_bytes(self._mac(fingerprint, body) + body)
            temporary.chmod(0o600)
            temporary.replace(target)
        except OSError:
            temporary.unlink(missing_ok=True)

    def _mac(self, fingerprint: str, body: bytes) -> bytes:
        return hmac.new(self.key, fingerprint.encode() + b"\0" + body, hashlib.sha256).digest()
