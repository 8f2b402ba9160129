"""One session, end to end: policy -> identity -> masker -> transcript -> agent under a PTY.

This is the only module that knows the whole flow; every other package is called from
here and never calls back up. Order matters and is the fail-closed guarantee: the
transcript's signed start checkpoint is on disk before the agent runs, and nothing the
agent prints reaches stdout without passing the masker first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hgate import __version__
from hgate.audit import (
    Signer,
    TranscriptWriter,
    default_key_dir,
    ensure_local_signer,
    load_signer,
    load_signer_pem,
)
from hgate.errors import CredentialError, HgateError, SessionBlocked, SinkError
from hgate.mask import Masker, MaskingStream
from hgate.policy.model import Policy
from hgate.session.agent_user import AgentUser, resolve_agent_user
from hgate.session.capabilities import LiveCapabilities
from hgate.session.ci import ci_coordinates
from hgate.session.commands import CommandsSession
from hgate.session.credentials import SessionCredentials
from hgate.session.environment import agent_environment
from hgate.session.hardening import seal_process
from hgate.session.identity import SessionIdentity, resolve_identity
from hgate.session.masking import build_masker, compiled_cache
from hgate.session.output_pump import OutputPump
from hgate.session.pty_runner import AgentExit, PtyRunner, RunnerSettings, write_all
from hgate.session.signals import SignalStop, signal_name
from hgate.session.sinks import SinkGuard, build_sink, sink_variables

if TYPE_CHECKING:
    from hgate.approvals import Channel
    from hgate.session.approvals import SessionApprovals

Notify = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRequest:
    policy: Policy
    argv: Sequence[str]
    identity_mode: str = "auto"
    key_dir: Path | None = None
    sink_dir: Path | None = None  # overrides the policy's directory sink
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str | None = None
    agent_user: str | None = None  # run the agent as this OS user (hgate must be root)
    # GitHub Actions reads workflow commands (`::error::`, `::set-output …`, `::stop-
    # commands::`) from a step's output: while the agent's output passes, they are off
    pause_workflow_commands: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionResult:
    session_id: str
    exit_code: int
    reason: str
    transcript: str
    key_fingerprint: str
    lines: int
    findings: dict[str, int]
    key_created: bool = False
    public_key: str = ""  # where the auditor's public key is, when hgate knows


def new_session_id() -> str:
    """Sortable by start time, unique without coordination."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


