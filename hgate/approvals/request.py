"""An approval request: what is held, for whom, by which rule, until when, and its hash.

Approvers sign the request's SHA-256, not its id, so a decision can never be replayed
onto another request (or onto the same id with another action). The hash is over a
canonical JSON encoding (sorted keys, no spaces, UTF-8), which any language can rebuild.
The action text is already masked: a request is published outside the session.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hgate.approvals.interface import ApprovalError, RequestId
from hgate.audit.report import printable

REQUEST_FORMAT = "hgate-approval-request/1"
REQUEST_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{7,63}$")
_FIELDS = (
    "format",
    "id",
    "session_id",
    "issuer",
    "subject",
    "source",
    "action",
    "rule",
    "reason",
    "created_at",
    "expires_at",
    "required",
    "approvers",
    "policy_sha256",
)


def new_request_id() -> RequestId:
    """Short enough to type in `hgate approve ID`, long enough never to be guessed."""
    return RequestId(secrets.token_hex(8))


def check_request_id(value: str) -> RequestId:
    """A request id safe to use as a file or URL path segment."""
    if not REQUEST_ID_RE.match(value):
        raise ApprovalError(
            f"{value!r} is not an approval request id",
            remedy="use the id from the agent's waiting notice or `hgate approvals list`",
        )
    return RequestId(value)


# Characters that render as nothing visible, though Python calls them printable: with
# spaces, a run of them pushes the start of an action off the approver's screen.
_BLANKS = "\u2800\u3164\u115f\u1160\uffa0"
_GAP = re.compile(f"[\\s{_BLANKS}]{{8,}}")


def shown_action(text: str) -> str:
    """`text` as approvers must read it: control, bidi and format characters as visible
    escapes, and every run of 8 or more blank characters as `‹N blanks›`, so padding
    cannot scroll `rm -rf /srv` off the screen above a harmless-looking tail."""
    return _GAP.sub(lambda gap: f" ‹{len(gap.group())} blanks› ", printable(text))


def timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequest:
    """One held action. `approvers` are the key ids that may decide it."""

    id: RequestId
    session_id: str
    issuer: str
    subject: str  # the session's identity: it may not approve itself
    source: str  # shell | stdin | sql
    action: str  # masked
    rule: str
    reason: str
    created_at: str
    expires_at: str
    required: int
    approvers: tuple[str, ...]
    policy_sha256: str

    @property
    def expires(self) -> float:
        return epoch(self.expires_at)

    @property
    def sha256(self) -> str:
        """What approvers sign: the SHA-256 of the canonical JSON of every field."""
        return hashlib.sha256(canonical_json(self.to_dict())).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REQUEST_FORMAT,
            "id": self.id,
            "session_id": self.session_id,
            "issuer": self.issuer,
            "subject": self.subject,
            "source": self.source,
            "action": self.action,
            "rule": self.rule,
            "reason": self.reason,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "required": self.required,
            "approvers": list(self.approvers),
            "policy_sha256": self.policy_sha256,
        }

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> ApprovalRequest:
        """Strict: exactly the known fields with the right types, or ApprovalError."""
        if not isinstance(data, dict) or set(data) != set(_FIELDS):
            raise ApprovalError("not an hgate approval request (unexpected or missing fields)")
        if data["format"] != REQUEST_FORMAT:
            raise ApprovalError(f"unsupported approval request format {data['format']!r}")
        texts = [f for f in _FIELDS if f not in ("required", "approvers")]
        if not all(isinstance(data[f], str) for f in texts):
            raise ApprovalError("an approval request field that must be text is not")
        required, approvers = data["required"], data["approvers"]
        if type(required) is not int or required < 1:
            raise ApprovalError("an approval request's `required` is not a positive integer")
        if not isinstance(approvers, list) or not all(isinstance(a, str) for a in approvers):
            raise ApprovalError("an approval request's `approvers` is not a list of key ids")
        try:
            epoch(data["created_at"]), epoch(data["expires_at"])
        except ValueError as exc:
            raise ApprovalError("an approval request's time is not ISO 8601") from exc
        return cls(
            id=check_request_id(data["id"]),
            session_id=data["session_id"],
            issuer=data["issuer"],
            subject=data["subject"],
            source=data["source"],
            action=data["action"],
            rule=data["rule"],
            reason=data["reason"],
            created_at=data["created_at"],
            expires_at=data["expires_at"],
            required=required,
            approvers=tuple(approvers),
            policy_sha256=data["policy_sha256"],
        )

    @classmethod
    def from_json(cls, raw: bytes) -> ApprovalRequest:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ApprovalError("the approval request is not JSON") from exc
        return cls.from_dict(data)

    def summary(self) -> str:
        """One line for people: who asks, what, by which rule, until when. Every field
        the agent can influence is shown with its control, bidi and format characters as
        visible escapes: raw, an ESC sequence or U+202E in the action could repaint the
        prompt (or a chat message) to show a harmless command over the one that runs."""
        why = f" ({printable(self.reason)})" if self.reason else ""
        return (
            f"{printable(self.subject)} wants to run `{shown_action(self.action)}` — rule "
            f"{printable(self.rule)}{why}; "
            f"needs {self.required} approval(s) before {printable(self.expires_at)}"
        )
