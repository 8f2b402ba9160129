"""SSH key directories a dead hgate left behind, and their garbage collection.

hgate deletes its `hgate-ssh-*` directory when the session ends, but a SIGKILLed hgate
cannot: the private key stays in the temp dir (`$RUNNER_TEMP`, else the system's) until
the runner is wiped. `hgate creds gc` removes those whose certificate has expired: the
certificate's `valid_before` is the session's end, so an expired one belongs to a
session that is over. Each directory is judged without following a link: a temp dir is
shared, and what sits in it (or what an agent put in its own directory) is untrusted.
A session run with `--agent-user` leaves a directory owned by the agent's user (ssh reads
the key as that user): it is collected only when that user is named, never by default.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import SSHCertificate, load_ssh_public_identity

from hgate.creds.ssh import CERTIFICATE, DIRECTORY_PREFIX, scrub_identity

MAX_CERTIFICATE_BYTES = 64 * 1024  # a certificate is a few hundred bytes; more is not one
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class SshGcReport:
    """What a sweep found; `expired` holds each removed (or, dry, removable) directory."""

    expired: tuple[tuple[str, datetime], ...] = ()
    active: tuple[tuple[str, datetime], ...] = ()  # certificate still valid: kept
    unreadable: tuple[tuple[str, str], ...] = ()  # no usable certificate: kept, with why
    failed: tuple[tuple[str, str], ...] = ()  # expired, but could not be removed
    other_users: int = 0  # directories of users not asked for: not looked into


def ssh_directory_roots(env: Mapping[str, str]) -> tuple[Path, ...]:
    """Where `SshBackend` makes its directories: `$RUNNER_TEMP` (when it is a directory)
    and the system temp dir; each once."""
    candidates = [env.get("RUNNER_TEMP", ""), tempfile.gettempdir()]
    roots: dict[str, Path] = {}
    for candidate in candidates:
        if candidate and os.path.isdir(candidate):
            roots.setdefault(os.path.realpath(candidate), Path(candidate))
    return tuple(roots.values())


def collect_ssh_garbage(
    roots: Iterable[Path],
    *,
    now: datetime,
    dry_run: bool = False,
    owners: Collection[int] | None = None,
) -> SshGcReport:
    """Remove each `hgate-ssh-*` directory directly in `roots` that is a real directory
    (not a link), owned by one of `owners` (default: this process's user) and holding a
    certificate that expired before `now`. Others are left alone; those of `owners` are
    reported, those of other users only counted."""
    owned = frozenset((os.getuid(),) if owners is None else owners)
    other_users = 0
    expired: list[tuple[str, datetime]] = []
    active: list[tuple[str, datetime]] = []
    unreadable: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for root in roots:
        try:
            names = sorted(n for n in os.listdir(root) if n.startswith(DIRECTORY_PREFIX))
        except OSError as exc:
            failed.append((str(root), f"cannot list it: {exc.strerror or exc}"))
            continue
        for name in names:
            path = root / name
            try:
                info = os.lstat(path)
            except OSError:
                continue  # gone meanwhile
            if not stat.S_ISDIR(info.st_mode):
                continue  # a link or a file: never ours to touch
            if info.st_uid not in owned:
                other_users += 1  # another user's: not ours unless that user is named
                continue
            try:
                ends = certificate_end(path, info)
            except ValueError as exc:
                unreadable.append((str(path), str(exc)))
                continue
            if ends > now:
                active.append((str(path), ends))
                continue
            if not dry_run:
                try:
                    _remove(path)
                except OSError as exc:
                    failed.append((str(path), exc.strerror or str(exc)))
                    continue
            expired.append((str(path), ends))
    return SshGcReport(
        expired=tuple(expired),
        active=tuple(active),
        unreadable=tuple(unreadable),
        failed=tuple(failed),
        other_users=other_users,
    )


def certificate_end(directory: Path, expected: os.stat_result) -> datetime:
    """The `valid_before` of the certificate in `directory`, read without following a
    link (the directory itself included: it must still be the one `expected` describes).
    ValueError, with the reason, when there is no such regular file or it is no cert."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    except OSError as exc:
        raise ValueError(f"cannot open the directory: {exc.strerror or exc}") from None
    try:
        now_info = os.fstat(dir_fd)
        if (now_info.st_dev, now_info.st_ino) != (expected.st_dev, expected.st_ino):
            raise ValueError("the directory was replaced while it was read")
        try:
            fd = os.open(CERTIFICATE, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=dir_fd)
        except OSError as exc:
            raise ValueError(f"{CERTIFICATE}: {exc.strerror or exc}") from None
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{CERTIFICATE} is not a regular file")
        data = handle.read(MAX_CERTIFICATE_BYTES + 1)
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise ValueError(f"{CERTIFICATE} is too large to be a certificate")
    try:
        certificate = load_ssh_public_identity(data.strip())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{CERTIFICATE} is not an OpenSSH certificate") from exc
    if not isinstance(certificate, SSHCertificate):
        raise ValueError(f"{CERTIFICATE} is a public key, not a certificate")
    try:
        return datetime.fromtimestamp(certificate.valid_before, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC)  # "forever": never an hgate certificate's end


def _remove(directory: Path) -> None:
    """The key is overwritten before the unlink, as revocation does; rmtree itself
    refuses a symlink and removes the tree without following links inside it."""
    scrub_identity(directory)
    shutil.rmtree(directory)
