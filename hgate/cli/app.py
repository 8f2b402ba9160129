"""The `hgate` command: wires arguments to the library and maps errors to exit codes.

This is the only place that calls sys.exit. A user error prints one line on stderr;
`--debug` (or HGATE_DEBUG=1) adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from hgate import __version__
from hgate.cli import approve as approve_cmd
from hgate.cli import creds as creds_cmd
from hgate.cli import identity as identity_cmd
from hgate.cli import keygen as keygen_cmd
from hgate.cli import mask as mask_cmd
from hgate.cli import policy as policy_cmd
from hgate.cli import replay as replay_cmd
from hgate.cli import report as report_cmd
from hgate.cli import run as run_cmd
from hgate.cli import shell as shell_cmd
from hgate.cli import show as show_cmd
from hgate.cli import summary as summary_cmd
from hgate.cli import verify as verify_cmd
from hgate.cli.console import err_console, settle_output, write_out
from hgate.cli.evidence import FilesCheckedByHgate
from hgate.cli.workflow_commands import annotate_error
from hgate.errors import EXIT_INTERRUPTED, HgateError

app = typer.Typer(
    name="hgate",
    help=(
        "A HIPAA data-path gateway for AI agents in CI.\n\n"
        "Runs an agent under a PTY, masks PHI and secrets in everything it prints, and "
        "writes a signed, hash-chained transcript that `hgate verify` checks offline.\n\n"
        "Start here:  hgate run -- ./my-agent.sh   (shipped local policy, key created on "
        "first use, transcript under ./runs)"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
policy_app = typer.Typer(help="Check, explain and test policies.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _version_callback(value: bool) -> None:
    if value:
        write_out(f"hgate {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for errors (also HGATE_DEBUG=1).")
    ] = False,
) -> None:
    if debug:
        os.environ["HGATE_DEBUG"] = "1"


class _PolicyPathCommand(TyperCommand):
    """A command whose `--policy` file the policy loader checks, not click.

    click would refuse a directory or an unreadable file as a usage error (exit 2) while
    a missing one reaches the loader (exit 65); the loader says all three the same way,
    `file: problem`, exit 65. (run.py declares the option; the check is relaxed here.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.name == "policy" and hasattr(param.type, "dir_okay"):  # a Path type
                setattr(param.type, "dir_okay", True)  # noqa: B010 - not in ParamType's stubs
                setattr(param.type, "readable", False)  # noqa: B010


app.command(
    "run",
    cls=_PolicyPathCommand,
    context_settings={"allow_interspersed_args": False},
)(run_cmd.run)
app.command("verify", cls=FilesCheckedByHgate)(verify_cmd.verify)
# their file arguments are checked by the commands: one rule, docs/commands.md
app.command("mask", cls=FilesCheckedByHgate)(mask_cmd.mask)
app.command("show", cls=FilesCheckedByHgate)(show_cmd.show)
app.command("replay", cls=FilesCheckedByHgate)(replay_cmd.replay)
app.command("report", cls=FilesCheckedByHgate)(report_cmd.report)
app.command("summary", cls=FilesCheckedByHgate)(summary_cmd.summary)
shell_cmd.register(app)
app.command("keygen", cls=FilesCheckedByHgate)(keygen_cmd.keygen)
policy_app.command("check", cls=FilesCheckedByHgate)(policy_cmd.check)
policy_app.command("test", cls=FilesCheckedByHgate)(mask_cmd.test)
policy_app.command("explain", cls=FilesCheckedByHgate)(identity_cmd.explain)
app.add_typer(identity_cmd.dev_issuer_app, name="dev-issuer")
app.add_typer(creds_cmd.creds_app, name="creds")
app.command("approve", cls=FilesCheckedByHgate)(approve_cmd.approve)
app.command("deny", cls=FilesCheckedByHgate)(approve_cmd.deny)
app.add_typer(approve_cmd.approvals_app, name="approvals")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turn every outcome into exactly one exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = _main(args)
    finally:  # also when click's standalone mode exits with SystemExit
        settle_output()
    sys.exit(code)


def _main(args: list[str]) -> int:
    debug = "--debug" in args[: args.index("--") if "--" in args else len(args)]
    try:
        app(args=args, prog_name="hgate")  # click's standalone mode exits for its own errors
        code: int = 0
    except HgateError as exc:
        if debug or os.environ.get("HGATE_DEBUG") == "1":
            traceback.print_exc()
        err_console.print(f"hgate: error: {exc}", markup=False)
        identity_cmd.annotate_for_ci(exc)
        annotate_error(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        err_console.print("hgate: interrupted")
        code = EXIT_INTERRUPTED
    except Exception as exc:
        if debug or os.environ.get("HGATE_DEBUG") == "1":
            traceback.print_exc()
        err_console.print(
            f"hgate: internal error: {type(exc).__name__} (run with --debug for the traceback)",
            markup=False,
        )
        code = HgateError.exit_code
    return code


if __name__ == "__main__":
    main()
