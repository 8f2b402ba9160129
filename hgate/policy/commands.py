"""The `commands:` section: rules on the commands the agent runs, and what to do otherwise.

An included file may carry `commands: {rules: [...]}` with `block` and `approve` rules
only: an include can make a policy stricter, never wider. `allow` rules and the
settings (`default`, `unparsable`, `on_violation`, `recorder`, `stdin`) come from the
top-level policy alone. Rules are built as `hgate.guard` values; docs/commands.md
documents the language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import yaml

from hgate.guard import ACTIONS, Action, Matcher, Rule
from hgate.policy.document import Node

OnViolation = Literal["record", "kill", "stop"]
RecorderSource = Literal["auto", "proc_connector", "poll", "off"]
StdinMode = Literal["check", "off"]

SETTINGS = ("default", "unparsable", "on_violation", "recorder", "stdin")
_MATCH_KEYS = ("program", "flags", "args", "options", "subcommand", "piped_to", "unless")
_RULE_KEYS = ("name", "action", "reason", *_MATCH_KEYS)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandPolicy:
    """Rules plus the settings for what no rule covers (docs/commands.md)."""

    rules: tuple[Rule, ...] = ()
    default: Action = "allow"
    unparsable: Action = "block"
    on_violation: OnViolation = "record"
    recorder: RecorderSource = "auto"
    stdin: StdinMode = "check"


def parse_commands(node: Node | None, *, included: tuple[Rule, ...] = ()) -> CommandPolicy:
    """The top-level `commands:` section; `included` rules (from includes) come first."""
    if node is None:
        return CommandPolicy(rules=included)
    fields = node.mapping(("rules", *SETTINGS))
    rules = included + _rules(fields.get("rules"), allow_allowed=True)
    defaults = CommandPolicy()

    def setting(key: str, options: tuple[str, ...], fallback: str) -> str:
        value = fields.get(key)
        return value.choice(options) if value is not None else fallback

    return CommandPolicy(
        rules=rules,
        default=_action(setting("default", ACTIONS, defaults.default)),
        unparsable=_action(setting("unparsable", ACTIONS, defaults.unparsable)),
        on_violation=_on_violation(
            setting("on_violation", ("record", "kill", "stop"), defaults.on_violation)
        ),
        recorder=_recorder(
            setting("recorder", ("auto", "proc_connector", "poll", "off"), defaults.recorder)
        ),
        stdin="off" if setting("stdin", ("check", "off"), defaults.stdin) == "off" else "check",
    )


def parse_included_commands(node: Node | None) -> tuple[Rule, ...]:
    """`commands:` in an included file: block and approve rules, nothing else."""
    if node is None:
        return ()
    fields = node.mapping(("rules",))
    return _rules(fields.get("rules"), allow_allowed=False)


def _rules(node: Node | None, *, allow_allowed: bool) -> tuple[Rule, ...]:
    if node is None:
        return ()
    rules: list[Rule] = []
    names: set[str] = set()
    for item in node.items():
        fields = item.mapping(_RULE_KEYS, required=("name", "action"))
        name = fields["name"].string()
        if name in names:
            fields["name"].fail(f"duplicate rule name {name!r}", remedy="names must be unique")
        names.add(name)
        action_node = fields["action"]
        action = _action(action_node.choice(ACTIONS))
        if action == "allow" and not allow_allowed:
            action_node.fail(
                "an included file may not hold allow rules (an include can only "
                "make a policy stricter)",
                remedy="move the rule to the policy",
            )
        reason = fields.get("reason")
        matcher = _matcher(fields.values)
        if matcher == Matcher():
            item.fail(
                "a rule needs at least one condition (program, flags, args, options, "
                "subcommand or piped_to)"
            )
        rules.append(
            Rule(
                name=name,
                action=action,
                matcher=matcher,
                reason=reason.string() if reason is not None else "",
                location=item.location,
            )
        )
    return tuple(rules)


def _matcher(values: dict[str, Node]) -> Matcher:
    def get(key: str) -> Node | None:
        node = values.get(key)
        return None if node is None or node.is_null() else node

    unless = get("unless")
    return Matcher(
        programs=_globs(get("program")),
        flags=tuple(_alternatives(item) for item in _list(get("flags"))),
        args=_globs(get("args")),
        options=_options(get("options")),
        subcommands=_globs(get("subcommand")),
        piped_to=_globs(get("piped_to")),
        unless=_unless(unless) if unless is not None else None,
    )


def _unless(node: Node) -> Matcher:
    fields = node.mapping(_MATCH_KEYS[:-1])
    matcher = _matcher(fields.values)
    if matcher == Matcher():
        node.fail("`unless` needs at least one condition")
    return matcher


def _list(node: Node | None) -> list[Node]:
    return list(node.items()) if node is not None else []


def _globs(node: Node | None) -> tuple[str, ...]:
    """A string or a list of strings; empty strings are refused (they match nothing)."""
    if node is None:
        return ()
    items = [node] if not _is_list(node) else list(node.items())
    if not items:
        node.fail("expected at least one value")
    values = []
    for item in items:
        value = item.string()
        if not value:
            item.fail("an empty pattern matches nothing")
        values.append(value)
    return tuple(values)


def _alternatives(node: Node) -> tuple[str, ...]:
    spellings = tuple(part.strip() for part in node.string().split("|"))
    for spelling in spellings:
        if not spelling.startswith("-") or len(spelling) < 2 or " " in spelling:
            node.fail(
                f"{spelling!r} is not a flag; write flags as -x or --long, "
                'alternatives as "-f|--force"'
            )
    return spellings


def _options(node: Node | None) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    if node is None:
        return ()
    if not isinstance(node.node, yaml.MappingNode):
        node.fail('expected a mapping of flags to value patterns, e.g. {"-h|--host": ["*"]}')
    pairs = []
    for key_node, value_node in node.node.value:
        key = Node(key_node, node.path, node.what)
        value = Node(value_node, node.path, f"{node.what}.{key.string()}")
        pairs.append((_alternatives(key), _globs(value)))
    return tuple(pairs)


def _is_list(node: Node) -> bool:
    return isinstance(node.node, yaml.SequenceNode)


def _action(value: str) -> Action:
    return "block" if value == "block" else "approve" if value == "approve" else "allow"


def _on_violation(value: str) -> OnViolation:
    return "stop" if value == "stop" else "kill" if value == "kill" else "record"


def _recorder(value: str) -> RecorderSource:
    sources: dict[str, RecorderSource] = {
        "proc_connector": "proc_connector",
        "poll": "poll",
        "off": "off",
    }
    return sources.get(value, "auto")