def run_session(
    request: SessionRequest,
    *,
    notify: Notify,
    output_fd: int = 1,
    on_secret: Callable[[str], None] | None = None,
) -> SessionResult:
    """`on_secret` is told each secret hgate holds (the CI token, issued credentials) the
    moment it exists, so the CLI can have the CI runner mask it too (`::add-mask::`)."""
    seal_process()  # before anything secret is read, and long before the agent exists
    user = (
        resolve_agent_user(request.agent_user, package_dir=str(Path(__file__).parents[1]))
        if request.agent_user
        else None
    )
    policy = request.policy
    identity = resolve_identity(policy, request.identity_mode, request.env)
    signer, key_created, public_key = _signer(request)
    session_id = new_session_id()
    # the agent's sh/bash shims and their socket
    commands = CommandsSession(policy.commands, agent_uid=user.uid if user else None)
    agent_env = agent_environment(
        request.env,
        policy.environment,
        extra_removed=(
            *identity.consumed_env,
            *sink_variables(policy.transcript),
            *(policy.approvals.secret_variables() if policy.approvals else ()),
        ),
        additions={
            "HGATE_SESSION_ID": session_id,
            **commands.environment(request.env),
            **(user.environment() if user else {}),
        },
    )
    mask_key = secrets.token_bytes(32)
    masker, engine = build_masker(
        policy.mask,
        key=mask_key,
        env=request.env,
        secrets=(*agent_env.secret_values, *identity.secret_values),
        cache=compiled_cache(signer.sign),
    )
    if on_secret is not None:
        for _, value in identity.secret_values:
            on_secret(value)
    channel = _open_approval_channel(policy, request.env, output_fd)
    sink = build_sink(policy.transcript, _sink_dir(request), request.env)
    writer = TranscriptWriter(
        sink,
        signer,
        checkpoint_every_lines=policy.transcript.checkpoint_every_lines,
        checkpoint_every_seconds=policy.transcript.checkpoint_every_seconds,
    )
    command = [masker.mask(arg).text for arg in request.argv]
    writer.start(
        _header(session_id, policy, identity, command, engine, request.env, agent_env.removed, user)
    )
    if key_created:  # said first, where a reader looks for the key's fingerprint
        notify(f"created a new signing key (fingerprint {signer.key_id})")
    notify(
        f"session {session_id} started · policy {policy.name} "
        f"(sha256 {policy.source.sha256[:12]}) · identity {identity.describe()} · "
        f"transcript {writer.location}"
    )
    guard = SinkGuard(sink, writer, policy.transcript, notify)
    live = LiveCapabilities(
        commands=commands
    )  # what the agent can use; all of it ends with the session
    runner_started = False  # the error line must not say the agent was stopped if it never ran
    time_limit = identity.max_duration(policy.session.max_duration)
    kill_grace = identity.kill_grace(
        policy_grace=policy.session.kill_grace, policy_limit=policy.session.max_duration
    )
    try:
        guard.start()  # the first segment is stored remotely before the agent runs
        live.credentials = SessionCredentials(
            identity.grants,
            session_id=session_id,
            subject=identity.subject,
            rule=identity.rule,
            lifetime=time_limit + kill_grace,
            env=request.env,
            masker=masker if on_secret is None else _AnnouncedMasks(masker, on_secret),
            writer=writer,
            notify=notify,
            agent_uid=user.uid if user else None,
        )
        live.credentials.issue()  # each secret joins the mask set as it is made
        pump = OutputPump(MaskingStream(masker), writer, output_fd, policy.mask.max_findings)
        live.approvals = _start_approvals(
            policy,
            channel,
            session_id=session_id,
            identity=identity,
            writer=writer,
            masker=masker,
            echo=lambda data: write_all(output_fd, data),
        )
        commands.start(
            masker=masker,
            writer=writer,
            echo=lambda data: write_all(output_fd, data),
            approvals=live.approvals,
        )
        if policy.database.proxy:  # pgparse and asyncio load only for sessions that use them
            from hgate.session.database_proxy import open_database_proxy

            live.database = open_database_proxy(  # the agent's PG* point at the proxy
                policy.database,
                live.credentials.environment,
                masker=masker,
                content_masker=lambda: build_masker(
                    policy.mask, key=mask_key, env=request.env, cache=compiled_cache(signer.sign)
                )[0],
                append=writer.append,
                approvals=live.approvals.channel_for(
                    "sql", timeout=policy.database.approval_timeout
                )
                if live.approvals is not None
                else None,
            )
        runner = PtyRunner(
            request.argv,
            {**agent_env.variables, **live.agent_environment()},
            RunnerSettings(
                max_duration=time_limit,
                kill_grace=kill_grace,
                idle_flush=policy.session.idle_flush,
            ),
            on_output=pump.feed,
            on_idle=pump.idle,
            on_tick=guard.tick,
            cwd=request.cwd,
            stdin_filter=live.stdin_filter(),
            become=user.become if user else None,
            on_notice=notify,
        )
        pump.on_budget_exceeded = commands.on_stop = guard.stop_agent = runner.request_stop
        if live.approvals is not None:  # a held stdin line waits off the PTY loop
            live.approvals.deliver_stdin(runner.send_input)
        with paused_workflow_commands(output_fd, request.pause_workflow_commands):
            try:
                runner_started = True
                outcome = runner.run()
            finally:
                live.close()
            pump.close()
    except SinkError:
        live.close()
        notify(_sink_failure_notice(agent_ran=runner_started, sealed=guard.sealed))
        guard.shutdown()
        raise
    except HgateError as exc:
        live.close()
        _seal_after_error(writer, exc)
        guard.shutdown()
        raise
    except SignalStop as exc:  # outside the PTY loop, while credentials were live
        live.close()
        _seal_after_stop(writer, exc)
        guard.shutdown()
        raise
    except BaseException:
        live.close()  # a bug or an interrupt: nothing the agent could use outlives hgate
        guard.shutdown()
        raise
    guard.settle()  # a remote failure found now is still recorded before the seal
    exit_code, reason = _final_status(outcome, pump)
    if commands.stopped is not None:
        exit_code, reason = SessionBlocked.exit_code, f"stopped: {commands.stopped}"
    exit_code, reason = guard.final_status(exit_code, reason)
    if live.credentials is not None and live.credentials.revoke_error is not None:
        exit_code, reason = CredentialError.exit_code, "credentials could not be revoked"
    writer.append(
        "exit",
        {
            "exit_code": outcome.exit_code,
            "reason": outcome.reason,
            "signal": outcome.signal,
            "duration": round(outcome.duration, 3),
        },
    )
    writer.seal(
        exit_code=exit_code,
        reason=reason,
        extra={
            "findings": dict(pump.findings),
            "agent_exit_code": outcome.exit_code,
            **guard.seal_extra(),
        },
    )
    guard.finish()  # ships the seal; raises SinkError (exit 73) if a sink failed and policy stops
    return SessionResult(
        session_id=session_id,
        exit_code=exit_code,
        reason=reason,
        transcript=writer.location,
        key_fingerprint=signer.key_id,
        lines=pump.lines,
        findings=dict(pump.findings),
        key_created=key_created,
        public_key=public_key,
    )


