"""From a YAML policy file to a checked `Policy`, failing on the first problem with its place.

`include:` pulls shared mask sets (for example the HIPAA baseline) and command block
rules from files next to the policy or from hgate's shipped `policies/` directory; an
included file may only hold `mask:`, `commands: {rules:}` with block/approve rules and
descriptive keys, so an include can never widen what a policy grants.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from hgate.errors import PolicyError
from hgate.guard import Rule
from hgate.policy.approvals import parse_approvals
from hgate.policy.commands import parse_commands, parse_included_commands
from hgate.policy.database import parse_database
from hgate.policy.document import Fields, Node, read_document
from hgate.policy.identities import parse_identities, parse_issuers
from hgate.policy.model import (
    DetectorSettings,
    EnvironmentPolicy,
    ExactValue,
    MaskPolicy,
    MaskRule,
    Policy,
    PolicySource,
    SessionSettings,
    SigningSettings,
    SinkSettings,
    TranscriptSettings,
)
from hgate.policy.patterns import (
    NESTED_REPEAT,
    NESTED_REPEAT_REMEDY,
    backtracks_exponentially,
)

SUPPORTED_VERSIONS = (1,)
TOP_LEVEL_KEYS = (
    "version",
    "name",
    "description",
    "include",
    "session",
    "environment",
    "mask",
    "transcript",
    "signing",
    "identities",
    "commands",
    "issuers",
    "database",
    "approvals",
)
INCLUDE_KEYS = ("version", "name", "description", "include", "mask", "commands")
_KIND = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
_ENV_NAME = re.compile(r"^[A-Za-z_*?\[\]][A-Za-z0-9_*?\[\]]*$")
MAX_INCLUDE_DEPTH = 8
SESSION_KEYS = ("max_duration", "kill_grace", "idle_flush")
_MASK_KEYS = ("detectors", "rules", "values", "values_from_env", "max_findings")
_DETECTOR_KEYS = ("enable", "disable", "keep_log_timestamps", "mask_all_urls")


def shipped_policies_dir() -> Path:
    """The policies that ship with hgate (in a checkout: the repo's policies/)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "policies", here.parent.parent / "policies"):
        if candidate.is_dir():
            return candidate
    return here.parent.parent / "policies"


def load_policy(path: Path) -> Policy:
    """Load, validate and merge a policy and its includes; raise PolicyError with file:line:col."""
    root, raw = read_document(path)
    fields = root.mapping(TOP_LEVEL_KEYS, required=("version", "name"))
    version = _version(fields["version"])
    includes: list[PolicySource] = []
    included_masks: list[MaskPolicy] = []
    included_rules: list[Rule] = []
    if (node := fields.get("include")) is not None:
        _load_includes(
            node,
            path,
            includes,
            included_masks,
            depth=1,
            seen={path.resolve()},
            rules=included_rules,
        )
    own_mask = _mask(fields.get("mask"))
    mask = _merge_masks([*included_masks, own_mask])
    if mask.detectors.mask_all_urls and not mask.detectors.url_kind_enabled():
        # a setting that silently does nothing: the URL detector is not even built
        raise PolicyError(
            "mask.detectors.mask_all_urls needs the URL kind enabled: as written, no URL "
            "is masked at all",
            location=mask.detectors.mask_all_urls_at or str(path),
            remedy="enable URL (`enable: all` or a list with URL, and not in `disable`)",
        )
    session_node = fields.get("session")
    commands = parse_commands(fields.get("commands"), included=tuple(included_rules))
    database = parse_database(fields.get("database"))
    return Policy(
        version=version,
        name=fields["name"].string(),
        description=_optional_string(fields.get("description")),
        source=PolicySource(path=path, sha256=hashlib.sha256(raw).hexdigest()),
        includes=tuple(includes),
        session=_session(session_node),
        environment=_environment(fields.get("environment")),
        mask=mask,
        transcript=_transcript(fields.get("transcript")),
        signing=_signing(fields.get("signing")),
        issuers=(issuers := parse_issuers(fields.get("issuers"))),
        identities=parse_identities(
            fields.get("identities"), issuers, kill_grace=_written_grace(session_node)
        ),
        commands=commands,
        database=database,
        approvals=parse_approvals(
            fields.get("approvals"),
            rule_names={r.name for r in commands.rules} | {r.name for r in database.rules},
        ),
    )


def _load_includes(
    node: Node,
    parent: Path,
    sources: list[PolicySource],
    masks: list[MaskPolicy],
    *,
    depth: int,
    seen: set[Path],
    rules: list[Rule],
) -> None:
    if depth > MAX_INCLUDE_DEPTH:
        node.fail(f"includes nested deeper than {MAX_INCLUDE_DEPTH} levels")
    for item in node.items():
        name = item.string()
        target = _resolve_include(item, name, parent)
        if target.resolve() in seen:
            item.fail(f"include cycle: {name!r} is already being included")
        root, raw = read_document(target)
        fields = root.mapping(INCLUDE_KEYS, required=("version",))
        _version(fields["version"])
        if (nested := fields.get("include")) is not None:
            _load_includes(
                nested,
                target,
                sources,
                masks,
                depth=depth + 1,
                seen=seen | {target.resolve()},
                rules=rules,
            )
        sources.append(PolicySource(path=target, sha256=hashlib.sha256(raw).hexdigest()))
        masks.append(_included_mask(fields.get("mask")))
        rules.extend(parse_included_commands(fields.get("commands")))


def _included_mask(node: Node | None) -> MaskPolicy:
    """An included file's `mask:`, which may add masking but not switch a detector off:
    `disable` there would unmask what the policy and the baseline mask."""
    mask = _mask(node)
    if node is not None and mask.detectors.disabled:
        detectors = node.mapping(_MASK_KEYS)["detectors"]
        detectors.mapping(_DETECTOR_KEYS)["disable"].fail(
            "an included file may not disable detectors (an include can only make a "
            "policy stricter)",
            remedy="move `disable` to the policy",
        )
    return mask


def _resolve_include(item: Node, name: str, parent: Path) -> Path:
    """The file an `include:` names: next to `parent` or among the shipped policies, and
    inside that directory once symlinks are resolved. A name with `..`, an absolute path
    or a symlink pointing elsewhere would let a reviewed policy pull in a file nobody
    reviewed with it (another checkout, a temp file, a device)."""
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        item.fail(
            f"include {name!r} must be a file name relative to the policy's directory",
            remedy="no absolute paths and no '..'",
        )
    for directory in (parent.parent, shipped_policies_dir()):
        candidate = directory / name
        if not os.path.lexists(candidate):
            continue
        if not candidate.resolve().is_relative_to(directory.resolve()):
            item.fail(
                f"included policy {name!r} resolves outside {directory.name or directory}/ "
                "(a symlink out of the policy's directory)",
                remedy="copy the file next to the policy",
            )
        return candidate  # read_document refuses a FIFO, a device or a directory
    item.fail(
        f"included policy {name!r} not found next to {parent.name} "
        f"or among hgate's shipped policies"
    )


def _version(node: Node) -> int:
    version = node.integer()
    if version not in SUPPORTED_VERSIONS:
        node.fail(
            f"unsupported policy version {version}; this hgate reads version "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}"
        )
    return version


