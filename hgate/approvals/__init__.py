"""Just-in-time approvals: a held action, a signed human decision, evidence of both.

    guard says approve ──► ApprovalRequest (masked, hashed) ──► Channel.publish
        ◄── SignedDecision (hgate approve / deny) ◄── Channel.received
        ──► check_decision + Tally ──► ApprovalOutcome (approved / denied / expired)

This package never imports policy, session or CLI code; the session chooses a channel
from the policy and records every step in the transcript.
"""

from typing import TYPE_CHECKING

from hgate.lazy_exports import lazy_exports

if TYPE_CHECKING:
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

__getattr__ = lazy_exports(
    __name__,
    {
        "ApprovalError": "hgate.approvals.interface",
        "ApprovalOutcome": "hgate.approvals.interface",
        "ApprovalRequest": "hgate.approvals.request",
        "Approver": "hgate.approvals.interface",
        "Channel": "hgate.approvals.interface",
        "DecisionRefused": "hgate.approvals.interface",
        "DirectoryChannel": "hgate.approvals.directory_channel",
        "HttpChannel": "hgate.approvals.http_channel",
        "Inbox": "hgate.approvals.interface",
        "Received": "hgate.approvals.interface",
        "RequestId": "hgate.approvals.interface",
        "Requirement": "hgate.approvals.interface",
        "SignedDecision": "hgate.approvals.decision",
        "Tally": "hgate.approvals.decision",
        "TerminalChannel": "hgate.approvals.terminal_channel",
        "check_decision": "hgate.approvals.decision",
        "check_request_id": "hgate.approvals.request",
        "new_request_id": "hgate.approvals.request",
        "openssh_line": "hgate.approvals.decision",
        "parse_public_key": "hgate.approvals.decision",
        "sign_decision": "hgate.approvals.decision",
        "signature_valid": "hgate.approvals.decision",
    },
)
