"""Command rules on parsed commands: shell lines (bashlex), argv, wrappers seen through.

    text / argv ──► parse_line / expand_argv ──► Command ... ──► Rule.matcher ──► Verdict

The guard decides and nothing else: recording, refusing and approvals are the
session's. This package never imports policy, session or CLI code.
"""

from hgate.guard.checker import CommandGuard, HeldCommand, ShellCheck
from hgate.guard.command import WRAPPERS, Command, unwrap
from hgate.guard.rules import ACTIONS, SEVERITY, Action, Matcher, Rule
from hgate.guard.shell_args import SHELLS, ShellInvocation, parse_shell_args
from hgate.guard.shell_line import UnparsableLine, expand_argv, parse_line
from hgate.guard.verdict import (
    DEFAULT_RULE,
    NOT_CONFIGURED,
    UNPARSABLE_RULE,
    ApprovalChannel,
    NoApprovals,
    Verdict,
    settle,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_RULE",
    "NOT_CONFIGURED",
    "SEVERITY",
    "SHELLS",
    "UNPARSABLE_RULE",
    "WRAPPERS",
    "Action",
    "ApprovalChannel",
    "Command",
    "CommandGuard",
    "HeldCommand",
    "Matcher",
    "NoApprovals",
    "Rule",
    "ShellCheck",
    "ShellInvocation",
    "UnparsableLine",
    "Verdict",
    "expand_argv",
    "parse_line",
    "parse_shell_args",
    "settle",
    "unwrap",
]
