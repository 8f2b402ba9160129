"""The `commands:` section: which commands the agent may run (filled in by the guard work)."""

from __future__ import annotations

from dataclasses import dataclass

from hgate.policy.document import Node


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandPolicy:
    """Command rules; empty until the command guard lands."""


def parse_commands(node: Node | None) -> CommandPolicy:
    if node is None:
        return CommandPolicy()
    node.mapping(())
    return CommandPolicy()
