"""Issue the session's credentials before the agent starts; revoke them on every way out.

Order is the guarantee. Each secret joins the mask set the moment its backend returns,
before anything is printed or recorded; the transcript gets what was issued, never
the secret. Revocation runs from the session's `finally`, and, for the ways out that
skip it, from two nets armed at issue time: every signal that would end hgate (SIGTERM,
SIGHUP, SIGUSR1, SIGALRM, … see `signals`) raises SignalStop, a KeyboardInterrupt, so the
stack unwinds instead of dying, and an `atexit` hook revokes whatever is left.
Only SIGKILL escapes; then `VALID UNTIL`, the certificate's expiry and `hgate creds gc`
end the credentials.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from hgate.creds.interface import CredentialBackend, IssuedCredential, SessionTerms
from hgate.errors import ConfigError, HgateError
from hgate.policy.identities import Grants
from hgate.session.signals import FORWARDED_SIGNALS, SignalStop, stop_signals

ADMIN_DSN_ENV = "HGATE_ADMIN_DSN"
SSH_CA_KEY_ENV = "HGATE_SSH_CA_KEY"
CREDENTIAL_ENV = (ADMIN_DSN_ENV, f"{ADMIN_DSN_ENV}_FILE", SSH_CA_KEY_ENV, f"{SSH_CA_KEY_ENV}_FILE")
REVOKE_MARGIN = 60.0  # seconds past max_duration + kill_grace that a credential may outlive


class MaskSet(Protocol):
    def add_exact(self, value: str, kind: str = ..., *, fragments: bool = ...) -> None: ...


class Recorder(Protocol):
    def append(self, event_type: str, data: Mapping[str, Any]) -> int: ...


class SessionCredentials:
    """The credentials of one session: `issue()` once, `revoke()` as often as you like."""

    def __init__(
        self,
        grants: Grants,
        *,
        session_id: str,
        subject: str,
        rule: str,
        lifetime: float,
        env: Mapping[str, str],
        masker: MaskSet,
        writer: Recorder,
        notify: Callable[[str], None],
        clock: Callable[[], float] = time.time,
        backends: Sequence[CredentialBackend] | None = None,  # default: from the grants
        agent_uid: int | None = None,  # `--agent-user`: who must be able to use the files
    ) -> None:
        now = datetime.fromtimestamp(clock(), UTC)
        self._terms = SessionTerms(
            session_id=session_id,
            subject=subject,
            rule=rule,
            not_before=now,
            not_after=now + timedelta(seconds=lifetime + REVOKE_MARGIN),
        )
        self._grants, self._env, self._masker = grants, env, masker
        self._writer, self._notify = writer, notify
        self._issued: list[tuple[CredentialBackend, IssuedCredential]] = []
        self._given = None if backends is None else list(backends)
        self._agent_uid = agent_uid
        self._previous: dict[int, Any] = {}
        self._armed = self._revoking = False
        self.environment: dict[str, str] = {}
        self.revoke_error: str | None = None

    def issue(self) -> None:
        """Create every granted credential, or none: a failure revokes what was made."""
        backends = self._given
        if backends is None and self._grants.database is None and self._grants.ssh is None:
            return
        self._arm()
        try:
            for backend in backends if backends is not None else self._backends():
                issued = backend.issue(self._terms)
                self._issued.append((backend, issued))
                for secret in issued.secrets:
                    if len(secret.value) >= 4:
                        self._masker.add_exact(secret.value, secret.kind, fragments=secret.pieces)
                self.environment.update(issued.environment)
                self._writer.append("credential.issued", {"backend": backend.name, **issued.record})
                self._notify(f"issued {backend.name} credential {_label(issued)}")
        except BaseException:
            self.revoke()
            raise

    def revoke(self) -> None:
        """Take every issued credential away; never raises (failures go to `revoke_error`)."""
        if self._revoking:
            return
        self._revoking = True
        try:
            while self._issued:
                backend, issued = self._issued.pop()
                try:
                    done = backend.revoke(issued)
                    self._record("credential.revoked", {"backend": backend.name, **done.record})
                except HgateError as exc:
                    self.revoke_error = exc.message
                    self._notify(f"REVOKE FAILED for {backend.name} {issued.handle}: {exc}")
                    self._record(
                        "credential.error",
                        {"backend": backend.name, "handle": issued.handle, "error": exc.message},
                    )
        finally:
            self._disarm()
            self._revoking = False

    def _backends(self) -> list[CredentialBackend]:
        backends: list[CredentialBackend] = []
        if (database := self._grants.database) is not None:
            dsn = self._secret(
                ADMIN_DSN_ENV, "PG_ADMIN_DSN", "the policy grants a database", pieces=False
            )  # its password is masked on its own, in pieces too; host names are not secret
            try:
                import psycopg
                from psycopg.conninfo import conninfo_to_dict

                from hgate.creds.postgres import PostgresBackend
            except ImportError as exc:
                raise ConfigError(
                    "a database grant needs psycopg", remedy="pip install 'hgate[postgres]'"
                ) from exc
            try:
                password = str(conninfo_to_dict(dsn).get("password") or "")
            except (ValueError, psycopg.Error):  # libpq's message quotes the DSN: not shown
                raise ConfigError(f"${ADMIN_DSN_ENV} cannot be parsed as a DSN") from None
            if len(password) >= 4:
                self._masker.add_exact(password, "PG_ADMIN_PASSWORD")
            backends.append(PostgresBackend(database, dsn))
        if (ssh := self._grants.ssh) is not None:
            from hgate.creds.ssh import SshBackend
            from hgate.creds.ssh_ca import load_ca_key

            text = self._secret(SSH_CA_KEY_ENV, "SSH_CA_KEY", "the policy grants SSH access")
            runner_temp = self._env.get("RUNNER_TEMP", "")
            parent = Path(runner_temp) if runner_temp and Path(runner_temp).is_dir() else None
            # GitHub's per-job temp dir, emptied after each job even on a persistent
            # runner: a key left by a SIGKILLed hgate does not wait in /tmp
            backends.append(
                SshBackend(ssh, load_ca_key(text), parent=parent, owner=self._agent_uid)
            )
        return backends

    def _secret(self, name: str, kind: str, why: str, *, pieces: bool = True) -> str:
        """hgate's own secret from `$NAME` or the file `$NAME_FILE`; masked from now on."""
        value = env_secret(self._env, name)
        if not value.strip():
            raise ConfigError(
                f"{why}, but ${name} is not set",
                remedy=f"store it as a CI secret and export it as {name} (docs/credentials.md)",
            )
        for part in (value, value.strip()):
            if len(part) >= 4:
                self._masker.add_exact(part, kind, fragments=pieces)
        return value.strip()

    def _record(self, event_type: str, data: Mapping[str, Any]) -> None:
        with contextlib.suppress(HgateError):  # a failed sink is reported by the session
            self._writer.append(event_type, data)

    def _arm(self) -> None:
        if self._armed:
            return
        self._armed = True
        atexit.register(self.revoke)
        if threading.current_thread() is threading.main_thread():
            for sig in (*FORWARDED_SIGNALS, *stop_signals()):
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def _disarm(self) -> None:
        if not self._armed:
            return
        self._armed = False
        atexit.unregister(self.revoke)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Unwind through the session's `finally` blocks; never interrupt a revocation."""
        if self._revoking:
            return  # the session is ending anyway; let revocation finish
        raise SignalStop(signum)


def env_secret(env: Mapping[str, str], name: str) -> str:
    """`$NAME`, else the contents of the file `$NAME_FILE` (a CI file variable); "" when
    neither is set. A file that is named but cannot be read, or is empty, is an error:
    never a silent fall-back to nothing."""
    value = env.get(name, "")
    path = env.get(f"{name}_FILE", "")
    if value or not path:
        return value
    try:
        value = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"cannot read ${name}_FILE ({path}): {reason}") from None
    if not value.strip():
        raise ConfigError(f"${name}_FILE ({path}) is empty")
    return value


def _label(issued: IssuedCredential) -> str:
    record = issued.record
    if issued.backend == "postgres":
        return f"role {record['role']} on {record['database']}, valid until {record['valid_until']}"
    principals = ",".join(record.get("principals", []))
    return (
        f"certificate serial {record.get('serial')} for {principals}, "
        f"valid until {record.get('valid_before')}"
    )
