"""Re-checking approvals in a transcript, offline: what `hgate verify` adds for them.

The transcript chain proves what hgate recorded; this proves that what it recorded as
accepted was really signed by a person. Each accepted decision must name a recorded
request whose hash it signs, with a key the header lists, and verify with that key; an
`approved` outcome must rest on as many distinct verified approvals as it required.
Refused decisions are evidence of refusal and are only counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hgate.approvals.decision import SignedDecision, signature_valid
from hgate.approvals.interface import ApprovalError
from hgate.approvals.request import ApprovalRequest

ApprovalEvent = tuple[int, str, Mapping[str, Any]]  # line number, type, data


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalEvidence:
    """`line` is the first line that does not hold up (None when all do)."""

    detail: str
    line: int | None = None


def check_approval_events(
    header: Mapping[str, Any], events: Sequence[ApprovalEvent]
) -> ApprovalEvidence | None:
    """None when the transcript has no approvals at all (nothing to report)."""
    section = header.get("approvals")
    if not events and section is None:
        return None
    try:
        keys = _header_keys(section)
    except Exception as exc:
        name = type(exc).__name__
        return ApprovalEvidence(detail=f"the header's approvals cannot be checked ({name})", line=1)
    requests: dict[str, ApprovalRequest] = {}
    approvals: dict[str, set[str]] = {}
    verified = refused = 0
    for line, kind, data in events:
        try:  # an event no hgate writes (unsigned lines can be anything): not a crash
            if kind == "approval.request":
                try:
                    request = ApprovalRequest.from_dict(data.get("request"))
                except ApprovalError as exc:
                    what = f"an unreadable approval request: {exc}"
                    return ApprovalEvidence(detail=what, line=line)
                if request.sha256 != data.get("sha256"):
                    return ApprovalEvidence(detail="a request's recorded hash is wrong", line=line)
                requests[request.id] = request
            elif kind == "approval.decision" and data.get("accepted") is True:
                problem = _accepted_problem(data, requests, keys)
                if problem is not None:
                    return ApprovalEvidence(detail=problem, line=line)
                decision = SignedDecision.from_dict(data["decision"])
                verified += 1
                if decision.decision == "approve":
                    approvals.setdefault(decision.request_id, set()).add(decision.key_id)
            elif kind == "approval.decision":
                refused += 1
            elif kind == "approval.outcome" and data.get("status") == "approved":
                rid = str(data.get("request_id"))
                have, need = (
                    len(approvals.get(rid, ())),
                    requests[rid].required if rid in requests else 1,
                )
                if rid not in requests or have < need:
                    what = f"request {_id(rid)} is recorded approved with {have} of {need} verified"
                    what += " approvals"
                    return ApprovalEvidence(detail=what, line=line)
        except Exception as exc:
            name = type(exc).__name__
            what = f"an approval event hgate never writes: it cannot be checked ({name})"
            return ApprovalEvidence(detail=what, line=line)
    detail = f"{verified} decision(s) verified against {len(keys)} approver key(s)"
    if refused:
        detail += f"; {refused} refused by the session"
    return ApprovalEvidence(detail=detail)


def _header_keys(section: Any) -> dict[str, str]:
    if not isinstance(section, dict) or not isinstance(section.get("approvers"), list):
        return {}
    return {
        str(a.get("key_id")): str(a.get("public_key"))
        for a in section["approvers"]
        if isinstance(a, dict)
    }


def _accepted_problem(
    data: Mapping[str, Any], requests: Mapping[str, ApprovalRequest], keys: Mapping[str, str]
) -> str | None:
    try:
        decision = SignedDecision.from_dict(data.get("decision"))
    except ApprovalError as exc:
        return f"an accepted decision is unreadable: {exc}"
    request = requests.get(decision.request_id)
    if request is None or decision.request_sha256 != request.sha256:
        return f"an accepted decision is not for a recorded request ({_id(decision.request_id)})"
    public_key = keys.get(decision.key_id)
    if public_key is None or decision.key_id not in request.approvers:
        return f"an accepted decision is signed by {_id(decision.key_id)}, not a listed approver"
    if not signature_valid(decision, public_key):
        return f"an accepted decision's signature does not verify with {decision.key_id}"
    return None


_HGATE_ID = re.compile(r"[0-9a-f]{16}|SHA256:[A-Za-z0-9+/]{43}")  # a request id, a key id


def _id(value: str) -> str:
    """An id read from the transcript, for the auditor's output: shown when it has the
    form hgate gives request and key ids, else described (an unsigned line can hold any
    text, a patient's data included, and the verifier must not repeat it)."""
    if _HGATE_ID.fullmatch(value):
        return value
    return f"an id of {len(value)} characters that hgate never makes"
