"""The `approvals:` section: where held actions are announced, who may decide, how many, how long.

    approvals:
      channel: {type: directory, path: /shared/hgate-approvals}
      timeout: 10m            # default for every rule
      required: 1             # default number of distinct approvers
      approvers:
        - {name: alice, key: "ssh-ed25519 AAAA..."}
        - {name: bob, key_file: keys/bob.pub, identity: "bob@laptop"}
      rules:
        - {rule: kubectl-delete, required: 2, timeout: 5m, approvers: [alice, bob]}

Keys are read and checked when the policy loads (a `key_file` relative to the policy),
so a typo fails the policy, not the first approval. docs/approvals.md explains the rest.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hgate.approvals.interface import ApprovalError, Approver, Requirement
from hgate.audit.keys import key_fingerprint
from hgate.policy.document import Node

ChannelType = Literal["directory", "http", "terminal"]
CHANNEL_TYPES: tuple[ChannelType, ...] = ("directory", "http", "terminal")
DEFAULT_TOKEN_ENV = "HGATE_APPROVALS_TOKEN"
DEFAULT_TIMEOUT = 600.0
_CHANNEL_KEYS = ("type", "path", "url", "webhook", "token_env", "key", "poll_interval")
_NEEDS: dict[str, tuple[str, ...]] = {
    "directory": ("path",),
    "http": ("url",),
    "terminal": ("key",),
}
_APPROVER_KEYS = ("name", "key", "key_file", "identity")
_RULE_KEYS = ("rule", "required", "timeout", "approvers")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSettings:
    """`approvals.channel`; which keys apply depends on `type`."""

    type: ChannelType = "directory"
    path: str = ""  # directory
    url: str = ""  # http: the approvals service
    webhook: str | None = None  # http: where the request is announced (a chat webhook)
    token_env: str = DEFAULT_TOKEN_ENV  # http: bearer token for the service, if set
    key: str = ""  # terminal: the developer's private key that signs their answers
    poll_interval: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalsPolicy:
    channel: ChannelSettings
    approvers: tuple[Approver, ...]
    default: Requirement
    rules: tuple[Requirement, ...] = field(default=())

    def requirement(self, rule: str) -> Requirement:
        found = next((r for r in self.rules if r.rule == rule), None)
        return found or Requirement(
            rule=rule,
            required=self.default.required,
            timeout=self.default.timeout,
            approvers=self.default.approvers,
        )

    def approvers_for(self, requirement: Requirement) -> tuple[Approver, ...]:
        if not requirement.approvers:
            return self.approvers
        return tuple(a for a in self.approvers if a.name in requirement.approvers)

    def secret_variables(self) -> tuple[str, ...]:
        """Variables hgate reads for the channel, which the agent must not see."""
        return (self.channel.token_env,) if self.channel.type == "http" else ()

    def header(self) -> dict[str, Any]:
        """The transcript header's `approvals`: the keys `hgate verify` checks decisions with."""
        return {
            "channel": self.channel.type,
            "approvers": [
                {
                    "name": a.name,
                    "key_id": a.key_id,
                    "public_key": a.public_key,
                    "identity": a.identity,
                }
                for a in self.approvers
            ],
            "rules": [
                {
                    "rule": r.rule,
                    "required": r.required,
                    "timeout": r.timeout,
                    "approvers": list(r.approvers),
                }
                for r in (self.default, *self.rules)
            ],
        }


def parse_approvals(
    node: Node | None, *, rule_names: Collection[str] | None = None
) -> ApprovalsPolicy | None:
    """None when the policy has no `approvals:` (approve rules are then refused).

    `rule_names`: the policy's command and statement rules; a `rules[].rule` naming none
    of them is a typo that would leave the rule it meant on the default requirement."""
    if node is None:
        return None
    fields = node.mapping(
        ("channel", "timeout", "required", "approvers", "rules"), required=("channel", "approvers")
    )
    approvers = _approvers(fields["approvers"])
    timeout = fields.get("timeout")
    required = fields.get("required")
    default = Requirement(
        rule="*",
        required=required.integer(minimum=1) if required is not None else 1,
        timeout=timeout.duration() if timeout is not None else DEFAULT_TIMEOUT,
    )
    if default.required > len(approvers):
        fields["approvers"].fail(
            f"{default.required} approvals required but only {len(approvers)} approvers listed"
        )
    rules = fields.get("rules")
    return ApprovalsPolicy(
        channel=_channel(fields["channel"]),
        approvers=approvers,
        default=default,
        rules=_rules(rules, approvers, default, rule_names) if rules is not None else (),
    )


