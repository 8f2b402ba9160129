"""The session's masker, built from the policy and every secret hgate knows at start-up."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from hgate.mask import (
    ALL_KINDS,
    CompiledCache,
    Detector,
    DetectorOptions,
    Masker,
    RegexDetector,
    build_default_detectors,
    self_test,
)
from hgate.policy.model import MaskPolicy

MIN_EXACT_LENGTH = 4
ENGINE_VARIABLE = "HGATE_MASK_ENGINE"  # auto | hyperscan | re: force the fallback engine


def build_masker(
    policy: MaskPolicy,
    *,
    key: bytes,
    env: Mapping[str, str],
    secrets: Iterable[tuple[str, str]] = (),
    check: bool = True,
    cache: CompiledCache | None = None,
) -> tuple[Masker, str]:
    """The masker and its engine's name; with `check`, fail closed on the canary self-test."""
    rules: list[Detector] = [
        RegexDetector(
            name=rule.name,
            kind=rule.kind,
            pattern=rule.pattern,
            ignore_case=rule.ignore_case,
            group=rule.group,
        )
        for rule in policy.rules
    ]
    settings = policy.detectors
    if settings.enabled == ():
        detectors = list(rules)
    else:
        kinds = ALL_KINDS if settings.enabled is None else frozenset(settings.enabled)
        detectors = build_default_detectors(
            kinds - frozenset(settings.disabled),
            DetectorOptions(
                keep_log_timestamps=settings.keep_log_timestamps,
                mask_all_urls=settings.mask_all_urls,
            ),
            extra=rules,
        )
    exact: list[tuple[str, str]] = [(value.kind, value.value) for value in policy.values]
    exact.extend(("SECRET", value) for value in values_from_env(policy.values_from_env, env))
    exact.extend(("SECRET", value) for _, value in secrets if len(value) >= MIN_EXACT_LENGTH)
    engine = os.environ.get(ENGINE_VARIABLE, "auto")
    masker = Masker(key=key, detectors=detectors, exact=exact, engine=engine, cache=cache)
    if check:
        self_test(masker)  # MaskingError (exit 76) before the agent can print anything
    return masker, masker.engine_name


def values_from_env(patterns: Iterable[str], env: Mapping[str, str]) -> list[str]:
    """The values of the variables `mask.values_from_env` names; its entries are names or
    globs (docs/policy.md), so a glob must not be looked up as a name and find nothing."""
    wanted = tuple(patterns)
    return [
        value
        for name, value in env.items()
        if len(value) >= MIN_EXACT_LENGTH
        and any(fnmatch.fnmatchcase(name, pattern) for pattern in wanted)
    ]


def compiled_cache(sign: Callable[[bytes], bytes]) -> CompiledCache:
    """Where compiled detector databases are kept, authenticated with the signing key.

    Ed25519 signatures are deterministic, so signing a fixed label gives a stable secret
    only the signing key's holder can compute.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    key = hashlib.sha256(sign(b"hgate compiled-pattern cache v1")).digest()
    return CompiledCache(directory=Path(base) / "hgate", key=key)
