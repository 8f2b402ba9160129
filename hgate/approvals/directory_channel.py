"""Approvals through a shared directory (an NFS or SMB share, a mounted volume, tests).

    DIR/<request id>/request.json            written by the session (canonical JSON)
    DIR/<request id>/decisions/<sha256>.json  written by `hgate approve` / `hgate deny`
    DIR/<request id>/outcome.json            written by the session when it is settled

Every file is written to a temporary name and renamed into place, so a reader never
sees half a document. Anyone who can write here can only add decisions, and a decision
counts only with a listed approver's signature; deleting files can delay, not approve.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
import time
from collections.abc import Sequence
from pathlib import Path

from hgate.approvals.decision import SignedDecision
from hgate.approvals.interface import (
    ApprovalError,
    ApprovalOutcome,
    Channel,
    Inbox,
    Received,
)
from hgate.approvals.request import ApprovalRequest, check_request_id
from hgate.regular_files import NotRegularFile, open_regular

REQUEST_FILE = "request.json"
OUTCOME_FILE = "outcome.json"
DECISIONS_DIR = "decisions"
MAX_DOCUMENT = 64 * 1024


class DirectoryChannel(Channel, Inbox):
    """Both sides of the directory channel; `wait` is served by polling every `interval`."""

    kind = "directory"

    def __init__(self, path: Path, *, interval: float = 0.2) -> None:
        self.path = path
        self.interval = interval

    def describe(self) -> str:
        return f"directory {self.path}"

    def publish(self, request: ApprovalRequest) -> None:
        folder = self.path / request.id
        try:
            folder.mkdir()  # no parents: a missing share must fail, not become a local folder
            (folder / DECISIONS_DIR).mkdir()
            for made in (folder, folder / DECISIONS_DIR):
                _sticky(made)
            _write(folder / REQUEST_FILE, request.to_json())
        except OSError as exc:
            raise ApprovalError(
                f"cannot publish approval request in {self.path}: {exc.strerror or exc}",
                remedy="check that the approvals directory exists and is writable",
            ) from exc

    def received(self, request: ApprovalRequest, *, wait: float) -> Sequence[Received]:
        deadline = time.monotonic() + wait
        folder = self.path / request.id / DECISIONS_DIR
        while True:
            found = _read_decisions(folder)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(min(self.interval, max(0.0, deadline - time.monotonic())))

    def conclude(self, request: ApprovalRequest, outcome: ApprovalOutcome) -> None:
        with contextlib.suppress(OSError):  # the outcome is in the transcript regardless
            _write(self.path / request.id / OUTCOME_FILE, json.dumps(outcome.to_dict()).encode())

    def pending(self) -> Sequence[ApprovalRequest]:
        """Requests with no outcome yet that have not expired, oldest first.

        A directory that is missing or cannot be listed is an error, never "nothing
        pending": a mistyped share must not look like a quiet one."""
        found: list[ApprovalRequest] = []
        now = time.time()
        try:
            folders = list(self.path.iterdir())
        except OSError as exc:
            raise ApprovalError(
                f"cannot list the approvals directory {self.path}: "
                f"{exc.strerror or type(exc).__name__}",
                remedy="the shared approvals directory must exist and be readable",
            ) from None
        for folder in folders:
            if (folder / OUTCOME_FILE).exists():
                continue
            try:
                request = self.fetch(folder.name)
            except ApprovalError:
                continue
            if request.expires > now:
                found.append(request)
        return sorted(found, key=lambda r: r.created_at)

    def fetch(self, request_id: str) -> ApprovalRequest:
        folder = self.path / check_request_id(request_id)
        try:
            raw = _read_small(folder / REQUEST_FILE)
        except FileNotFoundError as exc:
            raise ApprovalError(
                f"no approval request {request_id} in {self.path}",
                remedy="check the id and the directory (`hgate approvals list`)",
            ) from exc
        except OSError as exc:
            raise ApprovalError(f"cannot read request {request_id}: {exc.strerror}") from exc
        request = ApprovalRequest.from_json(raw)
        if request.id != request_id:
            raise ApprovalError(f"{folder / REQUEST_FILE} holds request {request.id}")
        return request

    def submit(self, decision: SignedDecision) -> None:
        raw = json.dumps(decision.to_dict(), sort_keys=True).encode()
        folder = self.path / check_request_id(decision.request_id) / DECISIONS_DIR
        if folder.is_symlink() or not folder.is_dir():  # a link would send it elsewhere
            raise ApprovalError(f"no approval request {decision.request_id} in {self.path}")
        try:
            _write(folder / f"{hashlib.sha256(raw).hexdigest()}.json", raw)
        except OSError as exc:
            raise ApprovalError(f"cannot write the decision: {exc.strerror or exc}") from exc


def _sticky(folder: Path) -> None:
    """Set the sticky bit: in a share others may write (the approvers' group, an agent
    running as another user in it), only a file's owner can then delete or replace it,
    so no one else can drop an approver's denial or swap hgate's request.json. Best
    effort: some network file systems ignore it (docs/approvals.md, trust assumptions)."""
    with contextlib.suppress(OSError):
        os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) | stat.S_ISVTX)


def _read_decisions(folder: Path) -> list[Received]:
    found: list[Received] = []
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except OSError:
        return found
    for name in names:
        try:
            raw = _read_small(folder / name)
            found.append(Received(key=name, decision=SignedDecision.from_json(raw)))
        except ApprovalError as exc:
            found.append(Received(key=name, decision=None, problem=exc.message))
        except OSError as exc:
            found.append(Received(key=name, decision=None, problem=f"unreadable: {exc.strerror}"))
    return found


def _read_small(path: Path) -> bytes:
    """A regular file of at most MAX_DOCUMENT bytes: anyone who can write the shared
    folder could leave a FIFO (opening it waits for a writer) or a link to a device."""
    try:
        handle = open_regular(path)
    except NotRegularFile:
        raise ApprovalError(f"{path.name} is not a regular file") from None
    with handle:
        data = handle.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        raise ApprovalError(f"{path.name} is larger than {MAX_DOCUMENT} bytes")
    return data


def _write(path: Path, data: bytes) -> None:
    """Write `data` to a fresh file and rename it to `path`. The temporary name is random
    and created exclusively, never followed: anyone who can write the shared folder could
    otherwise leave a symlink at a predictable name (`.outcome.json.<hgate's pid>.tmp`)
    and have hgate overwrite whatever file it points to with hgate's own rights."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
