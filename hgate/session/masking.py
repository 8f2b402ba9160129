"""The session's masker, built from the policy and every secret hgate knows at start-up."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from hgate.mask import Detector, Masker, RegexDetector
from hgate.policy.model import MaskPolicy

MIN_EXACT_LENGTH = 4


def build_masker(
    policy: MaskPolicy,
    *,
    key: bytes,
    env: Mapping[str, str],
    secrets: Iterable[tuple[str, str]] = (),
) -> tuple[Masker, str]:
    """The masker and the name of its engine (recorded in the transcript header)."""
    detectors: list[Detector] = []
    engine = "regex-rules"
    if policy.detectors.enabled != ():
        built, engine = _builtin_detectors(policy)
        detectors.extend(built)
    detectors.extend(
        RegexDetector(
            name=rule.name,
            kind=rule.kind,
            pattern=rule.pattern,
            ignore_case=rule.ignore_case,
            group=rule.group,
        )
        for rule in policy.rules
    )
    exact: list[tuple[str, str]] = [(value.kind, value.value) for value in policy.values]
    for name in policy.values_from_env:
        value = env.get(name, "")
        if len(value) >= MIN_EXACT_LENGTH:
            exact.append(("SECRET", value))
    exact.extend(("SECRET", value) for _, value in secrets if len(value) >= MIN_EXACT_LENGTH)
    return Masker(key=key, detectors=detectors, exact=exact), engine


def _builtin_detectors(policy: MaskPolicy) -> tuple[list[Detector], str]:
    """The full detector engine, when this hgate has it (it is optional for the first path)."""
    try:
        from hgate.mask import build_default_detectors  # type: ignore[attr-defined]
    except ImportError:
        return [], "regex-rules"
    settings = policy.detectors
    detectors, engine = build_default_detectors(
        enabled=settings.enabled,
        disabled=settings.disabled,
        keep_log_timestamps=settings.keep_log_timestamps,
        prefer_hyperscan=os.environ.get("HGATE_MASK_ENGINE", "auto") != "re",
    )
    return list(detectors), str(engine)