@contextmanager
def paused_workflow_commands(fd: int, enabled: bool) -> Iterator[None]:
    """The agent's output cannot be a GitHub workflow command: the runner is told to take
    none until a token the agent never sees (GitHub's own `::stop-commands::`). Without
    it, an agent could forge annotations, set step outputs or switch commands off for
    the lines hgate prints after it."""
    if not enabled:
        yield
        return
    token = secrets.token_hex(16)
    write_all(fd, f"::stop-commands::{token}\n".encode())
    try:
        yield
    finally:
        write_all(fd, f"::{token}::\n".encode())


class _AnnouncedMasks:
    """The masker as credentials see it: each value added is also announced to the CI."""

    def __init__(self, masker: Masker, announce: Callable[[str], None]) -> None:
        self._masker, self._announce = masker, announce

    def add_exact(self, value: str, kind: str = "SECRET", *, fragments: bool = True) -> None:
        self._masker.add_exact(value, kind, fragments=fragments)
        self._announce(value)


def _open_approval_channel(
    policy: Policy, env: Mapping[str, str], output_fd: int
) -> Channel | None:
    """Before the transcript starts: a channel that cannot open stops the session early.
    The approvals machinery loads only for a policy with an `approvals:` section."""
    if policy.approvals is None:
        return None
    from hgate.session.approvals import open_policy_channel

    return open_policy_channel(policy.approvals, env, echo=lambda data: write_all(output_fd, data))


def _start_approvals(
    policy: Policy,
    channel: Channel | None,
    *,
    session_id: str,
    identity: SessionIdentity,
    writer: TranscriptWriter,
    masker: Masker,
    echo: Callable[[bytes], None],
) -> SessionApprovals | None:
    if channel is None:
        return None
    from hgate.session.approvals import start_approvals

    return start_approvals(
        policy,
        channel,
        session_id=session_id,
        identity=identity,
        writer=writer,
        masker=masker,
        echo=echo,
    )


