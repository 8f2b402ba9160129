"""The `identities:` section: who may run a session under a policy (default: nobody)."""

from __future__ import annotations

from dataclasses import dataclass

from hgate.policy.document import Node


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityRule:
    """Who may run a session under this policy. `local` admits an unverified developer."""

    name: str
    local: bool = False
    location: str = ""


def parse_identities(node: Node | None) -> tuple[IdentityRule, ...]:
    if node is None:
        return ()
    rules = []
    for item in node.items():
        fields = item.mapping(("name", "local"), required=("name",))
        local = fields.get("local")
        rules.append(IdentityRule(name=fields["name"].string(),
                                  local=local.boolean() if local is not None else False,
                                  location=item.location))
    return tuple(rules)
