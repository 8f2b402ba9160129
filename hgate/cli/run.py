"""`hgate run`: one gated session."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer

from hgate.cli.console import err_console
from hgate.cli.workflow_commands import (
    HeldFile,
    append_text,
    in_github_actions,
    mask_announcer,
    output_line,
)
from hgate.errors import EXIT_INTERRUPTED, ConfigError, HgateError, UsageError


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
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            help="Also append hgate's own messages (not the agent's output), its error line "
            "included, to this file: what `hgate summary --log` quotes when no session "
            "started. Use it instead of a `tee` process, which would hold the step's "
            "secrets in a readable environment. A file that cannot be written stops "
            "hgate before the agent starts (exit 67).",
            dir_okay=False,
        ),
    ] = None,
    outputs_to: Annotated[
        Path | None,
        typer.Option(
            "--outputs-to",
            help="Append `exit-code`, `session-id` and `transcript` as name=value lines "
            "(the $GITHUB_OUTPUT format) when hgate ends, also when no session started: "
            "lets a CI step `exec hgate run` and still hand on the exit code. A file that "
            "cannot be written stops hgate before the agent starts (exit 67); if it cannot "
            "be written at the end, a run that would exit 0 exits 67. Opened before the "
            "agent starts and written only through that handle: if anything else changes "
            "it meanwhile, hgate puts back what it wrote and a run that would exit 0 "
            "exits 67 (also for --log).",
            dir_okay=False,
        ),
    ] = None,
    agent_user: Annotated[
        str | None,
        typer.Option(
            "--agent-user",
            help="Run the agent as this OS user (hgate must run as root: `sudo -E hgate "
            "run --agent-user agent -- …`). It then cannot read hgate's key or transcript, "
            "signal hgate, or read the environment of the CI step that started it. The "
            "user must be able to read hgate's installation and the working directory.",
        ),
    ] = None,
    github_masks: Annotated[
        bool | None,
        typer.Option(
            "--github-masks/--no-github-masks",
            help="Print `::add-mask::` for each secret hgate holds (CI token, issued "
            "credentials), and stop the runner from taking workflow commands from the "
            "agent's output. Default: on when GITHUB_ACTIONS=true.",
        ),
    ] = None,
) -> None:
    """Run an agent under hgate: PTY, masking, signed transcript.

    The agent's exit code becomes hgate's; a signal N gives 128+N, the time limit 124,
    an agent command not found 127 (not executable: 126). SIGINT is forwarded to the
    agent; a second one (or the agent still running after `kill_grace`) stops it
    (SIGTERM, then SIGKILL) and hgate exits 130. Any other signal that would kill hgate
    (SIGUSR1, SIGALRM, …) stops the agent the same way, and hgate exits 128+N for it.

    Example: hgate run --policy policies/local.yaml --out runs -- ./agent.sh
    """
    # Both files are opened now, before the agent runs, and written only through these
    # handles: see HeldFile for what an agent that can write them could otherwise do.
    log_file: HeldFile | None = None
    if log is not None:  # a log that cannot hold hgate's lines fails closed, as outputs do
        try:
            log_file = HeldFile(log, "--log")
        except ConfigError as exc:
            if outputs_to is not None:  # still hand on the exit code if that file works
                with contextlib.suppress(ConfigError):
                    append_text(outputs_to, f"exit-code={exc.exit_code}\n", "--outputs-to")
            raise
    outputs_file: HeldFile | None = None
    try:
        if outputs_to is not None and log_file is not None and log_file.is_file(outputs_to):
            outputs_file = log_file  # one file, one handle: hgate's own lines are not foreign
        elif outputs_to is not None:  # before anything runs whose exit code it must hold
            outputs_file = HeldFile(outputs_to, "--outputs-to")
    except HgateError as exc:
        _append(log_file, f"hgate: error: {exc}")
        _seal(log_file)
        raise
    outputs: dict[str, str] = {}
    ended = False  # the session ran to its own exit code (no exception)
    try:
        code = _run(
            command,
            policy,
            identity,
            key_dir,
            out,
            quiet,
            log_file,
            github_masks,
            agent_user,
            outputs,
        )
        ended = True
    except HgateError as exc:
        _append(log_file, f"hgate: error: {exc}")
        outputs["exit-code"] = str(exc.exit_code)
        raise
    except KeyboardInterrupt as exc:
        code = _interrupted(exc, log_file)
        outputs["exit-code"] = str(code)
        if code == EXIT_INTERRUPTED:
            raise
        raise typer.Exit(code) from None
    except Exception:
        outputs["exit-code"] = str(HgateError.exit_code)
        raise
    finally:
        lost = _finish(outputs_file, log_file, outputs, failing=not ended)
    if lost is not None and code == 0:  # the outputs are how an `exec`ed step says success
        raise lost
    raise typer.Exit(code)


def _interrupted(exc: KeyboardInterrupt, log: HeldFile | None) -> int:
    """128+N for the signal that unwound hgate outside the PTY loop (130 for Ctrl-C)."""
    from hgate.session.signals import SignalStop

    if not isinstance(exc, SignalStop):
        return EXIT_INTERRUPTED
    message = f"hgate: stopped by {exc.name}"
    _append(log, message)
    err_console.print(message, markup=False)
    return exc.exit_code


def _finish(
    outputs_file: HeldFile | None,
    log_file: HeldFile | None,
    outputs: dict[str, str],
    *,
    failing: bool,
) -> ConfigError | None:
    """Hand the outputs on and close both files. If something else wrote them during the
    session (the agent), what hgate wrote is put back and the run fails closed: exit 67
    instead of 0, also in the `exit-code` handed on. The error to raise, if any."""
    held_files = {id(held): held for held in (outputs_file, log_file) if held is not None}
    changed = [held for held in held_files.values() if held.changed()]
    code = outputs.get("exit-code", "")
    tampered: ConfigError | None = None
    if changed:
        names = " and ".join(f"{held.option} {held.path}" for held in changed)
        tampered = ConfigError(
            f"{names} changed during the session by another process (the agent?); "
            "put back to what hgate wrote",
            remedy="the agent must not write hgate's CI files: see the quick start",
        )
        _append(log_file, f"hgate: error: {tampered}")
        if outputs.get("exit-code") == "0":  # raised as the run's error, said by the CLI
            outputs["exit-code"] = str(tampered.exit_code)
        else:
            err_console.print(f"hgate: error: {tampered}", markup=False)
    lost = _hand_on(outputs_file, outputs, log_file, code, failing=failing)
    _seal(log_file)
    return lost or tampered


def _hand_on(
    held: HeldFile | None,
    outputs: dict[str, str],
    log: HeldFile | None,
    code: str,
    *,
    failing: bool,
) -> ConfigError | None:
    """Append the outputs to the held file; the error if they could not be, said in one
    line when hgate is failing anyway (its own error stays the one raised)."""
    if held is None:
        return None
    try:
        held.write("".join(output_line(name, value) for name, value in outputs.items()))
        held.seal()
    except OSError as exc:
        lost = ConfigError(
            f"--outputs-to {held.path} could not be written: {exc.strerror or exc}; "
            f"the session's exit code {code} was not handed on"
        )
        _append(log, f"hgate: error: {lost}")
        if failing or code != "0":
            err_console.print(f"hgate: error: {lost}", markup=False)
        return lost
    return None


def _seal(held: HeldFile | None) -> None:
    """Close the log, putting back hgate's lines if the agent changed it; said, not fatal."""
    if held is None:
        return
    try:
        held.seal()
    except OSError as exc:
        err_console.print(f"hgate: cannot restore {held.path}: {exc.strerror}", markup=False)


