"""The outcome of a check, and the seam where just-in-time approvals will plug in.

The guard only ever says allow, block or approve. Turning `approve` into a final
answer is an `ApprovalChannel`'s job, chosen by the session; until the approvals
capability exists the session uses `NoApprovals`, which refuses with a reason that
says approval is not configured. The guard itself never changes when a channel lands.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from hgate.guard.rules import Action

DEFAULT_RULE = "commands.default"
UNPARSABLE_RULE = "commands.unparsable"
NOT_CONFIGURED = "approval is not configured"


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What to do with a command line, which rule said so, and why."""

    action: Action
    rule: str
    reason: str = ""
    command: str = ""  # the command (one of possibly many in the line) that decided
    checked: int = 0  # how many commands the line held
    approval: str | None = None  # set when an approval channel settled an `approve`
    parser: str = ""  # which read the line: "bashlex", "fallback" (for any part of it), "" none

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    def message(self) -> str:
        """One line for the person or agent who was refused."""
        why = f": {self.reason}" if self.reason else ""
        what = f" `{self.command}`" if self.command else ""
        return f"{self.action}ed by rule {self.rule}{why}{what}".replace("approveed", "held")


class ApprovalChannel(Protocol):
    """Settles an `approve` verdict: returns it as `allow` or `block` (never `approve`)."""

    def settle(self, verdict: Verdict, *, text: str) -> Verdict: ...


class NoApprovals:
    """No approvals channel: a command that needs approval is refused, saying so."""

    def settle(self, verdict: Verdict, *, text: str) -> Verdict:
        reason = f"{verdict.reason}; {NOT_CONFIGURED}" if verdict.reason else NOT_CONFIGURED
        return replace(verdict, action="block", reason=reason, approval="not-configured")


def settle(verdict: Verdict, channel: ApprovalChannel, *, text: str) -> Verdict:
    """The final verdict: `approve` goes to the channel, the rest stand as they are."""
    if verdict.action != "approve":
        return verdict
    settled = channel.settle(verdict, text=text)
    if settled.action == "approve":  # a channel must decide; undecided is refused
        return replace(settled, action="block", reason=f"{settled.reason}; undecided")
    return settled
