"""`hgate policy check`: validate a policy and say what it grants and masks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hgate.cli.console import console, err_console

if TYPE_CHECKING:
    from hgate.policy.model import Policy


def check(
    file: Annotated[
        Path,
        typer.Argument(help="The policy file to check.", readable=False),  # the loader checks it
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Validate a policy and its includes; print a summary, or the first error (file:line:col)."""
    from hgate.policy.loader import load_policy

    policy = load_policy(file)
    summary = policy_summary(policy)
    if json_output:
        console.print_json(json.dumps(summary))
        return
    console.print(f"policy {policy.name!r} is valid (version {policy.version})", markup=False)
    console.print(f"  sha256       {policy.source.sha256}", markup=False)
    for include in summary["includes"]:
        console.print(
            f"  includes     {include['path']} (sha256 {include['sha256'][:12]})", markup=False
        )
    identities = (
        ", ".join(
            f"{r['name']}{' (local, unverified)' if r['local'] else ''}"
            for r in summary["identities"]
        )
        or "none: every session is denied"
    )
    console.print(f"  identities   {identities}", markup=False)
    for issuer in summary["issuers"]:
        dev = ", DEVELOPMENT" if issuer["development"] else ""
        console.print(
            f"  issuer       {issuer['name']}: {issuer['url']} (aud {issuer['audience']!r}{dev})",
            markup=False,
        )
    for warning in summary["warnings"]:
        err_console.print(f"warning: {warning}", markup=False)
    mask = summary["mask"]
    console.print(
        f"  masking      detectors {mask['detectors']}, {mask['rules']} rule(s), "
        f"{mask['values']} exact value(s), values of env {mask['values_from_env']}, "
        f"budget {mask['max_findings'] or 'unlimited'}",
        markup=False,
    )
    console.print(
        f"  session      max {summary['session']['max_duration']}s, kill grace "
        f"{summary['session']['kill_grace']}s",
        markup=False,
    )
    console.print(
        f"  environment  removes {summary['environment']['remove'] or '[]'} "
        "plus hgate's own secrets",
        markup=False,
    )
    sinks = ", ".join(f"{s['type']}:{s['path']}" for s in summary["transcript"]["sinks"])
    console.print(
        f"  transcript   {sinks}; checkpoint every "
        f"{summary['transcript']['checkpoint_every_lines']} lines or "
        f"{summary['transcript']['checkpoint_every_seconds']}s",
        markup=False,
    )


def policy_summary(policy: Policy) -> dict[str, Any]:
    from hgate.policy.claims import risky_rules

    detectors = policy.mask.detectors
    return {
        "name": policy.name,
        "version": policy.version,
        "path": str(policy.source.path),
        "sha256": policy.source.sha256,
        "includes": [{"path": str(s.path), "sha256": s.sha256} for s in policy.includes],
        "identities": [
            {"name": r.name, "local": r.local, "issuer": r.issuer, "grants": r.grants.to_dict()}
            for r in policy.identities
        ],
        "issuers": [
            {
                "name": i.name,
                "url": i.url,
                "audience": i.audience,
                "provider": i.provider,
                "development": i.development,
            }
            for i in policy.issuers
        ],
        "warnings": [str(w) for w in risky_rules(policy.issuers, policy.identities)],
        "mask": {
            "detectors": "all" if detectors.enabled is None else list(detectors.enabled),
            "disabled": list(detectors.disabled),
            "rules": len(policy.mask.rules),
            "values": len(policy.mask.values),
            "values_from_env": list(policy.mask.values_from_env),
            "max_findings": policy.mask.max_findings,
        },
        "session": {
            "max_duration": policy.session.max_duration,
            "kill_grace": policy.session.kill_grace,
        },
        "environment": {
            "remove": list(policy.environment.remove),
            "mask": list(policy.environment.mask),
        },
        "transcript": {
            "sinks": [{"type": s.type, "path": s.path} for s in policy.transcript.sinks],
            "checkpoint_every_lines": policy.transcript.checkpoint_every_lines,
            "checkpoint_every_seconds": policy.transcript.checkpoint_every_seconds,
        },
    }
