"""Ed25519 signing keys for transcripts: generation, loading, and the key id.

The key id is the OpenSSH fingerprint (`SHA256:<unpadded base64>` of the public key's
wire blob), so an auditor can cross-check it with `ssh-keygen -lf hgate.pub`. Error
messages name the file and the problem, never the key material.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hgate.errors import ConfigError
from hgate.regular_files import NotRegularFile, open_regular

PRIVATE_KEY_NAME = "hgate.key"
PUBLIC_KEY_NAME = "hgate.pub"
KEY_COMMENT = "hgate"
_KEYGEN_HINT = "create one with `hgate keygen`"
_MAX_KEY_BYTES = 64 * 1024  # an OpenSSH or PEM Ed25519 key is under 1 KiB


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPaths:
    """Where `generate_keypair` wrote the pair, and its key id."""

    private_key: Path
    public_key: Path
    fingerprint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """An Ed25519 private key with its key id; its repr never shows the key."""

    private_key: Ed25519PrivateKey = field(repr=False)
    key_id: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """`SHA256:` + unpadded base64 of SHA-256 over the OpenSSH wire blob (as ssh-keygen -l)."""
    line = public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = base64.b64decode(line.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return f"SHA256:{digest}"


def signer_from_private_key(private_key: Ed25519PrivateKey) -> Signer:
    return Signer(private_key=private_key, key_id=key_fingerprint(private_key.public_key()))


def default_key_dir() -> Path:
    """$HGATE_HOME if set, else ~/.config/hgate (read at call time, not import time)."""
    home = os.environ.get("HGATE_HOME")
    if home:
        return Path(home).expanduser()
    return Path.home() / ".config" / "hgate"


def generate_keypair(directory: Path, *, overwrite: bool = False) -> KeyPaths:
    """Write `hgate.key` (PKCS#8 PEM, 0600) and `hgate.pub` (OpenSSH line) into `directory`."""
    private_path = directory / PRIVATE_KEY_NAME
    public_path = directory / PUBLIC_KEY_NAME
    if not overwrite:
        for path in (private_path, public_path):
            if path.exists():
                raise ConfigError(
                    f"{path} already exists; refusing to overwrite a signing key",
                    remedy="pass --force to replace it, or choose another directory",
                )
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_line = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    try:
        _make_private_dir(directory)
        _write_atomically(private_path, pem, 0o600)
        _write_atomically(public_path, public_line + b" " + KEY_COMMENT.encode() + b"\n", 0o644)
    except OSError as exc:
        raise ConfigError(
            f"cannot write signing keys to {directory}: {exc.strerror or exc}",
            remedy="choose a writable directory with --out or $HGATE_HOME",
        ) from exc
    fingerprint = key_fingerprint(private_key.public_key())
    return KeyPaths(private_key=private_path, public_key=public_path, fingerprint=fingerprint)


def _make_private_dir(directory: Path) -> None:
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask


def _write_atomically(path: Path, content: bytes, mode: int) -> None:
    """Write a temporary file with the final mode, fsync it, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, content)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)


def load_signer(path: Path) -> Signer:
    """Load the private signing key at `path` (PKCS#8 PEM or OpenSSH private key)."""
    return load_signer_pem(_read_key_file(path, "signing key", _KEYGEN_HINT), source=str(path))


def load_signer_pem(pem: bytes, *, source: str = "HGATE_SIGNING_KEY") -> Signer:
    """Load a private key given as bytes, e.g. from $HGATE_SIGNING_KEY; `source` names it."""
    try:
        if pem.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            key: object = serialization.load_ssh_private_key(pem, password=None)
        else:
            key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as exc:
        raise ConfigError(
            f"signing key {source} is encrypted; hgate needs an unencrypted key",
            remedy="store it unencrypted with mode 0600, or create one with `hgate keygen`",
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            f"signing key {source} is not a readable PEM or OpenSSH private key",
            remedy=_KEYGEN_HINT,
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"signing key {source} is a {_kind(key)} key; transcripts are signed with Ed25519",
            remedy=_KEYGEN_HINT,
        )
    return signer_from_private_key(key)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load a verification key in OpenSSH (`ssh-ed25519 AAAA...`) or PEM form."""
    data = _read_key_file(path, "public key", "pass the signer's hgate.pub with --key")
    stripped = data.strip()
    try:
        if stripped.startswith(b"ssh-"):
            key: object = serialization.load_ssh_public_key(stripped.splitlines()[0])
        elif b"PRIVATE KEY-----" in stripped:
            raise ConfigError(
                f"{path} is a private key; verification needs only the public key",
                remedy="pass the public key file (hgate.pub) with --key",
            )
        else:
            key = serialization.load_pem_public_key(stripped)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            f"public key {path} is neither an OpenSSH public key line nor a PEM public key",
            remedy="pass the hgate.pub written by `hgate keygen`",
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(
            f"public key {path} is a {_kind(key)} key; transcripts are signed with Ed25519",
            remedy="pass the Ed25519 hgate.pub written by `hgate keygen`",
        )
    return key


def ensure_local_signer(directory: Path | None = None) -> tuple[Signer, bool]:
    """Load `hgate.key` from `directory` (default: `default_key_dir()`), creating it if absent.

    Returns the signer and whether the pair was just created.
    """
    directory = default_key_dir() if directory is None else directory
    private_path = directory / PRIVATE_KEY_NAME
    if not private_path.exists():
        generate_keypair(directory)
        return load_signer(private_path), True
    mode = private_path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"signing key {private_path} can be read by others (mode {mode:04o})",
            remedy=f"chmod 600 {private_path}",
        )
    signer = load_signer(private_path)
    public_path = directory / PUBLIC_KEY_NAME
    if public_path.exists() and key_fingerprint(load_public_key(public_path)) != signer.key_id:
        # the run would print `verify with: --key hgate.pub`, and that verify would fail
        raise ConfigError(
            f"{public_path} is not the public half of {private_path}",
            remedy="restore the matching pair, or move both away and let hgate create one",
        )
    return signer, False


def _read_key_file(path: Path, what: str, remedy: str) -> bytes:
    """The key file's bytes; only a regular file of at most _MAX_KEY_BYTES is read, so a
    FIFO or /dev/zero passed as the key cannot hang or exhaust the verifier."""
    try:
        with open_regular(path) as handle:
            data = handle.read(_MAX_KEY_BYTES + 1)
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} does not exist", remedy=remedy) from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{what} {path} is a directory, not a key file") from exc
    except NotRegularFile as exc:
        kind = "a directory" if stat.S_ISDIR(exc.mode) else "not a regular file"
        raise ConfigError(f"{what} {path} is {kind}, not a key file", remedy=remedy) from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read {what} {path}: {exc.strerror or exc}",
            remedy="check the file's permissions",
        ) from exc
    if len(data) > _MAX_KEY_BYTES:
        raise ConfigError(f"{what} {path} is larger than {_MAX_KEY_BYTES} bytes, not a key file")
    return data


def _kind(key: object) -> str:
    name = type(key).__name__
    for suffix in ("PrivateKey", "PublicKey"):
        name = name.removesuffix(suffix)
    return name.lstrip("_") or "unknown"
