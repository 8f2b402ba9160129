"""`hgate creds gc`: drop the session roles and SSH key directories a killed hgate left."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hgate.cli.console import console
from hgate.errors import ConfigError, CredentialError, UsageError

if TYPE_CHECKING:
    from hgate.creds.ssh_directories import SshGcReport

ADMIN_DSN_FILE_ENV = "HGATE_ADMIN_DSN_FILE"  # read like `hgate run` does (docs/credentials.md)

creds_app = typer.Typer(
    help="Ephemeral credentials: clean up after runners that could not.", no_args_is_help=True
)


@creds_app.command("gc")
def gc(
    admin_dsn: Annotated[
        str | None,
        typer.Option(
            "--admin-dsn",
            envvar="HGATE_ADMIN_DSN",
            help="Admin DSN of the cluster (prefer the HGATE_ADMIN_DSN variable, or "
            "HGATE_ADMIN_DSN_FILE naming a file that holds it: a command line is visible to "
            "other processes).",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List what would be dropped or removed; change nothing."),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ssh_only: Annotated[
        bool,
        typer.Option(
            "--ssh-only", help="Remove only stale SSH key directories; no database is contacted."
        ),
    ] = False,
    agent_users: Annotated[
        list[str] | None,
        typer.Option(
            "--agent-user",
            help="Also remove the stale SSH key directories of this user: a session run "
            "with `hgate run --agent-user NAME` leaves them owned by NAME (repeatable; "
            "needs root, as that run did).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Drop every hgate_s_* role whose session has ended (its comment, else VALID UNTIL),
    and remove every hgate-ssh-* directory of this user whose certificate has expired.

    Roles and directories of sessions still running are left alone. Exit 68 if one could
    not be dropped or removed.

    A session run with --agent-user leaves its directory owned by that user: name it
    (`sudo hgate creds gc --ssh-only --agent-user agent`) to remove those too.
    """
    from hgate.creds.ssh_directories import collect_ssh_garbage, ssh_directory_roots

    now = datetime.now(UTC)
    owners = _owners(agent_users or [])
    if ssh_only:
        ssh = collect_ssh_garbage(
            ssh_directory_roots(os.environ), now=now, dry_run=dry_run, owners=owners
        )
        _print_ssh(ssh, dry_run=dry_run, json_output=json_output, extra=None)
        _fail_on(ssh_failed=len(ssh.failed), roles_failed=0)
        return
    if not admin_dsn:  # --admin-dsn, else $HGATE_ADMIN_DSN, else the file it names
        from hgate.session.credentials import env_secret

        admin_dsn = env_secret(os.environ, "HGATE_ADMIN_DSN").strip()
    if not admin_dsn:
        raise ConfigError(
            "no admin DSN",
            remedy=f"pass --admin-dsn or set HGATE_ADMIN_DSN or {ADMIN_DSN_FILE_ENV} "
            "(or --ssh-only to remove only stale SSH key directories)",
        )
    try:
        from hgate.creds.postgres_roles import collect_garbage
    except ImportError as exc:
        raise ConfigError(
            "`creds gc` needs psycopg", remedy="pip install 'hgate[postgres]'"
        ) from exc
    # the DSN and psycopg are checked first: a refusal removes nothing
    ssh = collect_ssh_garbage(
        ssh_directory_roots(os.environ), now=now, dry_run=dry_run, owners=owners
    )
    report = collect_garbage(admin_dsn, now=now, dry_run=dry_run)
    if json_output:
        data = {
            "dry_run": dry_run,
            "dropped": list(report.dropped),
            "active": [{"role": r, "ends": e.isoformat()} for r, e in report.active],
            "unmarked": list(report.unmarked),
            "failed": [{"role": r, "error": e} for r, e in report.failed],
        }
        _print_ssh(ssh, dry_run=dry_run, json_output=True, extra=data)
    else:
        _print_ssh(ssh, dry_run=dry_run, json_output=False, extra=None)
        verb = "would drop" if dry_run else "dropped"
        for role in report.dropped:
            console.print(f"{verb} {role}", markup=False)
        for role, ends in report.active:
            console.print(f"kept {role}: its session ends {ends.isoformat()}", markup=False)
        for role in report.unmarked:
            console.print(f"kept {role}: no hgate end-time marker", markup=False)
        for role, error in report.failed:
            console.print(f"FAILED {role}: {error}", markup=False)
        console.print(
            f"{len(report.dropped)} {verb}, {len(report.active)} active, "
            f"{len(report.unmarked)} unmarked, {len(report.failed)} failed",
            markup=False,
        )
    _fail_on(ssh_failed=len(ssh.failed), roles_failed=len(report.failed))


def _owners(names: list[str]) -> tuple[int, ...]:
    """This user and each named one (checked: it exists, and only root may act for
    another user)."""
    import pwd

    owners = [os.getuid()]
    for name in names:
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            raise UsageError(f"--agent-user: no user named {name!r}") from None
        if uid != os.getuid() and os.geteuid() != 0:
            raise UsageError(
                f"--agent-user {name}: removing another user's directories needs root",
                remedy=f"sudo -E hgate creds gc --ssh-only --agent-user {name}",
            )
        owners.append(uid)
    return tuple(owners)


def _print_ssh(
    report: SshGcReport, *, dry_run: bool, json_output: bool, extra: dict[str, Any] | None
) -> None:
    """The SSH part of the report: printed first as text, or a `ssh` key of the JSON."""
    if json_output:
        data: dict[str, Any] = {"dry_run": dry_run} if extra is None else extra
        data["ssh"] = {
            "removed": [{"directory": d, "expired": e.isoformat()} for d, e in report.expired],
            "active": [{"directory": d, "ends": e.isoformat()} for d, e in report.active],
            "unreadable": [{"directory": d, "reason": r} for d, r in report.unreadable],
            "failed": [{"directory": d, "error": e} for d, e in report.failed],
            "other_users": report.other_users,
        }
        console.print_json(json.dumps(data))
        return
    verb = "would remove" if dry_run else "removed"
    for directory, ended in report.expired:
        console.print(
            f"{verb} {directory}: its certificate expired {ended.isoformat()}", markup=False
        )
    for directory, ends in report.active:
        console.print(
            f"kept {directory}: its certificate is valid until {ends.isoformat()}", markup=False
        )
    for directory, reason in report.unreadable:
        console.print(f"kept {directory}: no readable certificate ({reason})", markup=False)
    for directory, error in report.failed:
        console.print(f"FAILED {directory}: {error}", markup=False)
    console.print(
        f"SSH directories: {len(report.expired)} {verb}, {len(report.active)} active, "
        f"{len(report.unreadable)} unreadable, {len(report.failed)} failed",
        markup=False,
    )
    if report.other_users:
        console.print(
            f"not looked into: {report.other_users} hgate-ssh-* directory(ies) of other "
            "users (an `hgate run --agent-user NAME` session's: add --agent-user NAME)",
            markup=False,
        )


def _fail_on(*, ssh_failed: int, roles_failed: int) -> None:
    problems = []
    if roles_failed:
        problems.append(f"{roles_failed} session role(s) could not be dropped")
    if ssh_failed:
        problems.append(f"{ssh_failed} SSH key directory(ies) could not be removed")
    if problems:
        raise CredentialError("; ".join(problems))