def _channel(node: Node) -> ChannelSettings:
    fields = node.mapping(_CHANNEL_KEYS, required=("type",))
    kind = fields["type"].choice(CHANNEL_TYPES)
    for needed in _NEEDS[kind]:
        if fields.get(needed) is None:
            node.fail(f"a {kind} channel needs `{needed}`")
    for key in _CHANNEL_KEYS[1:]:
        if fields.get(key) is not None and kind not in _uses(key):
            fields[key].fail(f"`{key}` does not apply to a {kind} channel")

    def text(key: str, fallback: str = "") -> str:
        value = fields.get(key)
        return value.string() if value is not None else fallback

    interval = fields.get("poll_interval")
    webhook = fields.get("webhook")
    return ChannelSettings(
        type="http" if kind == "http" else "terminal" if kind == "terminal" else "directory",
        path=str(_relative(node, text("path"))) if kind == "directory" else "",
        url=text("url"),
        webhook=webhook.string() if webhook is not None else None,
        token_env=text("token_env", DEFAULT_TOKEN_ENV),
        key=str(_relative(node, text("key"))) if kind == "terminal" else "",
        poll_interval=interval.duration() if interval is not None else 1.0,
    )


def _uses(key: str) -> tuple[str, ...]:
    return {
        "path": ("directory",),
        "url": ("http",),
        "webhook": ("http",),
        "token_env": ("http",),
        "key": ("terminal",),
    }.get(key, CHANNEL_TYPES)


def _approvers(node: Node) -> tuple[Approver, ...]:
    found: list[Approver] = []
    for item in node.items():
        fields = item.mapping(_APPROVER_KEYS, required=("name",))
        name = fields["name"].string()
        key_node, file_node = fields.get("key"), fields.get("key_file")
        if (key_node is None) == (file_node is None):
            item.fail("give exactly one of `key` (an ssh-ed25519 line) or `key_file`")
        if key_node is not None:
            source, text = key_node, key_node.string()
        else:
            assert file_node is not None
            source, path = file_node, _relative(file_node, file_node.string())
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                source.fail(f"cannot read approver key file {path}: {exc}")
        from hgate.approvals.decision import openssh_line, parse_public_key  # only if used

        try:
            key = parse_public_key(text)
        except ApprovalError as exc:
            source.fail(f"approver {name!r}: {exc.message}")
        identity = fields.get("identity")
        approver = Approver(
            name=name,
            public_key=openssh_line(key),
            key_id=key_fingerprint(key),
            identity=identity.string() if identity is not None else None,
        )
        if any(a.name == name for a in found):
            fields["name"].fail(f"approver {name!r} is listed twice")
        if any(a.key_id == approver.key_id for a in found):
            source.fail(f"approver {name!r} has the same key as another approver")
        found.append(approver)
    if not found:
        node.fail("list at least one approver")
    return tuple(found)


def _rules(
    node: Node,
    approvers: tuple[Approver, ...],
    default: Requirement,
    rule_names: Collection[str] | None,
) -> tuple[Requirement, ...]:
    names = {a.name for a in approvers}
    found: list[Requirement] = []
    for item in node.items():
        fields = item.mapping(_RULE_KEYS, required=("rule",))
        rule = fields["rule"].string()
        if any(r.rule == rule for r in found):
            fields["rule"].fail(f"rule {rule!r} is listed twice")
        if rule_names is not None and rule not in rule_names:
            fields["rule"].fail(
                f"no commands or database rule is named {rule!r}",
                remedy="`rule` is the `name` of a commands.rules or "
                "database.statements.rules entry",
            )
        listed: tuple[str, ...] = ()
        if (who := fields.get("approvers")) is not None:
            listed = who.strings()
            for unknown in sorted(set(listed) - names):
                who.fail(f"{unknown!r} is not a listed approver")
        required_node, timeout_node = fields.get("required"), fields.get("timeout")
        required = required_node.integer(minimum=1) if required_node else default.required
        eligible = len(set(listed)) if listed else len(approvers)
        if required > eligible:
            item.fail(f"rule {rule!r} requires {required} approvals from {eligible} approvers")
        found.append(
            Requirement(
                rule=rule,
                required=required,
                timeout=timeout_node.duration() if timeout_node else default.timeout,
                approvers=listed,
            )
        )
    return tuple(found)


def _relative(node: Node, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else node.path.parent / path
