"""The SSH backend: a fresh Ed25519 key pair and a CA-signed user certificate per session.

The agent gets a private directory (mode 0700) holding the identity, its certificate, a
strict known_hosts and an ssh_config that uses only them, and the variables that point
there (`ssh -F "$HGATE_SSH_CONFIG" host`). The directory is deleted when the session
ends; the certificate expires by itself with the session (plus a little clock skew). A
directory a killed hgate left is removed by `hgate creds gc` (`ssh_directories`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    SSHCertPrivateKeyTypes,
)

from hgate.creds.interface import (
    CredentialBackend,
    CredentialBackendError,
    IssuedCredential,
    Revocation,
    RevocationError,
    Secret,
    SessionTerms,
)
from hgate.creds.ssh_ca import sign_user_certificate
from hgate.policy.grants import SshGrant

IDENTITY = "id_ed25519"
CERTIFICATE = "id_ed25519-cert.pub"
KNOWN_HOSTS = "known_hosts"
SSH_CONFIG = "ssh_config"
DIRECTORY_PREFIX = "hgate-ssh-"  # `hgate creds gc` finds a dead session's directory by it


class SshBackend(CredentialBackend):
    """Signs with the CA key hgate holds; the agent only ever sees its own session key."""

    name = "ssh"

    def __init__(
        self,
        grant: SshGrant,
        ca_key: SSHCertPrivateKeyTypes,
        *,
        clock: Callable[[], float] = time.time,
        parent: Path | None = None,
        owner: int | None = None,
    ) -> None:
        """`owner`: the uid the agent runs as when it is not hgate's (`--agent-user`); the
        directory and its files become that user's, or ssh could not read them."""
        self._grant = grant
        self._ca_key = ca_key
        self._clock = clock
        self._parent = parent
        self._owner = owner

    def issue(self, terms: SessionTerms) -> IssuedCredential:
        key = ed25519.Ed25519PrivateKey.generate()
        certificate, facts = sign_user_certificate(
            self._grant, key.public_key(), self._ca_key, terms, now=self._clock()
        )
        private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
        public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
        seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        body = "".join(line for line in private.splitlines() if not line.startswith("-----"))
        secrets = (
            Secret(kind="SSH_PRIVATE_KEY", value=private),
            Secret(kind="SSH_PRIVATE_KEY", value=body),
            Secret(kind="SSH_PRIVATE_KEY", value=base64.b64encode(seed).decode()),
            Secret(kind="SSH_PRIVATE_KEY", value=seed.hex()),
        )
        try:
            directory = Path(tempfile.mkdtemp(prefix=DIRECTORY_PREFIX, dir=self._parent))
        except OSError as exc:
            raise CredentialBackendError(
                f"cannot create the SSH credential directory: {exc.strerror}"
            ) from exc
        try:
            directory.chmod(0o700)
            _write(directory / IDENTITY, private, 0o600)
            _write(directory / f"{IDENTITY}.pub", public + " hgate-session\n", 0o644)
            cert_line = certificate.public_bytes().decode() + " hgate-session\n"
            _write(directory / CERTIFICATE, cert_line, 0o644)
            _write(directory / KNOWN_HOSTS, known_hosts(self._grant), 0o644)
            _write(directory / SSH_CONFIG, ssh_config(self._grant, directory, terms), 0o644)
            if self._owner is not None:
                for path in (directory, *directory.iterdir()):
                    os.chown(path, self._owner, -1, follow_symlinks=False)
        except BaseException as exc:
            shutil.rmtree(directory, ignore_errors=True)
            if isinstance(exc, OSError):
                raise CredentialBackendError(
                    f"cannot write the SSH credential files: {exc.strerror}"
                ) from exc
            raise
        config = str(directory / SSH_CONFIG)
        return IssuedCredential(
            backend=self.name,
            handle=str(directory),
            environment={
                "HGATE_SSH_DIR": str(directory),
                "HGATE_SSH_CONFIG": config,
                "GIT_SSH_COMMAND": f"ssh -F {shlex.quote(config)}",
            },
            secrets=secrets,
            record={
                **facts.to_dict(),
                "user": self._grant.user,
                "hosts": [f"{h.host}:{h.port}" for h in self._grant.hosts],
                "directory": str(directory),
            },
        )

    def revoke(self, issued: IssuedCredential) -> Revocation:
        directory = Path(issued.handle)
        if not directory.exists():
            return Revocation(backend=self.name, handle=issued.handle, record={"state": "absent"})
        scrub_identity(directory)
        try:
            shutil.rmtree(directory)
        except OSError as exc:
            raise RevocationError(
                f"cannot delete the SSH credential directory {directory}: {exc.strerror or exc}"
            ) from exc
        return Revocation(
            backend=self.name,
            handle=issued.handle,
            record={"state": "deleted", "directory": str(directory)},
        )


def scrub_identity(directory: Path) -> None:
    """Overwrite the private key in place before the directory is deleted.

    The agent can write to the directory, so what is there now is untrusted: the key may
    have been swapped for a symlink (hgate would zero the file it points to), a FIFO
    (opening it would block revocation for good) or a hard link to another file. Only
    the regular, singly-linked file named IDENTITY inside the real directory is touched;
    anything else is left for rmtree, which unlinks without following links.
    """
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | flags)
    except OSError:
        return
    try:
        fd = os.open(IDENTITY, os.O_WRONLY | os.O_NONBLOCK | flags, dir_fd=dir_fd)
    except OSError:
        return
    finally:
        os.close(dir_fd)
    with contextlib.suppress(OSError), os.fdopen(fd, "wb", buffering=0) as handle:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
            handle.write(b"\0" * info.st_size)
            os.fsync(fd)


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def known_hosts(grant: SshGrant) -> str:
    """Pinned host keys per host (and the host CA, if any): nothing else is trusted."""
    lines = [f"{_pattern(h.host, h.port)} {key}" for h in grant.hosts for key in h.host_keys]
    if grant.host_ca is not None:
        patterns = ",".join(_pattern(h.host, h.port) for h in grant.hosts)
        lines.append(f"@cert-authority {patterns} {grant.host_ca}")
    return "\n".join(lines) + "\n"


def ssh_config(grant: SshGrant, directory: Path, terms: SessionTerms) -> str:
    """One Host block per granted host; no agent, no forwarding, no password prompts."""

    def quoted(name: str) -> str:
        return '"' + str(directory / name) + '"'

    forwarding = "permit-port-forwarding" in grant.extensions
    lines = [f"# written by hgate for session {terms.session_id}; deleted when it ends"]
    for host in grant.hosts:
        lines += [
            f"Host {host.host}",
            f"    Port {host.port}",
            f"    User {grant.user}",
            f"    IdentityFile {quoted(IDENTITY)}",
            f"    CertificateFile {quoted(CERTIFICATE)}",
            "    IdentitiesOnly yes",
            "    IdentityAgent none",
            "    PreferredAuthentications publickey",
            "    PasswordAuthentication no",
            "    KbdInteractiveAuthentication no",
            f"    UserKnownHostsFile {quoted(KNOWN_HOSTS)}",
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking yes",
            "    UpdateHostKeys no",
            "    ForwardAgent no",
            "    ForwardX11 no",
            f"    ClearAllForwardings {'no' if forwarding else 'yes'}",
            "    ControlMaster no",
            "    ControlPath none",
            "    BatchMode yes",
        ]
    return "\n".join(lines) + "\n"
