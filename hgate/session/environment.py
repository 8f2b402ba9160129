"""The agent's environment: hgate's own secrets removed, everything removed remembered for masking.

The agent is untrusted. Anything that could let it mint credentials (the CI's OIDC
request token), forge evidence (the signing key) or reach standing secrets the policy
names must not be in its environment; and in case it finds them elsewhere, their values
join the mask set.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field

from hgate.policy.model import EnvironmentPolicy

# Always removed, whatever the policy says: hgate's secrets and the CI's token minters.
ALWAYS_REMOVED = (
    "HGATE_SIGNING_KEY",
    "HGATE_SIGNING_KEY_FILE",
    "HGATE_ADMIN_DSN",
    "HGATE_ADMIN_DSN_FILE",
    "HGATE_SSH_CA_KEY",
    "HGATE_SSH_CA_KEY_FILE",
    "HGATE_APPROVER_KEY",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "CI_JOB_JWT",
    "CI_JOB_JWT_V1",
    "CI_JOB_JWT_V2",
)
# Removed too, but not secret: where hgate keeps its key, not the key; and GitHub's
# workflow command files, through which a step sets the environment (`BASH_ENV`), PATH
# and outputs of every later step: code the agent wrote there would run outside hgate.
# Masking a path would only garble ordinary output.
REMOVED_NOT_SECRET = (
    "HGATE_HOME",
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_OUTPUT",
    "GITHUB_STATE",
    "GITHUB_STEP_SUMMARY",
)
MIN_MASKED_LENGTH = 6  # shorter values ("1", "true") would mask ordinary text


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEnvironment:
    variables: dict[str, str]
    removed: tuple[str, ...]
    secret_values: tuple[tuple[str, str], ...] = field(repr=False)  # (name, value) to mask


def agent_environment(
    base: Mapping[str, str],
    policy: EnvironmentPolicy,
    *,
    extra_removed: tuple[str, ...] = (),
    additions: Mapping[str, str] | None = None,
) -> AgentEnvironment:
    """Split `base` into what the agent gets and what it must never see or print."""
    patterns = ALWAYS_REMOVED + policy.remove + extra_removed
    variables: dict[str, str] = {}
    removed: list[str] = []
    secrets: list[tuple[str, str]] = []
    for name, value in base.items():
        if name in REMOVED_NOT_SECRET:
            removed.append(name)
            continue
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            removed.append(name)
            if len(value) >= MIN_MASKED_LENGTH:
                secrets.append((name, value))
            continue
        variables[name] = value
        if (
            any(fnmatch.fnmatchcase(name, pattern) for pattern in policy.mask)
            and len(value) >= MIN_MASKED_LENGTH
        ):
            secrets.append((name, value))
    variables.update(additions or {})
    return AgentEnvironment(
        variables=variables, removed=tuple(sorted(removed)), secret_values=tuple(secrets)
    )
