"""`hgate approve`, `hgate deny`, `hgate approvals list`: an approver's side of a held action.

The approver signs with their own Ed25519 key (hgate's PEM or an OpenSSH private key
from `ssh-keygen -t ed25519`) over the request's hash; the session checks the rest.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hgate.cli.console import console, untrusted_markup
from hgate.cli.evidence import FilesCheckedByHgate
from hgate.errors import UsageError

if TYPE_CHECKING:
    from hgate.approvals import ApprovalRequest, Inbox
    from hgate.approvals.decision import Kind

approvals_app = typer.Typer(help="See requests held for approval.", no_args_is_help=True)

RequestArg = Annotated[str, typer.Argument(help="The request id from the agent's notice.")]
KeyOption = Annotated[
    Path,
    typer.Option("--key", help="Your private key (Ed25519 PEM or OpenSSH).", show_default=False),
]
DirOption = Annotated[
    Path | None,
    typer.Option(
        "--channel-dir",
        envvar="HGATE_APPROVALS_DIR",
        help="The shared approvals directory (directory channel).",
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="HGATE_APPROVALS_URL",
        help="The approvals service URL (http channel); $HGATE_APPROVALS_TOKEN is its token.",
    ),
]


def approve(
    request_id: RequestArg,
    key: KeyOption,
    channel_dir: DirOption = None,
    url: UrlOption = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded, signed).")] = "",
) -> None:
    """Approve a held command or statement, signing the request with your key."""
    _decide(request_id, key, channel_dir, url, "approve", reason)


def deny(
    request_id: RequestArg,
    key: KeyOption,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded, signed, shown to the agent).")
    ],
    channel_dir: DirOption = None,
    url: UrlOption = None,
) -> None:
    """Deny a held command or statement, with a reason, signing it with your key."""
    _decide(request_id, key, channel_dir, url, "deny", reason)


@approvals_app.command("list", cls=FilesCheckedByHgate)
def list_requests(
    channel_dir: DirOption = None,
    url: UrlOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """List the requests waiting for a decision (not yet settled or expired)."""
    pending = _inbox(channel_dir, url).pending()
    if json_output:
        console.print_json(json.dumps([r.to_dict() for r in pending], ensure_ascii=False))
        return
    if not pending:
        console.print("no pending approval requests")
    for request in pending:
        _show(request)


def _decide(
    request_id: str, key: Path, channel_dir: Path | None, url: str | None, kind: Kind, reason: str
) -> None:
    from rich.markup import escape

    from hgate.approvals import ApprovalError, sign_decision
    from hgate.audit import load_signer

    inbox = _inbox(channel_dir, url)
    signer = load_signer(key)
    request = inbox.fetch(request_id)
    _show(request)
    if os.environ.get("HGATE_SESSION_ID") == request.session_id:
        # A speed bump, not the guard (the agent can unset the variable): the session
        # refuses every decision not signed by a listed approver's key anyway.
        raise ApprovalError(
            f"request {request.id} is from the session this runs in: it cannot approve itself",
            remedy="an approver decides from outside the agent's session",
        )
    if signer.key_id not in request.approvers:
        raise ApprovalError(
            f"your key {signer.key_id} is not an approver for request {request.id}",
            remedy="the policy's approvals.approvers must list your public key for this rule",
        )
    if request.expires <= time.time():
        raise ApprovalError(f"request {request.id} expired at {request.expires_at}")
    if kind == "deny" and not reason.strip():
        raise UsageError("a denial needs --reason")
    decision = sign_decision(request, signer, decision=kind, reason=reason, now=time.time())
    inbox.submit(decision)
    verb = "approved" if kind == "approve" else "denied"
    console.print(f"{verb} request {escape(request.id)} as {escape(signer.key_id)}")


def _inbox(channel_dir: Path | None, url: str | None) -> Inbox:
    if (channel_dir is None) == (url is None):
        raise UsageError(
            "give exactly one of --channel-dir or --url",
            remedy="the agent's waiting notice says which one the session uses",
        )
    from hgate.approvals import DirectoryChannel, HttpChannel

    if channel_dir is not None:
        return DirectoryChannel(channel_dir)
    assert url is not None
    return HttpChannel(url, token=os.environ.get("HGATE_APPROVALS_TOKEN") or None)


def _show(request: ApprovalRequest) -> None:
    """The request as the approver must see it: every character the agent chose shown,
    none obeyed (an escape sequence in the action could paint a harmless command over
    the one that runs), and blank padding counted, not printed (it could scroll the
    start of the action off the screen)."""
    from rich.markup import escape

    from hgate.approvals.request import shown_action

    shown = untrusted_markup
    console.print(f"request   {shown(request.id)}  (session {shown(request.session_id)})")
    console.print(f"  who     {shown(request.subject)} ({shown(request.issuer)})")
    console.print(f"  action  {escape(shown_action(request.action))}", emoji=False)
    size = len(request.action)  # a long one starts above the screen: say so below it
    console.print(f"  length  {size} character{'' if size == 1 else 's'}")
    reason = f" ({request.reason})" if request.reason else ""
    console.print(f"  rule    {shown(request.rule)}{shown(reason)}", emoji=False)
    console.print(f"  needs   {request.required} approval(s) before {shown(request.expires_at)}")
    console.print(f"  sha256  {request.sha256}")
