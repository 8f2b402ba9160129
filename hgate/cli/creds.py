"""`hgate creds gc`: drop the session roles a crashed runner left behind."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Annotated

import typer

from hgate.cli.console import console
from hgate.errors import ConfigError, CredentialError

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
        bool, typer.Option("--dry-run", help="List what would be dropped; drop nothing.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Drop every hgate_s_* role whose session has ended (its comment, else VALID UNTIL).

    Roles of sessions still running are left alone. Exit 68 if a role could not be dropped.
    """
    if not admin_dsn:  # --admin-dsn, else $HGATE_ADMIN_DSN, else the file it names
        from hgate.session.credentials import env_secret

        admin_dsn = env_secret(os.environ, "HGATE_ADMIN_DSN").strip()
    if not admin_dsn:
        raise ConfigError(
            "no admin DSN",
            remedy=f"pass --admin-dsn or set HGATE_ADMIN_DSN or {ADMIN_DSN_FILE_ENV}",
        )
    try:
        from hgate.creds.postgres_roles import collect_garbage
    except ImportError as exc:
        raise ConfigError(
            "`creds gc` needs psycopg", remedy="pip install 'hgate[postgres]'"
        ) from exc
    report = collect_garbage(admin_dsn, now=datetime.now(UTC), dry_run=dry_run)
    if json_output:
        data = {
            "dry_run": dry_run,
            "dropped": list(report.dropped),
            "active": [{"role": r, "ends": e.isoformat()} for r, e in report.active],
            "unmarked": list(report.unmarked),
            "failed": [{"role": r, "error": e} for r, e in report.failed],
        }
        console.print_json(json.dumps(data))
    else:
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
    if report.failed:
        raise CredentialError(f"{len(report.failed)} session role(s) could not be dropped")