def _optional_string(node: Node | None) -> str:
    return node.string() if node is not None else ""


def _session(node: Node | None) -> SessionSettings:
    if node is None:
        return SessionSettings()
    fields = node.mapping(SESSION_KEYS)
    default = SessionSettings()
    settings = SessionSettings(
        max_duration=_get_duration(fields.get("max_duration"), default.max_duration),
        kill_grace=_get_duration(fields.get("kill_grace"), default.kill_grace),
        idle_flush=_get_duration(fields.get("idle_flush"), default.idle_flush),
    )
    grace_node = fields.get("kill_grace")
    if settings.kill_grace > settings.max_duration:
        if grace_node is None:  # the default grace of a short session: as long as the session
            return replace(settings, kill_grace=settings.max_duration)
        # a grace longer than the whole session is a unit slip (5m for 5s), and would let a
        # stopped agent outlive its time limit by more than the limit itself
        grace_node.fail(
            f"{settings.kill_grace:g}s is longer than max_duration ({settings.max_duration:g}s)",
            remedy="kill_grace must be at most max_duration",
        )
    return settings


def _written_grace(node: Node | None) -> Node | None:
    """`session.kill_grace` as written, if it is: an identity's `grants.max_duration` under
    it is then a policy error; under the default grace, the grace is cut at run time."""
    return node.mapping(SESSION_KEYS).get("kill_grace") if node is not None else None


