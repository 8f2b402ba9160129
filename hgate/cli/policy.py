"""`hgate policy check`: validate a policy and say what it grants and masks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hgate.cli.console import console, err_console

if TYPE_CHECKING:
    from hgate.policy.identities import Grants
    from hgate.policy.model import Policy, SinkSettings


def check(
    file: Annotated[
        Path,
        typer.Argument(help="The policy file to check.", readable=False),  # the loader checks it
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Validate a policy and its includes; print what it grants, or the first error.

    The summary names each identity's grants (time limit, database tables, SSH hosts),
    the masking, command, database and approval settings and the transcript's sinks.
    An error is one line with its file:line:col (exit 65).
    """
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
    for rule in policy.identities:
        console.print(f"  grants       {rule.name}: {_grants_text(rule.grants)}", markup=False)
    for issuer in summary["issuers"]:
        dev = ", DEVELOPMENT" if issuer["development"] else ""
        console.print(
            f"  issuer       {issuer['name']}: {issuer['url']} (aud {issuer['audience']!r}{dev})",
            markup=False,
        )
    for warning in summary["warnings"]:
        err_console.print(f"warning: {warning}", markup=False)
    mask = summary["mask"]
    disabled = f" (disabled {', '.join(mask['disabled'])})" if mask["disabled"] else ""
    console.print(
        f"  masking      detectors {mask['detectors']}{disabled}, {mask['rules']} rule(s), "
        f"{mask['values']} exact value(s), values of env {mask['values_from_env']}, "
        f"budget {mask['max_findings'] or 'unlimited'}",
        markup=False,
    )
    console.print(
        f"  session      max {summary['session']['max_duration']}s, kill grace "
        f"{summary['session']['kill_grace']}s",
        markup=False,
    )
    environment = summary["environment"]
    masked_env = f"; masks {environment['mask']}" if environment["mask"] else ""
    console.print(
        f"  environment  removes {environment['remove'] or '[]'} "
        f"plus hgate's own secrets{masked_env}",
        markup=False,
    )
    commands = summary["commands"]
    console.print(
        f"  commands     default {commands['default']}, unparsable {commands['unparsable']}, "
        f"on violation {commands['on_violation']}; {commands['rules']} rule(s)"
        + (f": {_counts_text(commands['actions'])}" if commands["rules"] else ""),
        markup=False,
    )
    database = summary["database"]
    if database["proxy"]:
        console.print(
            f"  database     proxy on, statements default {database['default']}, "
            f"{database['rules']} rule(s), {database['masked_columns']} masked column(s)",
            markup=False,
        )
    if (approvals := summary["approvals"]) is not None:
        console.print(
            f"  approvals    {approvals['channel']} channel, {approvals['approvers']} "
            f"approver(s), {approvals['required']} required, timeout {approvals['timeout']:g}s",
            markup=False,
        )
    sinks = ", ".join(_sink_text(s) for s in summary["transcript"]["sinks"])
    console.print(
        f"  transcript   {sinks}; checkpoint every "
        f"{summary['transcript']['checkpoint_every_lines']} lines or "
        f"{summary['transcript']['checkpoint_every_seconds']}s",
        markup=False,
    )


def _grants_text(grants: Grants) -> str:
    """One line a reviewer can check against the task: the limit and each credential."""
    parts: list[str] = []
    if grants.max_duration is not None:
        parts.append(f"max_duration {grants.max_duration:g}s")
    if (database := grants.database) is not None:
        tables = ", ".join(
            f"{'/'.join(t.privileges)}"
            + (f" ({', '.join(t.columns)})" if t.columns else "")
            + f" on {t.schema}.{t.table}"
            for t in database.tables
        )
        mode = "read-only" if database.read_only else "read-write"
        parts.append(f"database {database.name}: {tables} ({mode})")
    if (ssh := grants.ssh) is not None:
        hosts = ", ".join(f"{h.host}:{h.port}" for h in ssh.hosts)
        validity = f" for {ssh.validity:g}s" if ssh.validity is not None else ""
        parts.append(
            f"ssh as {ssh.user} (principals {', '.join(ssh.principals)}) to {hosts}{validity}"
        )
    return "; ".join(parts) or "nothing beyond the session's limits"


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {action}" for action, n in counts.items() if n)


def _sink_text(sink: dict[str, Any]) -> str:
    if sink["type"] == "directory":
        return f"directory:{sink['location']}"
    return sink["location"] if sink["type"] == "s3" else f"collector {sink['location']}"


def _sink_location(sink: SinkSettings) -> str:
    """Where a sink writes: a directory, s3://bucket/prefix or the collector's URL."""
    if sink.type == "s3":
        return f"s3://{sink.bucket}/{sink.prefix}" if sink.prefix else f"s3://{sink.bucket}"
    return sink.url if sink.type == "http" else sink.path


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
        "commands": {
            "default": policy.commands.default,
            "unparsable": policy.commands.unparsable,
            "on_violation": policy.commands.on_violation,
            "rules": len(policy.commands.rules),
            "actions": {
                action: sum(r.action == action for r in policy.commands.rules)
                for action in ("allow", "block", "approve")
            },
        },
        "database": {
            "proxy": policy.database.proxy,
            "default": policy.database.default,
            "rules": len(policy.database.rules),
            "masked_columns": len(policy.database.masks),
        },
        "approvals": None
        if policy.approvals is None
        else {
            "channel": policy.approvals.channel.type,
            "approvers": len(policy.approvals.approvers),
            "required": policy.approvals.default.required,
            "timeout": policy.approvals.default.timeout,
        },
        "transcript": {
            "sinks": [
                {"type": s.type, "path": s.path, "location": _sink_location(s)}
                for s in policy.transcript.sinks
            ],
            "checkpoint_every_lines": policy.transcript.checkpoint_every_lines,
            "checkpoint_every_seconds": policy.transcript.checkpoint_every_seconds,
        },
    }
