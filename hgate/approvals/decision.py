"""Signed decisions, and the rules that make one count.

A decision is an Ed25519 signature by an approver's own key (hgate's PEM key or an
OpenSSH `ssh-keygen -t ed25519` key) over a small canonical document that names the
request's SHA-256. It counts only if: it is for this request (id and hash), its key is
one the policy lists for the rule, the signature verifies, the approver is not the
session's own identity, and it arrived before the expiry. Approvals are counted per
distinct approver; one valid denial ends the request; silence until expiry is a denial.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hgate.approvals.interface import (
    ApprovalError,
    ApprovalOutcome,
    Approver,
    DecisionRefused,
    RequestId,
)
from hgate.approvals.request import ApprovalRequest, canonical_json, timestamp
from hgate.audit.keys import Signer, key_fingerprint

DECISION_FORMAT = "hgate-approval-decision/1"
DOMAIN = b"hgate approval decision v1\n"  # signatures here can mean nothing else
Kind = Literal["approve", "deny"]
_SIGNED = ("format", "request_id", "request_sha256", "decision", "reason", "signed_at", "key_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedDecision:
    request_id: str
    request_sha256: str
    decision: Kind
    reason: str
    signed_at: str
    key_id: str
    signature: str = field(repr=False)  # base64 Ed25519 over DOMAIN + signed_bytes

    def signed_bytes(self) -> bytes:
        return DOMAIN + canonical_json({k: v for k, v in self.to_dict().items() if k in _SIGNED})

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": DECISION_FORMAT,
            "request_id": self.request_id,
            "request_sha256": self.request_sha256,
            "decision": self.decision,
            "reason": self.reason,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: Any) -> SignedDecision:
        if not isinstance(data, dict) or set(data) != {*_SIGNED, "signature"}:
            raise ApprovalError("not an hgate approval decision (unexpected or missing fields)")
        if data["format"] != DECISION_FORMAT:
            raise ApprovalError(f"not a decision of format {DECISION_FORMAT}")
        if not all(isinstance(value, str) for value in data.values()):
            raise ApprovalError("a decision field that must be text is not")
        if data["decision"] not in ("approve", "deny"):
            raise ApprovalError("a decision must be approve or deny")
        return cls(
            request_id=data["request_id"],
            request_sha256=data["request_sha256"],
            decision=data["decision"],
            reason=data["reason"],
            signed_at=data["signed_at"],
            key_id=data["key_id"],
            signature=data["signature"],
        )

    @classmethod
    def from_json(cls, raw: bytes) -> SignedDecision:
        try:
            return cls.from_dict(json.loads(raw))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ApprovalError("the decision is not JSON") from exc


def sign_decision(
    request: ApprovalRequest, signer: Signer, *, decision: Kind, reason: str, now: float
) -> SignedDecision:
    """The approver's side: sign `decision` over `request`'s hash with their own key."""
    unsigned = SignedDecision(
        request_id=request.id,
        request_sha256=request.sha256,
        decision=decision,
        reason=reason,
        signed_at=timestamp(now),
        key_id=signer.key_id,
        signature="",
    )
    signature = base64.b64encode(signer.sign(unsigned.signed_bytes())).decode("ascii")
    return SignedDecision(**{**_fields(unsigned), "signature": signature})


def parse_public_key(text: str) -> Ed25519PublicKey:
    """An `ssh-ed25519 AAAA... [comment]` line or a PEM public key; ApprovalError if not."""
    data = text.strip().encode()
    try:
        if data.startswith(b"ssh-"):
            key: object = serialization.load_ssh_public_key(data.split(b"\n")[0])
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ApprovalError("not an OpenSSH public key line or a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ApprovalError(f"a {type(key).__name__} key; approvers sign with Ed25519 keys")
    return key


def openssh_line(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")


def signature_valid(decision: SignedDecision, public_key: str) -> bool:
    """Whether `decision` is signed by `public_key` (an OpenSSH line); never raises."""
    try:
        key = parse_public_key(public_key)
        key.verify(base64.b64decode(decision.signature, validate=True), decision.signed_bytes())
    except (ApprovalError, InvalidSignature, binascii.Error, ValueError):
        return False
    return key_fingerprint(key) == decision.key_id


def check_decision(
    decision: SignedDecision,
    request: ApprovalRequest,
    approvers: Sequence[Approver],
    *,
    received_at: float,
) -> Approver:
    """The approver behind `decision` if it counts for `request`; else DecisionRefused."""
    if decision.request_id != request.id or decision.request_sha256 != request.sha256:
        raise DecisionRefused("the decision was signed for another request")
    approver = next((a for a in approvers if a.key_id == decision.key_id), None)
    if approver is None or approver.key_id not in request.approvers:
        raise DecisionRefused(f"key {decision.key_id} is not an approver for rule {request.rule}")
    if not signature_valid(decision, approver.public_key):
        raise DecisionRefused(f"the signature does not verify with {approver.name}'s key")
    if approver.identity is not None and approver.identity == request.subject:
        raise DecisionRefused(f"{approver.name} is the session's own identity")
    if received_at > request.expires:
        raise DecisionRefused("the decision arrived after the request expired")
    return approver


class Tally:
    """Counts accepted decisions for one request: N distinct approvals, or one denial."""

    def __init__(self, request: ApprovalRequest) -> None:
        self.request = request
        self.approved_by: list[str] = []

    def add(self, decision: SignedDecision, approver: Approver) -> ApprovalOutcome | None:
        """The outcome once the decision settles the request, else None."""
        rid = RequestId(self.request.id)
        if decision.decision == "deny":
            why = f"denied by {approver.name}" + (f": {decision.reason}" if decision.reason else "")
            return ApprovalOutcome(
                request_id=rid, status="denied", reason=why, denied_by=approver.name
            )
        if approver.name not in self.approved_by:
            self.approved_by.append(approver.name)
        if len(self.approved_by) < self.request.required:
            return None
        names = ", ".join(self.approved_by)
        return ApprovalOutcome(
            request_id=rid,
            status="approved",
            reason=f"approved by {names}",
            approved_by=tuple(self.approved_by),
        )

    def expired(self) -> ApprovalOutcome:
        have = len(self.approved_by)
        return ApprovalOutcome(
            request_id=RequestId(self.request.id),
            status="expired",
            reason=f"no decision in time ({have} of {self.request.required} approvals)",
            approved_by=tuple(self.approved_by),
        )


def _fields(decision: SignedDecision) -> dict[str, Any]:
    return {
        "request_id": decision.request_id,
        "request_sha256": decision.request_sha256,
        "decision": decision.decision,
        "reason": decision.reason,
        "signed_at": decision.signed_at,
        "key_id": decision.key_id,
    }
