"""Claim matchers and the identity decision: which rule, if any, admits a verified token.

Matching is on parsed claims, never on `sub` strings: a value is exact unless written
`glob:` (fnmatch, `*` crosses `/`) or `regex:` (the whole value must match); a list
means any of; all claims a rule names must match. The first rule in file order that
matches wins and grants alone (no merging), so a reviewer reads the policy top-down.
A denial names the closest rule and the claim that failed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hgate.errors import IdentityError, UsageError
from hgate.policy.document import Node
from hgate.policy.patterns import NESTED_REPEAT, NESTED_REPEAT_REMEDY, backtracks_exponentially

if TYPE_CHECKING:
    from hgate.policy.identities import IdentityRule, IssuerPolicy

MatchKind = Literal["exact", "glob", "regex"]
# Checked by verification, or different for every token: never a rule's business.
UNMATCHABLE_CLAIMS = ("iss", "aud", "exp", "iat", "nbf", "jti")


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueMatcher:
    kind: MatchKind
    pattern: str
    compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, value: str) -> bool:
        if self.kind == "glob":
            return fnmatch.fnmatchcase(value, self.pattern)
        if self.kind == "regex" and self.compiled is not None:
            return self.compiled.fullmatch(value) is not None
        return value == self.pattern

    def describe(self) -> str:
        return repr(self.pattern) if self.kind == "exact" else f"{self.kind}:{self.pattern}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimMatcher:
    """One claim and the values it may have (any of)."""

    claim: str
    any_of: tuple[ValueMatcher, ...]
    location: str = ""

    def describe(self) -> str:
        return " or ".join(m.describe() for m in self.any_of)

    def check(self, claims: Mapping[str, Any]) -> ClaimResult:
        actual = claim_text(claims.get(self.claim))
        ok = actual is not None and any(m.matches(actual) for m in self.any_of)
        return ClaimResult(claim=self.claim, ok=ok, actual=actual, expected=self.describe())

    @property
    def exact(self) -> bool:
        return all(m.kind == "exact" for m in self.any_of)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimResult:
    claim: str
    ok: bool
    actual: str | None  # None: the token has no such (scalar) claim
    expected: str

    def describe(self) -> str:
        if self.ok:
            return f"{self.claim} = {self.actual!r} matches {self.expected}"
        if self.actual is None:
            return f"{self.claim} is absent, expected {self.expected}"
        return f"{self.claim} = {self.actual!r}, expected {self.expected}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleResult:
    rule: IdentityRule
    results: tuple[ClaimResult, ...]
    issuer_matches: bool = True

    @property
    def matched(self) -> bool:
        return self.issuer_matches and all(r.ok for r in self.results)

    @property
    def failed(self) -> tuple[ClaimResult, ...]:
        return tuple(r for r in self.results if not r.ok)


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityDecision:
    """The first matching rule (or none), with every rule's evaluation for explanations."""

    issuer: str
    rule: IdentityRule | None
    evaluated: tuple[RuleResult, ...]

    @property
    def closest(self) -> RuleResult | None:
        """The rule for this issuer with the fewest failed claims (first, on a tie)."""
        candidates = [r for r in self.evaluated if r.issuer_matches]
        return min(candidates, key=lambda r: len(r.failed), default=None)

    def explain_denial(self) -> str:
        closest = self.closest
        if closest is None:
            return f"no identity rule admits tokens from issuer {self.issuer!r}"
        failed = closest.failed
        more = f" (and {len(failed) - 1} more claim(s))" if len(failed) > 1 else ""
        return (
            f"no identity rule matches: closest rule {closest.rule.name!r} "
            f"({closest.rule.location}) failed on {failed[0].describe()}{more}"
        )


