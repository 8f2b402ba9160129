"""The session's approvals: the policy's channel, the guard's `ApprovalChannel`, the evidence.

A held action blocks only its own caller (a shim's control-socket thread, the proxy's
executor thread, the stdin worker of hgate.session.stdin_worker) until an outcome: the
PTY loop keeps streaming. Every step is a
transcript event, so `hgate verify` can re-check each decision offline:

    approval.request   {"request": {...}, "sha256", "channel"}
    approval.decision  {"request_id", "decision": {... signed ...}, "accepted", "approver"
                        | "refused", "received_at"}
    approval.outcome   {"request_id", "status", "reason", "approved_by", "denied_by"}

The approvers' public keys go into the transcript header (`approvals_header`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from hgate.approvals import (
    ApprovalError,
    ApprovalOutcome,
    ApprovalRequest,
    Approver,
    Channel,
    DecisionRefused,
    DirectoryChannel,
    HttpChannel,
    Received,
    RequestId,
    Tally,
    TerminalChannel,
    check_decision,
    new_request_id,
)
from hgate.approvals.request import timestamp
from hgate.audit import TranscriptWriter, load_signer
from hgate.guard import ApprovalChannel, Verdict
from hgate.mask import Masker
from hgate.policy.approvals import ApprovalsPolicy, ChannelSettings
from hgate.policy.model import Policy
from hgate.session.control import NOTICE, Notice
from hgate.session.identity import SessionIdentity
from hgate.session.stdin_worker import StdinWorker

# An action longer than this (a few hundred lines of script) is refused unasked: it is
# more than an approver reviews whole (and the directory channel reads at most 64 KiB).
MAX_ACTION_CHARS = 16 * 1024
# At most this many requests of one session wait at once; more are refused unasked.
MAX_PENDING = 8


def open_policy_channel(
    policy: ApprovalsPolicy | None, env: Mapping[str, str], *, echo: Callable[[bytes], None]
) -> Channel | None:
    """Before the transcript starts (a channel that cannot open stops the session early).
    A terminal prompt takes its keys from the stdin filter when hgate forwards a tty."""
    if policy is None:
        return None
    return open_channel(policy.channel, env, fed=os.isatty(0), echo=echo)


def start_approvals(
    policy: Policy,
    channel: Channel | None,
    *,
    session_id: str,
    identity: SessionIdentity,
    writer: TranscriptWriter,
    masker: Masker,
    echo: Callable[[bytes], None] | None = None,
) -> SessionApprovals | None:
    """`echo` writes to the developer's terminal (notices about held stdin lines)."""
    if policy.approvals is None or channel is None:
        return None
    return SessionApprovals(
        policy.approvals,
        channel,
        session_id=session_id,
        issuer=identity.issuer,
        subject=identity.subject,
        policy_sha256=policy.source.sha256,
        writer=writer,
        mask=lambda text: masker.mask(text).text,
        echo=echo,
    )


def open_channel(
    settings: ChannelSettings,
    env: Mapping[str, str],
    *,
    fed: bool = False,
    echo: Callable[[bytes], None] | None = None,
) -> Channel:
    """The channel the policy names; ApprovalError (exit 67) if it cannot be opened."""
    if settings.type == "http":
        return HttpChannel(
            settings.url,
            webhook=settings.webhook,
            token=env.get(settings.token_env) or None,
            interval=settings.poll_interval,
        )
    if settings.type == "terminal":
        signer = load_signer(Path(settings.key))
        return TerminalChannel(signer, fed=fed, echo=echo)
    path = Path(settings.path)
    if not path.is_dir():
        raise ApprovalError(
            f"approvals directory {path} does not exist",
            remedy="create it (shared with the approvers) or fix approvals.channel.path",
        )
    return DirectoryChannel(path, interval=min(settings.poll_interval, 0.2))