def _get_duration(node: Node | None, default: float) -> float:
    return node.duration() if node is not None else default


def _env_names(node: Node | None) -> tuple[str, ...]:
    if node is None:
        return ()
    names = []
    for item in node.items():
        name = item.string()
        if not _ENV_NAME.match(name):
            item.fail(f"{name!r} is not an environment variable name or glob")
        names.append(name)
    return tuple(names)


def _environment(node: Node | None) -> EnvironmentPolicy:
    if node is None:
        return EnvironmentPolicy()
    fields = node.mapping(("remove", "mask"))
    return EnvironmentPolicy(
        remove=_env_names(fields.get("remove")), mask=_env_names(fields.get("mask"))
    )


def _kind(node: Node) -> str:
    kind = node.string()
    if not _KIND.match(kind):
        node.fail(f"kind {kind!r} must be UPPER_CASE letters, digits and _ (at most 32)")
    return kind


def _mask(node: Node | None) -> MaskPolicy:
    if node is None:
        return MaskPolicy()
    fields = node.mapping(_MASK_KEYS)
    rule_list, value_list = fields.get("rules"), fields.get("values")
    rules = tuple(_rule(item) for item in rule_list.items()) if rule_list else ()
    values = tuple(_value(item) for item in value_list.items()) if value_list else ()
    budget = fields.get("max_findings")
    return MaskPolicy(
        detectors=_detectors(fields.get("detectors")),
        rules=rules,
        values=values,
        values_from_env=_env_names(fields.get("values_from_env")),
        max_findings=budget.integer(minimum=1) if budget is not None else None,
    )


def _detectors(node: Node | None) -> DetectorSettings:
    if node is None:
        return DetectorSettings()
    fields = node.mapping(_DETECTOR_KEYS)
    enabled: tuple[str, ...] | None = ()
    if (enable := fields.get("enable")) is not None:
        if enable.node.tag.endswith(":str") and enable.node.value == "all":
            enabled = None
        else:
            enabled = tuple(_detector_kind(item) for item in enable.items())
    disable = fields.get("disable")
    disabled = tuple(_detector_kind(item) for item in disable.items()) if disable else ()
    keep = fields.get("keep_log_timestamps")
    all_urls = fields.get("mask_all_urls")
    return DetectorSettings(
        enabled=enabled,
        disabled=disabled,
        keep_log_timestamps=keep.boolean() if keep is not None else True,
        mask_all_urls=all_urls.boolean() if all_urls is not None else False,
        mask_all_urls_at=all_urls.location if all_urls is not None else "",
    )


def _detector_kind(node: Node) -> str:
    """A kind the built-in engine knows; a typo must not silently switch masking off."""
    from hgate.mask.detectors import ALL_KINDS

    kind = _kind(node)
    if kind not in ALL_KINDS:
        node.fail(
            f"unknown detector kind {kind!r}", remedy=f"known: {', '.join(sorted(ALL_KINDS))}"
        )
    return kind


