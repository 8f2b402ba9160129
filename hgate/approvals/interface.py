"""The approval channel extension point: how a request reaches people and decisions come back.

    session ──publish(request)──► Channel ──► people (a directory, a webhook, a terminal)
    session ◄──received(wait)──── Channel ◄── `hgate approve` / `hgate deny` (signed)

A channel only carries bytes: it never decides. Every decision it brings back is checked
by hgate.approvals.decision (signature, listed approver, not the requester, in time), so
a channel that lies can delay an action but never approve one. The approver's side
(`hgate approve`, `hgate approvals list`) talks to an `Inbox`; the directory and HTTP
channels are both. Adding a channel touches neither the guards nor the session.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NewType

from hgate.errors import ConfigError

if TYPE_CHECKING:
    from hgate.approvals.decision import SignedDecision
    from hgate.approvals.request import ApprovalRequest

RequestId = NewType("RequestId", str)
OutcomeStatus = Literal["approved", "denied", "expired", "cancelled", "failed"]


class ApprovalError(ConfigError):
    """A channel cannot publish or fetch, or an approver's key or request is unusable."""


class DecisionRefused(ApprovalError):
    """A decision that does not count: why it was refused is the message (evidence)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Approver:
    """A person the policy names: their public key, and the session subject they are.

    `identity` is compared with the session's identity subject: a person may not approve
    the session they themselves started."""

    name: str
    public_key: str  # "ssh-ed25519 AAAA..." without a comment
    key_id: str  # SHA256:... as `ssh-keygen -lf`
    identity: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """What a rule's approval needs: N distinct approvers from a list, within a time-out."""

    rule: str
    required: int = 1
    timeout: float = 600.0
    approvers: tuple[str, ...] = ()  # approver names; empty means every listed approver


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One decision document a channel found; `problem` says why it could not be read."""

    key: str  # stable per document (a file name, a digest), so each is judged once
    decision: SignedDecision | None
    problem: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalOutcome:
    """The final answer for one request. Only `approved` lets the action run."""

    request_id: RequestId
    status: OutcomeStatus
    reason: str
    approved_by: tuple[str, ...] = ()
    denied_by: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    def to_dict(self) -> dict[str, object]:
        return {
            "request_id": self.request_id,
            "status": self.status,
            "reason": self.reason,
            "approved_by": list(self.approved_by),
            "denied_by": self.denied_by,
        }


class Channel(ABC):
    """The session's side: publish a request, collect what comes back, close it."""

    kind: str = ""

    @abstractmethod
    def publish(self, request: ApprovalRequest) -> None:
        """Make the request visible to approvers; raise ApprovalError if it cannot."""

    @abstractmethod
    def received(self, request: ApprovalRequest, *, wait: float) -> Sequence[Received]:
        """Every decision document seen so far for `request` (repeats allowed), waiting
        up to `wait` seconds for news; never raises for a bad document (see `problem`)."""

    def conclude(self, request: ApprovalRequest, outcome: ApprovalOutcome) -> None:  # noqa: B027
        """Tell approvers the request is closed (optional; the default does nothing)."""

    def describe(self) -> str:
        """Where approvers find the request, for the agent's waiting notice."""
        return self.kind


class Inbox(ABC):
    """The approver's side: list pending requests, fetch one, submit a signed decision."""

    @abstractmethod
    def pending(self) -> Sequence[ApprovalRequest]: ...

    @abstractmethod
    def fetch(self, request_id: str) -> ApprovalRequest: ...

    @abstractmethod
    def submit(self, decision: SignedDecision) -> None: ...
