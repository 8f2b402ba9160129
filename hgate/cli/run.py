"""`hgate run`: one gated session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from hgate.cli.console import err_console
from hgate.cli.workflow_commands import in_github_actions, mask_announcer
from hgate.errors import UsageError


def run(
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The agent command, after `--`: hgate run -- python agent.py"),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", "-p", help="Policy file. Default: the shipped local policy.", dir_okay=False
        ),
    ] = None,
    identity: Annotated[
        str,
        typer.Option(
            "--identity",
            help="Where the session's identity comes from: auto, github (ID-token request), "
            "gitlab (the issuer's id_tokens variable), env ($HGATE_ID_TOKEN), file "
            "($HGATE_ID_TOKEN_FILE) or local (unverified, or a dev-issuer token). See "
            "docs/identity.md.",
        ),
    ] = "auto",
    key_dir: Annotated[
        Path | None,
        typer.Option(
            "--key-dir",
            help="Directory of the signing key (hgate.key); created "
            "on first use. Default: $HGATE_HOME or ~/.config/hgate.",
            file_okay=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for the transcript, instead of the policy's directory sink.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only the agent's (masked) output.")
    ] = False,
    github_masks: Annotated[
        bool | None,
        typer.Option(
            "--github-masks/--no-github-masks",
            help="Print `::add-mask::` for each secret hgate holds (CI token, issued "
            "credentials). Default: on when GITHUB_ACTIONS=true.",
        ),
    ] = None,
) -> None:
    """Run an agent under hgate: PTY, masking, signed transcript.

    The agent's exit code becomes hgate's; a signal N gives 128+N, the time limit 124.
    """
    if not command:
        raise UsageError("no agent command given", remedy="hgate run [OPTIONS] -- COMMAND [ARGS]")
    from hgate.policy.loader import load_policy, shipped_policies_dir
    from hgate.session.session import SessionRequest, run_session

    loaded = load_policy(policy if policy is not None else shipped_policies_dir() / "local.yaml")

    def notify(message: str) -> None:
        if not quiet:
            err_console.print(f"hgate: {message}", markup=False, style="dim")

    result = run_session(
        SessionRequest(
            policy=loaded,
            argv=command,
            identity_mode=identity,
            key_dir=key_dir,
            sink_dir=out,
            env=dict(os.environ),
        ),
        notify=notify,
        on_secret=mask_announcer()
        if (github_masks if github_masks is not None else in_github_actions())
        else None,
    )
    if result.key_created:
        notify(f"created a new signing key (fingerprint {result.key_fingerprint})")
    findings = sum(result.findings.values())
    notify(
        f"session {result.session_id} ended: {result.reason}, exit {result.exit_code}; "
        f"{result.lines} lines, {findings} masked"
    )
    if result.public_key:
        notify(f"verify with: hgate verify {result.transcript} --key {result.public_key}")
    raise typer.Exit(result.exit_code)
