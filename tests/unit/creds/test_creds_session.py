"""The session's side of credentials: mask first, record without secrets, revoke always.

The backends here are in-memory implementations of hgate's own extension point; the real
backends are exercised against real servers in tests/integration/creds/.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path

import pytest

from hgate.creds.interface import (
    CredentialBackend,
    CredentialBackendError,
    IssuedCredential,
    Revocation,
    RevocationError,
    Secret,
    SessionTerms,
)
from hgate.errors import ConfigError
from hgate.mask import Masker
from hgate.policy.grants import DatabaseGrant, TableGrant
from hgate.policy.identities import Grants
from hgate.session.credentials import SessionCredentials
from hgate.session.signals import SignalStop
from tests.journal import Journal

SECRET = "s3cret-value-for-the-agent"


class MemoryBackend(CredentialBackend):
    name = "memory"

    def __init__(self, *, fail_issue: bool = False, fail_revoke: bool = False) -> None:
        self.live: set[str] = set()
        self.fail_issue, self.fail_revoke = fail_issue, fail_revoke
        self.revocations = 0

    def issue(self, terms: SessionTerms) -> IssuedCredential:
        if self.fail_issue:
            raise CredentialBackendError("memory backend refuses")
        self.live.add(terms.session_id)
        return IssuedCredential(
            backend=self.name,
            handle=terms.session_id,
            environment={"MEMORY_TOKEN": SECRET},
            secrets=(Secret(kind="MEMORY_TOKEN", value=SECRET),),
            record={"handle": terms.session_id, "expires": terms.not_after.isoformat()},
        )

    def revoke(self, issued: IssuedCredential) -> Revocation:
        self.revocations += 1
        if self.fail_revoke:
            raise RevocationError("memory backend cannot revoke")
        self.live.discard(issued.handle)
        return Revocation(backend=self.name, handle=issued.handle, record={"state": "gone"})


def session(
    backends: list[CredentialBackend] | None, env: Mapping[str, str] | None = None
) -> tuple[SessionCredentials, Masker, Journal, list[str]]:
    notes: list[str] = []
    masker, journal = Masker(key=b"k" * 32), Journal()
    grants = Grants(
        database=DatabaseGrant(
            name="clinic",
            schemas=("public",),
            tables=(TableGrant(schema="public", table="t", privileges=("SELECT",)),),
            read_only=True,
        )
    )
    creds = SessionCredentials(
        grants,
        session_id="s-1",
        subject="dev",
        rule="local",
        lifetime=60,
        env=env or {},
        masker=masker,
        writer=journal,
        notify=notes.append,
        clock=lambda: 1_800_000_000.0,
        backends=backends,
    )
    return creds, masker, journal, notes


def test_secrets_are_masked_and_the_record_holds_none() -> None:
    backend = MemoryBackend()
    creds, masker, journal, _ = session([backend])
    creds.issue()
    assert creds.environment == {"MEMORY_TOKEN": SECRET}
    assert SECRET not in masker.mask(f"the token is {SECRET}").text
    assert journal.events[0][0] == "credential.issued"
    assert SECRET not in repr(journal.events)
    assert journal.events[0][1]["expires"] == "2027-01-15T08:02:00+00:00"  # 60s + margin
    creds.revoke()
    creds.revoke()  # idempotent
    assert backend.live == set() and backend.revocations == 1
    assert journal.events[-1] == ("credential.revoked", {"backend": "memory", "state": "gone"})


def test_a_failing_backend_revokes_what_was_already_issued() -> None:
    first, second = MemoryBackend(), MemoryBackend(fail_issue=True)
    creds, _, _, _ = session([first, second])
    with pytest.raises(CredentialBackendError, match="memory backend refuses"):
        creds.issue()
    assert first.live == set()


def test_a_failed_revocation_is_reported_not_raised() -> None:
    backend = MemoryBackend(fail_revoke=True)
    creds, _, journal, notes = session([backend])
    creds.issue()
    creds.revoke()
    assert creds.revoke_error == "memory backend cannot revoke"
    assert journal.events[-1][0] == "credential.error"
    assert any("REVOKE FAILED" in note for note in notes)


@pytest.mark.parametrize(
    "sig",
    [
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGALRM,
        signal.SIGXCPU,
    ],
    ids=lambda sig: sig.name,
)
def test_signals_unwind_while_credentials_live_and_are_restored_after(
    sig: signal.Signals,
) -> None:
    """Before: SIGQUIT, SIGUSR1/2, SIGALRM and SIGXCPU kept their default and killed hgate
    with the credentials live (checked before raising, so the old code fails, not dies)."""
    before = signal.getsignal(sig)
    backend = MemoryBackend()
    creds, _, _, _ = session([backend])
    creds.issue()
    assert callable(signal.getsignal(sig)), f"{sig.name} would kill hgate, credentials live"
    with pytest.raises(SignalStop, match=sig.name) as info:
        signal.raise_signal(sig)
    assert isinstance(info.value, KeyboardInterrupt) and info.value.exit_code == 128 + sig
    creds.revoke()
    assert backend.live == set()
    assert signal.getsignal(sig) is before


def test_a_signal_hgate_was_started_with_ignored_stays_ignored() -> None:
    before = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        creds, _, _, _ = session([MemoryBackend()])
        creds.issue()
        assert signal.getsignal(signal.SIGUSR2) is signal.SIG_IGN
        assert callable(signal.getsignal(signal.SIGUSR1))
        creds.revoke()
    finally:
        signal.signal(signal.SIGUSR2, before)


def test_no_grants_no_credentials_no_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    creds = SessionCredentials(
        Grants(),
        session_id="s",
        subject="d",
        rule="r",
        lifetime=1,
        env={},
        masker=Masker(key=b"k" * 32),
        writer=Journal(),
        notify=print,
    )
    creds.issue()
    assert creds.environment == {} and signal.getsignal(signal.SIGTERM) is before


def test_a_database_grant_needs_the_admin_dsn(tmp_path: Path) -> None:
    creds, _, _, _ = session(None)
    with pytest.raises(ConfigError, match=r"HGATE_ADMIN_DSN is not set"):
        creds.issue()
    missing = tmp_path / "nope"
    creds, _, _, _ = session(None, {"HGATE_ADMIN_DSN_FILE": str(missing)})
    with pytest.raises(ConfigError, match=r"cannot read \$HGATE_ADMIN_DSN_FILE"):
        creds.issue()