def claim_text(value: Any) -> str | None:
    """Claims as strings, as CI providers mean them (GitLab sends `ref_protected` "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    return None


def decide(
    rules: Sequence[IdentityRule], issuer: str, claims: Mapping[str, Any]
) -> IdentityDecision:
    """First match wins among the non-local rules of `issuer`; every rule is evaluated."""
    evaluated: list[RuleResult] = []
    chosen: IdentityRule | None = None
    for rule in rules:
        if rule.local:
            continue
        result = RuleResult(
            rule=rule,
            results=tuple(m.check(claims) for m in rule.claims),
            issuer_matches=rule.issuer == issuer,
        )
        evaluated.append(result)
        if chosen is None and result.matched:
            chosen = rule
    return IdentityDecision(issuer=issuer, rule=chosen, evaluated=tuple(evaluated))


def parse_claim_matchers(node: Node) -> tuple[ClaimMatcher, ...]:
    import yaml

    if not isinstance(node.node, yaml.MappingNode):
        node.fail("expected a mapping of claim names to values")
    matchers: list[ClaimMatcher] = []
    names = tuple(Node(k, node.path, node.what).string() for k, _ in node.node.value)
    fields = node.mapping(names)
    for name in names:
        value = fields[name]
        if name in UNMATCHABLE_CLAIMS:
            value.fail(
                f"`{name}` is checked by token verification, not by a rule",
                remedy="set the issuer's url/audience instead" if name in ("iss", "aud") else None,
            )
        if isinstance(value.node, yaml.SequenceNode):
            any_of = tuple(_value(item) for item in value.items())
            if not any_of:
                value.fail("an empty list matches nothing")
        else:
            any_of = (_value(value),)
        matchers.append(ClaimMatcher(claim=name, any_of=any_of, location=value.location))
    if not matchers:
        node.fail(
            "a rule must match at least one claim",
            remedy="name the immutable ids, e.g. repository_id or project_id",
        )
    return tuple(matchers)


def _value(node: Node) -> ValueMatcher:
    tag = node.node.tag
    if tag.endswith(":bool"):
        return ValueMatcher(kind="exact", pattern="true" if node.boolean() else "false")
    if tag.endswith(":int"):
        return ValueMatcher(kind="exact", pattern=str(node.integer()))
    text = node.string()
    for prefix in ("glob:", "regex:", "exact:"):
        if text.startswith(prefix):
            pattern = text[len(prefix) :]
            if not pattern:
                node.fail(f"`{prefix}` needs a pattern after it")
            if prefix == "regex:":
                try:
                    compiled = re.compile(pattern)
                except re.error as exc:
                    node.fail(f"invalid regular expression: {exc.msg} at position {exc.pos}")
                if backtracks_exponentially(pattern):  # claims such as a pushed branch name
                    node.fail(NESTED_REPEAT, remedy=NESTED_REPEAT_REMEDY)
                return ValueMatcher(kind="regex", pattern=pattern, compiled=compiled)
            if prefix == "glob:":
                return ValueMatcher(kind="glob", pattern=pattern)
            return ValueMatcher(kind="exact", pattern=pattern)
    return ValueMatcher(kind="exact", pattern=text)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskWarning:
    """A rule or issuer that loads but falls into a known CI-OIDC trust pitfall."""

    location: str
    subject: str  # "rule 'x'" or "issuer 'y'"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.subject}: {self.message}"


_IMMUTABLE = {
    "github": ("repository_id", "repository_owner_id"),
    "gitlab": ("project_id", "namespace_id"),
}
_UNTRUSTED_EVENTS = {
    "github": ("event_name", ("pull_request", "pull_request_target")),
    "gitlab": ("pipeline_source", ("merge_request_event",)),
}


def risky_rules(
    issuers: Sequence[IssuerPolicy], rules: Sequence[IdentityRule]
) -> tuple[RiskWarning, ...]:
    """Warnings for `hgate policy check`: each names the pitfall and the claim that fixes it."""
    warnings: list[RiskWarning] = []
    by_name = {i.name: i for i in issuers}
    for issuer in issuers:
        warn = _warner(warnings, issuer.location, f"issuer {issuer.name!r}")
        if issuer.development:
            warn("accepts the development issuer (hgate dev-issuer): not a production policy")
        if issuer.audience.startswith("https://github.com/"):
            warn(
                "audience is GitHub's default (the owner URL), which any workflow of the owner "
                "gets without asking; use a dedicated audience such as 'hgate:<policy>'"
            )
    for rule in rules:
        warn = _warner(warnings, rule.location, f"rule {rule.name!r}")
        if rule.local:
            warn("admits an unverified local session: not for a production CI policy")
            continue
        trusted = by_name.get(rule.issuer or "")
        matchers = {m.claim: m for m in rule.claims}
        sub = matchers.get("sub")
        if sub is not None and not sub.exact:
            warn("matches `sub` with a pattern: match the parsed claims it is built from")
        if trusted is None or trusted.provider == "generic":
            continue
        provider = trusted.provider
        if not any(c in matchers and matchers[c].exact for c in _IMMUTABLE[provider]):
            ids = " or ".join(_IMMUTABLE[provider])
            warn(
                f"names no immutable {ids} exactly: a deleted and re-created repository or "
                "owner of the same name would match"
            )
        claim, events = _UNTRUSTED_EVENTS[provider]
        event = matchers.get(claim)
        if event is None or any(m.matches(e) for m in event.any_of for e in events):
            warn(
                f"`{claim}` admits {' / '.join(events)} (or is not pinned): code from a fork "
                "could run with this identity"
            )
        if provider == "github":
            if "job_workflow_ref" in matchers and "workflow_ref" not in matchers:
                warn(
                    "job_workflow_ref without workflow_ref: the reusable workflow can be called "
                    "from any workflow and branch"
                )
            if not {"ref", "environment"} & matchers.keys():
                warn("pins neither `ref` nor `environment`: any branch can run it")
        else:
            if (
                (protected := matchers.get("ref_protected")) is None
                or not protected.check({"ref_protected": "true"}).ok
                or protected.check({"ref_protected": "false"}).ok
            ):
                warn('does not require ref_protected: "true": unprotected branches can run it')
            if "ref" in matchers and not _pins_ref_kind(matchers):
                warn(
                    "pins `ref` but not `ref_type`: GitLab's `ref` is a bare name, so a tag "
                    "of that name matches too; add ref_type: branch (or an exact ref_path)"
                )
    return tuple(warnings)


def _pins_ref_kind(matchers: Mapping[str, ClaimMatcher]) -> bool:
    """Whether a GitLab rule tells a branch from a tag of the same name."""
    kind = matchers.get("ref_type")
    if kind is not None and not (
        kind.check({"ref_type": "branch"}).ok and kind.check({"ref_type": "tag"}).ok
    ):
        return True
    path = matchers.get("ref_path")
    return path is not None and path.exact


def _warner(into: list[RiskWarning], location: str, subject: str) -> Any:
    def warn(message: str) -> None:
        into.append(RiskWarning(location=location, subject=subject, message=message))

    return warn


class IdentityDenied(IdentityError):
    """A verified token that no rule admits; `decision` says which rule came closest."""

    def __init__(self, decision: IdentityDecision) -> None:
        super().__init__(
            decision.explain_denial(),
            remedy="hgate policy explain --claims claims.json shows every rule",
        )
        self.decision = decision


def explain_claims(
    issuers: Sequence[IssuerPolicy],
    rules: Sequence[IdentityRule],
    claims: Mapping[str, Any],
    *,
    issuer: str | None = None,
) -> IdentityDecision:
    """The decision for a job's claims (e.g. a decoded token) without any token or network."""
    if issuer is None:
        iss = claims.get("iss")
        if not issuers:
            raise IdentityError(
                "this policy trusts no issuer: no CI token is admitted, only a "
                "`local: true` rule admits anyone"
            )
        if iss is not None and not any(i.url == iss for i in issuers):
            raise IdentityError(  # a token from it would be refused: no rule admits it
                f"no issuer of this policy has url {iss!r}: its tokens are refused",
                remedy="issuers: " + ", ".join(f"{i.name} ({i.url})" for i in issuers),
            )
        found = [i for i in issuers if i.url == iss] or (list(issuers) if len(issuers) == 1 else [])
        if not found:
            raise UsageError(
                "cannot tell which issuer these claims are from",
                remedy="add `iss` to the claims, or pass --issuer NAME",
            )
        issuer = found[0].name
    elif not any(i.name == issuer for i in issuers):
        raise UsageError(f"the policy has no issuer named {issuer!r}")
    return decide(rules, issuer, claims)