def _rule(node: Node) -> MaskRule:
    fields = node.mapping(
        ("name", "kind", "pattern", "ignore_case", "group"), required=("name", "kind", "pattern")
    )
    pattern_node = fields["pattern"]
    pattern = pattern_node.string()
    ignore = fields.get("ignore_case")
    try:
        re.compile(pattern)
    except re.error as exc:
        pattern_node.fail(f"invalid regular expression: {exc.msg} at position {exc.pos}")
    compiled = re.compile(pattern)
    if backtracks_exponentially(pattern):  # it runs on every line the agent prints
        pattern_node.fail(NESTED_REPEAT, remedy=NESTED_REPEAT_REMEDY)
    if compiled.match(""):
        pattern_node.fail("pattern matches the empty string, so it would mask nothing useful")
    group = 0
    if (group_node := fields.get("group")) is not None:
        group = group_node.integer(minimum=0, maximum=compiled.groups)
    return MaskRule(
        name=fields["name"].string(),
        kind=_kind(fields["kind"]),
        pattern=pattern,
        ignore_case=ignore.boolean() if ignore is not None else False,
        group=group,
        location=node.location,
    )


def _value(node: Node) -> ExactValue:
    if isinstance(node.node, yaml.MappingNode):
        for key_node, _ in node.node.value:  # `{kind: X, value:s3cret}` has a key `value:s3cret`
            key = Node(key_node, node.path, node.what)
            if key.secret_string() not in ("kind", "value"):
                key.fail(
                    "unknown key (not shown: it may hold the value)",
                    remedy="write `value: ...` with a space after the colon",
                )
    fields = node.mapping(("kind", "value"), required=("kind", "value"))
    value = fields["value"].secret_string()  # a value to mask: never in an error message
    if len(value) < 4:
        fields["value"].fail("an exact value must be at least 4 characters long")
    return ExactValue(kind=_kind(fields["kind"]), value=value)


def _merge_masks(masks: list[MaskPolicy]) -> MaskPolicy:
    """Includes first, then the policy itself: rules and values add up; settings override,
    except `mask_all_urls`, which any file can switch on and none can switch off again."""
    merged = MaskPolicy()
    for mask in masks:
        detectors = merged.detectors
        if mask.detectors != DetectorSettings():
            detectors = DetectorSettings(
                enabled=_union_kinds(merged.detectors.enabled, mask.detectors.enabled),
                disabled=tuple(dict.fromkeys(merged.detectors.disabled + mask.detectors.disabled)),
                keep_log_timestamps=mask.detectors.keep_log_timestamps,
                mask_all_urls=merged.detectors.mask_all_urls or mask.detectors.mask_all_urls,
                mask_all_urls_at=merged.detectors.mask_all_urls_at
                if merged.detectors.mask_all_urls
                else mask.detectors.mask_all_urls_at,
            )
        merged = MaskPolicy(
            detectors=detectors,
            rules=merged.rules + mask.rules,
            values=merged.values + mask.values,
            values_from_env=tuple(dict.fromkeys(merged.values_from_env + mask.values_from_env)),
            max_findings=mask.max_findings
            if mask.max_findings is not None
            else merged.max_findings,
        )
    return merged