def _final_status(outcome: AgentExit, pump: OutputPump) -> tuple[int, str]:
    if pump.budget_exceeded:
        return SessionBlocked.exit_code, "stopped: PHI exposure budget exceeded"
    if outcome.reason == "time_limit":
        return outcome.exit_code, "stopped: session time limit reached"
    if outcome.reason == "interrupted":
        return outcome.exit_code, "stopped: hgate was interrupted"
    if outcome.reason == "terminated" and outcome.stopped_by is not None:
        return outcome.exit_code, f"stopped: hgate received {signal_name(outcome.stopped_by)}"
    if outcome.reason == "signaled":
        return outcome.exit_code, f"agent killed by signal {outcome.signal}"
    return outcome.exit_code, "agent exited"


def _sink_failure_notice(*, agent_ran: bool, sealed: bool) -> str:
    """What a sink failure left: whether the agent ran at all, and how far the local
    transcript is attested (its seal, else its last checkpoint)."""
    agent = (
        "the agent was stopped"
        if agent_ran
        else "the sink failed before the agent started; the agent never ran"
    )
    transcript = (
        "the local transcript is sealed with the failure"
        if sealed
        else "hgate verify tells how much of the transcript on disk is attested"
    )
    return f"transcript sink failed: {agent}; {transcript}"


def _seal_after_error(writer: TranscriptWriter, exc: HgateError) -> None:
    """Leave evidence of why the session ended, if the sink still takes it."""
    try:
        writer.append("error", {"error": type(exc).__name__, "message": exc.message})
        writer.seal(exit_code=exc.exit_code, reason=f"hgate error: {type(exc).__name__}")
    except HgateError:
        pass


def _seal_after_stop(writer: TranscriptWriter, stop: SignalStop) -> None:
    """A signal ended the session outside the agent's run: sealed, so the transcript says
    so instead of ending as a killed run would (INCOMPLETE)."""
    with contextlib.suppress(HgateError):  # the sink failed too: INCOMPLETE it stays
        writer.seal(exit_code=stop.exit_code, reason=f"stopped: hgate received {stop.name}")


def _signer(request: SessionRequest) -> tuple[Signer, bool, str]:
    """The signing key: HGATE_SIGNING_KEY (CI), else the PEM file HGATE_SIGNING_KEY_FILE
    names (a GitLab file variable), else the local key, created on first use."""
    pem = request.env.get("HGATE_SIGNING_KEY")
    if pem:
        return load_signer_pem(pem.encode()), False, ""
    pem_file = request.env.get("HGATE_SIGNING_KEY_FILE")
    if pem_file:  # named but unreadable: fail closed, never fall back to another key
        return load_signer(Path(pem_file)), False, ""
    key_dir = request.key_dir
    if key_dir is None and request.policy.signing.key_dir:
        key_dir = Path(request.policy.signing.key_dir).expanduser()
    key_dir = key_dir or default_key_dir()
    signer, created = ensure_local_signer(key_dir)
    return signer, created, str(key_dir / "hgate.pub")


def _sink_dir(request: SessionRequest) -> Path:
    if request.sink_dir is not None:
        return request.sink_dir
    directories = [s for s in request.policy.transcript.sinks if s.type == "directory"]
    # The local copy is always kept, even when the policy names only remote sinks.
    return Path(directories[0].path if directories else "runs").expanduser()


def _header(
    session_id: str,
    policy: Policy,
    identity: SessionIdentity,
    command: list[str],
    engine: str,
    env: Mapping[str, str],
    removed: tuple[str, ...],
    user: AgentUser | None,
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "hgate_version": __version__,
        "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "policy": {
            "name": policy.name,
            "path": str(policy.source.path),
            "sha256": policy.source.sha256,
            "includes": [{"path": str(s.path), "sha256": s.sha256} for s in policy.includes],
        },
        "identity": identity.to_header(),
        "command": command,
        "host": socket.gethostname(),
        "ci": ci_coordinates(env),
        "masking": {"engine": engine},
        "environment": {"removed": list(removed)},
        **({"approvals": policy.approvals.header()} if policy.approvals else {}),
        **({"agent": {"user": user.name, "uid": user.uid}} if user else {}),
    }
