"""Context words: the label near a value that turns a bare shape into a finding.

Nine digits are a build number until `SSN` stands in front of them. Each detector that
needs context owns a `ContextWords` and asks whether one occurs shortly before (or
after) a candidate, on the same line.
"""

from __future__ import annotations

import re

__all__ = [
    "DEBIAN_ARCHITECTURE",
    "PLACEHOLDERS",
    "ContextWords",
    "is_placeholder",
    "is_reference",
    "is_working_directory",
]

PLACEHOLDERS = frozenset(
    {"", "null", "none", "nil", "n/a", "na", "true", "false", "unknown", "redacted", "xxx"}
    | {"yes", "no", "not", "unavailable", "pending", "missing", "empty"}  # `password: YES`
)
# A variable reference is `${...}` or `$NAME` in one case (`$DB_PASSWORD`, `$db_pass`):
# a mixed-case `$dg_mvQT45aD` is a password that starts with `$`, and is masked.
# Also a CI expression (`${{ secrets.DB_PASSWORD }}`) and a command substitution
# (`$(cat /run/secrets/db)`): where the value comes from, not the value.
_PLACEHOLDER_SHAPE = re.compile(
    r"\*+|x+|X+|<[^>]*>|\$\{[A-Za-z_][A-Za-z0-9_]*\}?|\$[A-Z_][A-Z0-9_]*|\$[a-z_][a-z0-9_]*"
    r"|\[[^\]]*\]|-+|\?+"
    r"|\$\{\{.*|\$\(.*\)"
)
# `password = var.db_password`: unquoted, a Terraform reference (quoted, it is a string)
_REFERENCE = re.compile(r"(?:var|local|module|data)\.[A-Za-z_][A-Za-z0-9_.-]*")


def is_placeholder(value: str) -> bool:
    """A value that stands for no value (`null`, `***`, `${VAR}`, `<redacted>`)."""
    return value.lower() in PLACEHOLDERS or _PLACEHOLDER_SHAPE.fullmatch(value) is not None


# `pkg:amd64` in apt and dpkg output: a package and its architecture, not `label: value`
DEBIAN_ARCHITECTURE = r"(?:all|any|amd64|arm64|armel|armhf|i386|mips64el|ppc64el|riscv64|s390x)"


def is_reference(unquoted: str) -> bool:
    """An unquoted `var.x`, `local.x`, `module.x.y` or `data.x.y`: a Terraform reference."""
    return _REFERENCE.fullmatch(unquoted) is not None


def is_working_directory(key: str, value: str) -> bool:
    """`PWD=/work/app` in an `env` dump: the shell's directory, not a password."""
    return key in ("PWD", "OLDPWD") and value.startswith(("/", "~"))


class ContextWords:
    """A case-insensitive set of words or phrases, searched in a window of a line."""

    def __init__(self, alternation: str, *, window: int = 40) -> None:
        self.alternation = alternation
        self.window = window
        self._regex = re.compile(rf"\b(?:{alternation})\b", re.IGNORECASE)

    def before(self, text: str, start: int) -> bool:
        return self._regex.search(text, max(0, start - self.window), start) is not None

    def after(self, text: str, end: int) -> bool:
        return self._regex.search(text, end, end + self.window) is not None

    def near(self, text: str, start: int, end: int) -> bool:
        return self.before(text, start) or self.after(text, end)