class SessionApprovals:
    """Requests, waits, judges and records; thread-safe (one request per waiting thread)."""

    def __init__(
        self,
        policy: ApprovalsPolicy,
        channel: Channel,
        *,
        session_id: str,
        issuer: str,
        subject: str,
        policy_sha256: str,
        writer: TranscriptWriter,
        mask: Callable[[str], str],
        clock: Callable[[], float] = time.time,
        echo: Callable[[bytes], None] | None = None,
    ) -> None:
        self.policy = policy
        self.channel = channel
        self._ids = {"session_id": session_id, "issuer": issuer, "subject": subject}
        self._policy_sha256 = policy_sha256
        self._writer = writer
        self._mask = mask
        self._clock = clock
        self._closed = threading.Event()
        self.interval = policy.channel.poll_interval
        self._echo = echo or (lambda _data: None)
        self._stdin: StdinWorker | None = None
        self._pending_lock = threading.Lock()
        self._pending = 0  # requests published and not yet settled

    def settle(self, verdict: Verdict, *, text: str) -> Verdict:
        """The guard's `ApprovalChannel` for commands: hold the command until an outcome.
        A shim's request is told through its socket (NOTICE); a stdin line's developer
        through the terminal."""
        if NOTICE.get() is not None:
            return self._settle(verdict, text, source="shell", masked=False, timeout=None)
        return self._settle(
            verdict, text, source="stdin", masked=False, timeout=None, notice=self._stdin_notice
        )

    def channel_for(
        self, source: str, *, masked: bool = True, timeout: float | None = None
    ) -> ApprovalChannel:
        """An `ApprovalChannel` for another guard, e.g. the SQL proxy's statements:
        `DatabaseProxy.start(..., approvals=approvals.channel_for("sql"))`."""
        return _SourceChannel(self, source=source, masked=masked, timeout=timeout)

    def _settle(
        self,
        verdict: Verdict,
        text: str,
        *,
        source: str,
        masked: bool,
        timeout: float | None,
        notice: Notice | None = None,
    ) -> Verdict:
        outcome = self.request_approval(
            text,
            verdict.rule,
            reason=verdict.reason,
            source=source,
            masked=masked,
            timeout=timeout,
            notice=notice,
        )
        why = f"{verdict.reason}; " if verdict.reason else ""
        reason = f"{why}request {outcome.request_id} {outcome.reason}"
        if outcome.approved:
            return replace(verdict, action="allow", reason=reason, approval=outcome.status)
        return replace(verdict, action="block", reason=reason, approval=outcome.status)

    def request_approval(
        self,
        action: str,
        rule: str,
        *,
        reason: str = "",
        source: str = "command",
        masked: bool = False,
        timeout: float | None = None,
        notice: Notice | None = None,
    ) -> ApprovalOutcome:
        """Publish, wait (at most the rule's time-out, or `timeout` if shorter) and judge.

        Blocking and thread-safe: the proxy calls it from its executor thread with the
        statement already masked (`masked=True`). Never raises: failure is a denial."""
        requirement = self.policy.requirement(rule)
        approvers = self.policy.approvers_for(requirement)
        limit = requirement.timeout if timeout is None else min(timeout, requirement.timeout)
        now = self._clock()
        request = ApprovalRequest(
            id=new_request_id(),
            **self._ids,
            source=source,
            action=action if masked else self._mask(action),
            rule=rule,
            reason=self._mask(reason),
            created_at=timestamp(now),
            expires_at=timestamp(now + limit),
            required=requirement.required,
            approvers=tuple(a.key_id for a in approvers),
            policy_sha256=self._policy_sha256,
        )
        self._writer.append(
            "approval.request",
            {"request": request.to_dict(), "sha256": request.sha256, "channel": self.channel.kind},
        )
        refused = self._unreviewable(request)
        if refused is not None:  # never shown to anyone: nothing to conclude
            outcome = _outcome(request, "failed", refused)
            self._writer.append("approval.outcome", outcome.to_dict())
            return outcome
        try:
            try:
                self.channel.publish(request)
            except ApprovalError as exc:
                outcome = _outcome(request, "failed", f"could not be published: {exc.message}")
            else:
                (notice or NOTICE.get() or (lambda _text: None))(self._waiting(request, limit))
                outcome = self._wait(request)
        finally:
            with self._pending_lock:
                self._pending -= 1
        self.channel.conclude(request, outcome)
        self._writer.append("approval.outcome", outcome.to_dict())
        return outcome

    def _unreviewable(self, request: ApprovalRequest) -> str | None:
        """Why `request` is refused without asking anyone, else None (and it counts as
        pending). An agent must not wear approvers down: a text too long to read whole
        hides what it runs, and a flood of requests buries the one that matters."""
        if len(request.action) > MAX_ACTION_CHARS:
            return (
                f"refused without asking: the action is longer than {MAX_ACTION_CHARS} "
                "characters, too long for a person to review"
            )
        with self._pending_lock:
            if self._pending >= MAX_PENDING:
                return (
                    f"refused without asking: {MAX_PENDING} requests of this session "
                    "already wait for a decision"
                )
            self._pending += 1
        return None

    def stdin_filter(self, inner: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
        """Terminal keys answer an open terminal prompt first; the rest go to `inner`, run
        by a worker thread once `deliver_stdin` is wired, so a held line pauses nothing."""
        self._stdin = worker = StdinWorker(inner, echo=self._echo)
        channel = self.channel
        if not isinstance(channel, TerminalChannel):
            return worker.feed
        return lambda data: worker.feed(channel.feed(data))

    def deliver_stdin(self, send: Callable[[bytes], None]) -> None:
        """Where keys that pass the stdin filter go (the runner's `send_input`)."""
        if self._stdin is not None:
            self._stdin.connect(send)

    def close(self) -> None:
        """The session is ending: every waiting request ends now, as cancelled."""
        self._closed.set()
        if self._stdin is not None:
            self._stdin.close()  # a held stdin line reports its (cancelled) outcome first
        if isinstance(self.channel, TerminalChannel):
            self.channel.close()

    def _wait(self, request: ApprovalRequest) -> ApprovalOutcome:
        tally = Tally(request)
        seen: set[str] = set()
        while not self._closed.is_set():
            left = request.expires - self._clock()
            if left <= 0:
                return tally.expired()
            fresh = [r for r in self.channel.received(request, wait=min(self.interval, left))]
            fresh = [r for r in fresh if r.key not in seen]
            for item in fresh:
                seen.add(item.key)
                outcome = self._judge(item, request, tally)
                if outcome is not None:
                    return outcome
            if not fresh:
                self._closed.wait(min(self.interval, max(0.0, left)))
        return _outcome(request, "cancelled", "cancelled: the session ended first")

    def _judge(
        self, item: Received, request: ApprovalRequest, tally: Tally
    ) -> ApprovalOutcome | None:
        record: dict[str, Any] = {"request_id": request.id, "received_at": timestamp(self._clock())}
        approver: Approver | None = None
        if item.decision is None:
            record.update(accepted=False, refused=item.problem, document=item.key)
        else:
            record["decision"] = item.decision.to_dict()
            try:
                approver = check_decision(
                    item.decision, request, self.policy.approvers, received_at=self._clock()
                )
            except DecisionRefused as exc:
                record.update(accepted=False, refused=exc.message)
            else:
                record.update(accepted=True, approver=approver.name)
        self._writer.append("approval.decision", record)
        if approver is None or item.decision is None:
            return None
        return tally.add(item.decision, approver)

    def _waiting(self, request: ApprovalRequest, limit: float) -> str:
        where = self.channel.describe()
        how = ""
        if isinstance(self.channel, DirectoryChannel):
            how = f" --channel-dir {self.channel.path}"
        elif isinstance(self.channel, HttpChannel):
            how = f" --url {self.channel.url}"
        if how:
            how = f"; approve with: hgate approve {request.id}{how} --key KEY"
        return (
            f"held for approval by rule {request.rule}: request {request.id} waits up to "
            f"{_duration(limit)} for {request.required} approval(s) via {where}{how}"
        )

    def _stdin_notice(self, text: str) -> None:
        self._echo(f"\r\nhgate: {text}\r\n".encode("utf-8", "replace"))


class _SourceChannel:
    """`SessionApprovals` seen by one guard: its source name, masking and time-out."""

    def __init__(
        self, owner: SessionApprovals, *, source: str, masked: bool, timeout: float | None
    ) -> None:
        self._owner, self._source, self._masked, self._timeout = owner, source, masked, timeout

    def settle(self, verdict: Verdict, *, text: str) -> Verdict:
        return self._owner._settle(
            verdict, text, source=self._source, masked=self._masked, timeout=self._timeout
        )


def _outcome(request: ApprovalRequest, status: Any, reason: str) -> ApprovalOutcome:
    return ApprovalOutcome(request_id=RequestId(request.id), status=status, reason=reason)


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
