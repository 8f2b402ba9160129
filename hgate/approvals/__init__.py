"""Just-in-time approvals: a held action, a signed human decision, evidence of both.

    guard says approve ──► ApprovalRequest (masked, hashed) ──► Channel.publish
        ◄── SignedDecision (hgate approve / deny) ◄── Channel.received
        ──► check_decision + Tally ──► ApprovalOutcome (approved / denied / expired)

This package never imports policy, session or CLI code; the session chooses a channel
from the policy and records every step in the transcript.
"""

from hgate.approvals.decision import (
    SignedDecision,
    Tally,
    check_decision,
    openssh_line,
    parse_public_key,
    sign_decision,
    signature_valid,
)
from hgate.approvals.directory_channel import DirectoryChannel
from hgate.approvals.http_channel import HttpChannel
from hgate.approvals.interface import (
    ApprovalError,
    ApprovalOutcome,
    Approver,
    Channel,
    DecisionRefused,
    Inbox,
    Received,
    RequestId,
    Requirement,
)
from hgate.approvals.request import ApprovalRequest, check_request_id, new_request_id
from hgate.approvals.terminal_channel import TerminalChannel

__all__ = [
    "ApprovalError",
    "ApprovalOutcome",
    "ApprovalRequest",
    "Approver",
    "Channel",
    "DecisionRefused",
    "DirectoryChannel",
    "HttpChannel",
    "Inbox",
    "Received",
    "RequestId",
    "Requirement",
    "SignedDecision",
    "Tally",
    "TerminalChannel",
    "check_decision",
    "check_request_id",
    "new_request_id",
    "openssh_line",
    "parse_public_key",
    "sign_decision",
    "signature_valid",
]