def _run(
    command: list[str] | None,
    policy: Path | None,
    identity: str,
    key_dir: Path | None,
    out: Path | None,
    quiet: bool,
    log: HeldFile | None,
    github_masks: bool | None,
    agent_user: str | None,
    outputs: dict[str, str],
) -> int:
    """The session; its facts go into `outputs` as they become known."""
    if not command:
        raise UsageError("no agent command given", remedy="hgate run [OPTIONS] -- COMMAND [ARGS]")
    from hgate.policy.loader import load_policy, shipped_policies_dir
    from hgate.session.session import SessionRequest, run_session

    loaded = load_policy(policy if policy is not None else shipped_policies_dir() / "local.yaml")

    def notify(message: str) -> None:
        _append(log, f"hgate: {message}")
        if not quiet:
            err_console.print(f"hgate: {message}", markup=False, style="dim")

    github = github_masks if github_masks is not None else in_github_actions()
    result = run_session(
        SessionRequest(
            policy=loaded,
            argv=command,
            identity_mode=identity,
            key_dir=key_dir,
            sink_dir=out,
            env=dict(os.environ),
            agent_user=agent_user,
            pause_workflow_commands=github,
        ),
        notify=notify,
        on_secret=mask_announcer() if github else None,
    )
    outputs.update(
        {
            "exit-code": str(result.exit_code),
            "session-id": result.session_id,
            "transcript": str(result.transcript),
        }
    )
    findings = sum(result.findings.values())
    notify(
        f"session {result.session_id} ended: {result.reason}, exit {result.exit_code}; "
        f"{result.lines} lines, {findings} masked"
    )
    if result.public_key:
        notify(f"verify with: hgate verify {result.transcript} --key {result.public_key}")
    return result.exit_code


def _append(held: HeldFile | None, *lines: str) -> None:
    """Add lines to hgate's log, through the handle opened before the session. A failure
    here (the disk full) is said, not fatal: the session's own outcome stands."""
    if held is None or not lines:
        return
    try:
        held.write("".join(f"{line}\n" for line in lines))
    except OSError as exc:
        err_console.print(f"hgate: cannot append to {held.path}: {exc.strerror}", markup=False)
