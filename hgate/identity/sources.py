"""Where a CI job's ID token comes from: GitHub's token endpoint, a variable, or a file.

A source only fetches; nothing it returns is trusted until `verify_token` has checked it.
Each `RawToken` lists the secrets it exposed (the token, GitHub's request token) so the
session can mask them, and the variables it read so they can be kept from the agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from hgate.errors import IdentityError
from hgate.identity.http import DEFAULT_TIMEOUT, fetch_json

GITHUB_REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
GITHUB_REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
DEFAULT_TOKEN_ENV = "HGATE_ID_TOKEN"
TOKEN_FILE_ENV = "HGATE_ID_TOKEN_FILE"
MAX_TOKEN_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class RawToken:
    """An unverified token as fetched; `value` and `secrets` never appear in a repr."""

    value: str = field(repr=False)
    source: str
    secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    consumed_env: tuple[str, ...] = ()


class TokenSource(Protocol):
    """Fetches a fresh (or the only) token each time it is called."""

    @property
    def description(self) -> str: ...

    def fetch(self) -> RawToken: ...


def _clean(value: str, what: str) -> str:
    token = value.strip()
    if not token:
        raise IdentityError(f"token acquisition failed: {what} is empty")
    if len(token) > MAX_TOKEN_BYTES or any(c.isspace() for c in token):
        raise IdentityError(f"token acquisition failed: {what} does not hold a single JWT")
    return token


@dataclass(frozen=True, slots=True, kw_only=True)
class GitHubTokenSource:
    """GitHub Actions: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...` with the request token."""

    env: Mapping[str, str] = field(repr=False)
    audience: str
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        missing = [n for n in (GITHUB_REQUEST_URL, GITHUB_REQUEST_TOKEN) if not self.env.get(n)]
        if missing:
            raise IdentityError(
                f"GitHub Actions OIDC token unavailable: {' and '.join(missing)} not set",
                remedy="grant the job `permissions: id-token: write` (fork pull requests "
                "never get it)",
            )

    @property
    def description(self) -> str:
        return "github"

    def fetch(self) -> RawToken:
        url = self.env[GITHUB_REQUEST_URL]
        request_token = self.env[GITHUB_REQUEST_TOKEN]
        separator = "&" if "?" in url else "?"
        answer = fetch_json(
            f"{url}{separator}audience={quote(self.audience, safe='')}",
            what="GitHub ID token request",
            timeout=self.timeout,
            headers={"Authorization": f"bearer {request_token}"},
        )
        value = answer.get("value") if isinstance(answer, dict) else None
        if not isinstance(value, str):
            raise IdentityError("GitHub ID token request: the answer has no `value`")
        token = _clean(value, "the GitHub ID token")
        return RawToken(
            value=token,
            source="github",
            secrets=(("OIDC_ID_TOKEN", token), (GITHUB_REQUEST_TOKEN, request_token)),
            consumed_env=(GITHUB_REQUEST_URL, GITHUB_REQUEST_TOKEN),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvTokenSource:
    """A token in a variable: GitLab's `id_tokens:` entry, or any CI that exports one."""

    env: Mapping[str, str] = field(repr=False)
    name: str = DEFAULT_TOKEN_ENV
    remedy: str | None = None

    @property
    def description(self) -> str:
        return f"env:{self.name}"

    def fetch(self) -> RawToken:
        value = self.env.get(self.name)
        if value is None:
            raise IdentityError(
                f"token acquisition failed: ${self.name} is not set", remedy=self.remedy
            )
        token = _clean(value, f"${self.name}")
        return RawToken(
            value=token,
            source=self.description,
            secrets=((self.name, token),),
            consumed_env=(self.name,),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FileTokenSource:
    """A token in a file, re-read on each fetch (a CI agent may refresh it in place)."""

    path: Path
    variable: str = TOKEN_FILE_ENV  # named the path: kept from the agent, it leads to the token

    @property
    def description(self) -> str:
        return f"file:{self.path}"

    def fetch(self) -> RawToken:
        try:
            with self.path.open("rb") as handle:
                data = handle.read(MAX_TOKEN_BYTES + 1)
        except FileNotFoundError:
            raise IdentityError(f"token acquisition failed: {self.path} not found") from None
        except OSError as exc:
            raise IdentityError(
                f"token acquisition failed: cannot read {self.path} ({exc.strerror})"
            ) from None
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise IdentityError(
                f"token acquisition failed: {self.path} does not hold a single JWT"
            ) from None
        token = _clean(text, str(self.path))
        return RawToken(
            value=token,
            source=self.description,
            secrets=(("OIDC_ID_TOKEN", token),),
            consumed_env=(self.variable,),
        )