def _union_kinds(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if a is None or b is None:
        return None
    return tuple(dict.fromkeys(a + b))


def _transcript(node: Node | None) -> TranscriptSettings:
    if node is None:
        return TranscriptSettings()
    fields = node.mapping(
        ("sinks", "checkpoint_every_lines", "checkpoint_every_seconds", "on_sink_failure")
    )
    default = TranscriptSettings()
    sinks = default.sinks
    if (sink_list := fields.get("sinks")) is not None:
        sinks = tuple(_sink(item) for item in sink_list.items())
        if not sinks:
            sink_list.fail("at least one sink is required: the transcript must go somewhere")
        if sum(sink.type == "directory" for sink in sinks) > 1:
            sink_list.fail("at most one directory sink: it is the session's local copy")
    lines = fields.get("checkpoint_every_lines")
    seconds = fields.get("checkpoint_every_seconds")
    failure = fields.get("on_sink_failure")
    return TranscriptSettings(
        sinks=sinks,
        checkpoint_every_lines=lines.integer(minimum=1, maximum=1_000_000)
        if lines is not None
        else default.checkpoint_every_lines,
        checkpoint_every_seconds=_get_duration(seconds, default.checkpoint_every_seconds),
        on_sink_failure="continue"
        if failure is not None and failure.choice(("stop", "continue")) == "continue"
        else "stop",
    )


_DELIVERY_KEYS = ("retries", "backoff", "timeout", "queue_size")
_SINK_KEYS: dict[str, tuple[str, ...]] = {
    "directory": ("type", "path"),
    "s3": (
        "type",
        "bucket",
        "prefix",
        "region",
        "endpoint_url",
        "object_lock_mode",
        "retention_days",
        "require_object_lock",
        *_DELIVERY_KEYS,
    ),
    "http": ("type", "url", "token_env", *_DELIVERY_KEYS),
}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _sink(node: Node) -> SinkSettings:
    every = tuple(dict.fromkeys(key for keys in _SINK_KEYS.values() for key in keys))
    fields = node.mapping(every, required=("type",))
    kind = fields["type"].choice(("directory", "s3", "http"))
    for key, value in fields.values.items():
        if key not in _SINK_KEYS[kind]:
            value.fail(f"{key!r} does not apply to a {kind} sink")
    if kind == "directory":
        path = fields.get("path")
        return SinkSettings(type="directory", path=path.string() if path is not None else "runs")
    default = SinkSettings()
    retries, backoff = fields.get("retries"), fields.get("backoff")
    timeout, queue = fields.get("timeout"), fields.get("queue_size")
    delivery = {
        "retries": retries.integer(minimum=0, maximum=20) if retries else default.retries,
        "backoff": backoff.duration() if backoff else default.backoff,
        "timeout": timeout.duration() if timeout else default.timeout,
        "queue_size": queue.integer(minimum=1, maximum=100_000) if queue else default.queue_size,
    }
    if kind == "http":
        return _http_sink(node, fields, delivery)
    return _s3_sink(node, fields, delivery)


def _http_sink(node: Node, fields: Fields, delivery: dict[str, Any]) -> SinkSettings:
    from hgate.audit.http_sink import check_collector_url

    url_node = fields.get("url")
    if url_node is None:
        node.fail("an http sink needs a url (the collector's POST endpoint)")
    if (problem := check_collector_url(url_node.string())) is not None:
        url_node.fail(problem)
    token = fields.get("token_env")
    token_env = token.string() if token is not None else SinkSettings().token_env
    if token is not None and not _VARIABLE.match(token_env):
        token.fail(f"{token_env!r} is not an environment variable name")
    return SinkSettings(type="http", url=url_node.string(), token_env=token_env, **delivery)


def _s3_sink(node: Node, fields: Fields, delivery: dict[str, Any]) -> SinkSettings:
    bucket = fields.get("bucket")
    if bucket is None:
        node.fail("an s3 sink needs a bucket")
    if not _BUCKET.match(bucket.string()):
        bucket.fail(f"{bucket.string()!r} is not an S3 bucket name")
    prefix = fields.get("prefix")
    if prefix is not None and ".." in prefix.string().split("/"):
        prefix.fail("the prefix may not contain '..'")
    endpoint = fields.get("endpoint_url")
    if endpoint is not None and not endpoint.string().startswith(("https://", "http://")):
        endpoint.fail("endpoint_url must be an http(s) URL")
    mode, days = fields.get("object_lock_mode"), fields.get("retention_days")
    require, region = fields.get("require_object_lock"), fields.get("region")
    default = SinkSettings()
    return SinkSettings(
        type="s3",
        bucket=bucket.string(),
        prefix=prefix.string().strip("/") if prefix is not None else default.prefix,
        region=region.string() if region is not None else None,
        endpoint_url=endpoint.string() if endpoint is not None else None,
        object_lock_mode="GOVERNANCE"
        if mode is not None and mode.choice(("COMPLIANCE", "GOVERNANCE")) == "GOVERNANCE"
        else "COMPLIANCE",
        retention_days=days.integer(minimum=1, maximum=36_500)
        if days is not None
        else default.retention_days,
        require_object_lock=require.boolean() if require is not None else True,
        **delivery,
    )


def _signing(node: Node | None) -> SigningSettings:
    if node is None:
        return SigningSettings()
    fields = node.mapping(("key_dir",))
    key_dir = fields.get("key_dir")
    return SigningSettings(key_dir=key_dir.string() if key_dir is not None else None)
