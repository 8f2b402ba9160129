"""The policy as frozen, typed values: what the YAML means once it has been checked.

Everything not granted here is denied. docs/policy.md documents every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hgate.policy.approvals import ApprovalsPolicy
from hgate.policy.commands import CommandPolicy
from hgate.policy.database import DatabasePolicy
from hgate.policy.identities import IdentityRule, IssuerPolicy

SinkType = Literal["directory", "s3", "http"]
SinkFailure = Literal["stop", "continue"]
ObjectLockMode = Literal["COMPLIANCE", "GOVERNANCE"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySource:
    """A policy file as it was read: where, and the SHA-256 of its exact bytes."""

    path: Path
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskRule:
    """An institution's own pattern (an MRN format, a project id) masked as `kind`."""

    name: str
    kind: str
    pattern: str
    ignore_case: bool = False
    group: int = 0  # mask only this capture group (the value after a context word)
    location: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExactValue:
    kind: str
    value: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorSettings:
    """Which built-in detectors run; `None` enables every kind the engine knows."""

    enabled: tuple[str, ...] | None = ()
    disabled: tuple[str, ...] = ()
    keep_log_timestamps: bool = True
    mask_all_urls: bool = False
    mask_all_urls_at: str = field(default="", compare=False)  # file:line:col that set it

    def url_kind_enabled(self) -> bool:
        return (self.enabled is None or "URL" in self.enabled) and "URL" not in self.disabled


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskPolicy:
    detectors: DetectorSettings = DetectorSettings()
    rules: tuple[MaskRule, ...] = ()
    values: tuple[ExactValue, ...] = ()
    values_from_env: tuple[str, ...] = ()
    max_findings: int | None = None  # the PHI exposure budget; None is unlimited


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSettings:
    max_duration: float = 3600.0
    kill_grace: float = 5.0
    idle_flush: float = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvironmentPolicy:
    """Variables the agent must not see (globs), and ones it may see but never print."""

    remove: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SinkSettings:
    """One `transcript.sinks[]` entry; which keys apply depends on `type` (docs/policy.md)."""

    type: SinkType = "directory"
    path: str = "runs"  # directory
    bucket: str = ""  # s3
    prefix: str = "hgate"
    region: str | None = None
    endpoint_url: str | None = None
    object_lock_mode: ObjectLockMode = "COMPLIANCE"
    retention_days: int = 2192
    require_object_lock: bool = True
    url: str = ""  # http
    token_env: str = "HGATE_COLLECTOR_TOKEN"
    retries: int = 5  # s3 and http: delivery
    backoff: float = 0.5
    timeout: float = 10.0
    queue_size: int = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptSettings:
    sinks: tuple[SinkSettings, ...] = (SinkSettings(),)
    checkpoint_every_lines: int = 1000
    checkpoint_every_seconds: float = 5.0
    on_sink_failure: SinkFailure = "stop"


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningSettings:
    """Where the Ed25519 signing key lives; HGATE_SIGNING_KEY (PEM) overrides it."""

    key_dir: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    version: int
    name: str
    description: str
    source: PolicySource
    includes: tuple[PolicySource, ...] = ()
    session: SessionSettings = SessionSettings()
    environment: EnvironmentPolicy = EnvironmentPolicy()
    mask: MaskPolicy = MaskPolicy()
    transcript: TranscriptSettings = TranscriptSettings()
    signing: SigningSettings = SigningSettings()
    issuers: tuple[IssuerPolicy, ...] = ()
    identities: tuple[IdentityRule, ...] = ()
    commands: CommandPolicy = field(default_factory=CommandPolicy)
    database: DatabasePolicy = field(default_factory=DatabasePolicy)
    approvals: ApprovalsPolicy | None = None  # None: `approve` verdicts are refused
