"""GitHub Actions workflow commands hgate prints: masks for issued secrets, annotations.

The runner reads these from a step's stdout. `::add-mask::` makes it hide a value in
every later log line of the job, so a credential hgate issued stays hidden even if some
other step prints it; annotations put a policy mistake on the policy file's line in the
pull request. Nothing is printed outside GitHub Actions.

The CI's own files (`$GITHUB_OUTPUT`, `$GITHUB_ENV`, a GitLab dotenv report) are how a
step hands its results on; one that cannot be written is an error, checked before the
work starts so that nothing runs whose outcome would be lost.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from hgate.errors import ConfigError, HgateError, PolicyError

MIN_MASK_LENGTH = 4


def in_github_actions(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def mask_commands(value: str) -> list[str]:
    """`::add-mask::` lines for a value: the whole (escaped) value, and each line of a
    multi-line one, because the runner matches masks line by line."""
    parts = [value, *value.splitlines()] if "\n" in value or "\r" in value else [value]
    seen: list[str] = []
    for part in parts:
        part = part.strip("\r")
        if len(part.strip()) >= MIN_MASK_LENGTH and part not in seen:
            seen.append(part)
    return [f"::add-mask::{escape_data(part)}" for part in seen]


def mask_announcer(write: Callable[[str], None] | None = None) -> Callable[[str], None]:
    """The callback `run_session` calls with each secret the moment hgate holds it."""

    def announce(value: str) -> None:
        out = write or _stdout
        for line in mask_commands(value):
            out(line + "\n")

    return announce


def annotation(
    level: str,
    message: str,
    *,
    title: str = "",
    file: str = "",
    line: int | None = None,
    col: int | None = None,
) -> str:
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if line is not None:
        props.append(f"line={line}")
    if col is not None:
        props.append(f"col={col}")
    if title:
        props.append(f"title={escape_property(title)}")
    joined = " " + ",".join(props) if props else ""
    return f"::{level}{joined}::{escape_data(message)}"


def policy_error_annotation(exc: PolicyError, env: Mapping[str, str] | None = None) -> str:
    """`::error file=policies/ci.yaml,line=12,col=5::…` from a PolicyError's location."""
    file, line, col = split_location(exc.location or "")
    if file:
        file = _workspace_relative(file, (os.environ if env is None else env))
    return annotation(
        "error", HgateError.__str__(exc), title="hgate policy error", file=file, line=line, col=col
    )


def split_location(location: str) -> tuple[str, int | None, int | None]:
    """`file:line:col` (a file name may itself hold colons) into its parts."""
    parts = location.rsplit(":", 2)
    numbers = [int(p) if p.isdigit() else None for p in parts[1:]]
    if len(parts) == 3 and all(n is not None for n in numbers):
        return parts[0], numbers[0], numbers[1]
    head, _, tail = location.rpartition(":")
    if head and tail.isdigit():
        return head, int(tail), None
    return location, None, None


def check_appendable(path: Path, option: str) -> None:
    """Raise ConfigError (exit 67) unless `path` can be appended to (it is created if
    missing, as the append would); said before the work whose results it is to hold."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {path} cannot be written: {_reason(exc)}") from None


def append_text(path: Path, text: str, option: str) -> None:
    """Append `text` to a CI file; ConfigError (exit 67) with the reason if it cannot."""
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ConfigError(f"{option} {path} could not be written: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def annotate_error(exc: HgateError) -> None:
    """Called by the CLI's error handler: a policy error becomes a file/line annotation."""
    if in_github_actions() and isinstance(exc, PolicyError):
        _stdout(policy_error_annotation(exc) + "\n")


def _workspace_relative(file: str, env: Mapping[str, str]) -> str:
    workspace = env.get("GITHUB_WORKSPACE")
    path = Path(file)
    if workspace and path.is_absolute():
        try:
            return str(path.resolve().relative_to(Path(workspace).resolve()))
        except ValueError:
            return file
    return file


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
