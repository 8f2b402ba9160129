"""`hgate dev-issuer` and `hgate policy explain`: exercise identity rules without CI."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hgate.cli.console import console, err_console, write_out
from hgate.cli.evidence import FilesCheckedByHgate, read_text_input
from hgate.errors import ConfigError, HgateError, IdentityError, UsageError

if TYPE_CHECKING:
    from hgate.policy.claims import IdentityDecision

dev_issuer_app = typer.Typer(
    help="A local development OIDC issuer: mint tokens with a CI job's claims.",
    no_args_is_help=True,
)


def _issuer_dir(directory: Path | None) -> Path:
    """--dir or the default; something other than a directory there is 67, one line."""
    from hgate.audit import default_key_dir

    chosen = directory if directory is not None else default_key_dir() / "dev-issuer"
    if chosen.exists() and not chosen.is_dir():
        raise ConfigError(f"issuer directory {chosen} is not a directory")
    return chosen


DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Issuer directory. Default: $HGATE_HOME/dev-issuer or ~/.config/hgate/dev-issuer.",
    ),
]


MAX_CLAIMS_BYTES = 1 << 20  # a CI job's claims are a few KiB
ALGORITHMS = ("ES256", "RS256")  # hgate.identity.dev_issuer.DEV_ALGORITHMS, checked here: 2


@dev_issuer_app.command("init", cls=FilesCheckedByHgate)
def init(
    directory: DirOption = None,
    algorithm: Annotated[str, typer.Option("--alg", help="ES256 or RS256.")] = "ES256",
) -> None:
    """Create the key pair and static JWKS; print the policy `issuers:` entry to paste."""
    from hgate.identity.dev_issuer import create_dev_issuer

    if algorithm not in ALGORITHMS:
        raise UsageError(f"unknown --alg {algorithm!r}", remedy=f"use {' or '.join(ALGORITHMS)}")
    target = _issuer_dir(directory)
    try:
        issuer = create_dev_issuer(target, algorithm=algorithm)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"cannot write issuer directory {target}: {reason}") from None
    console.print(
        f"created development issuer in {issuer.directory} (kid {issuer.key_id})", markup=False
    )
    console.print("policy entry (development policies only):", markup=False)
    console.print(
        f"  issuers:\n    - name: dev\n      development: true\n"
        f"      jwks_file: {issuer.jwks_file}\n      audience: hgate:dev",
        markup=False,
    )


@dev_issuer_app.command("mint", cls=FilesCheckedByHgate)
def mint(
    claims_file: Annotated[
        Path,
        typer.Option("--claims-file", help="JSON object of claims, e.g. a CI job's."),
    ],
    audience: Annotated[str, typer.Option("--audience", help="The policy issuer's audience.")],
    directory: DirOption = None,
    lifetime: Annotated[
        int,
        typer.Option("--ttl", min=1, max=86_400, help="Seconds the token is valid (1 to 86400)."),
    ] = 600,
) -> None:
    """Print a token signed by the development issuer (iss, aud and times are set here)."""
    from hgate.identity.dev_issuer import load_dev_issuer, mint_dev_token

    claims = _read_claims(claims_file)
    issuer = load_dev_issuer(_issuer_dir(directory))
    write_out(mint_dev_token(issuer, claims, audience=audience, lifetime=lifetime) + "\n")


def explain(
    policy: Annotated[
        Path,
        typer.Argument(help="The policy file.", readable=False),  # the loader checks it
    ],
    claims_file: Annotated[Path, typer.Option("--claims", help="JSON object of a job's claims.")],
    issuer: Annotated[
        str | None, typer.Option("--issuer", help="Issuer name, if the claims lack `iss`.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show which identity rule these claims match, and why; exit 66 when none does."""
    from hgate.policy.claims import explain_claims
    from hgate.policy.loader import load_policy

    loaded = load_policy(policy)
    decision = explain_claims(
        loaded.issuers, loaded.identities, _read_claims(claims_file), issuer=issuer
    )
    if json_output:
        console.print_json(json.dumps(decision_to_dict(decision)))
    else:
        _render(decision)
    raise typer.Exit(0 if decision.rule is not None else IdentityError.exit_code)


def decision_to_dict(decision: IdentityDecision) -> dict[str, Any]:
    return {
        "issuer": decision.issuer,
        "matched": decision.rule.name if decision.rule else None,
        "explanation": None if decision.rule else decision.explain_denial(),
        "rules": [
            {
                "name": r.rule.name,
                "location": r.rule.location,
                "issuer": r.rule.issuer,
                "issuer_matches": r.issuer_matches,
                "matched": r.matched,
                "claims": [
                    {"claim": c.claim, "ok": c.ok, "actual": c.actual, "expected": c.expected}
                    for c in r.results
                ],
            }
            for r in decision.evaluated
        ],
    }


def _render(decision: IdentityDecision) -> None:
    if decision.rule is not None:
        grants = decision.rule.grants.to_dict() or "the policy's defaults"
        console.print(
            f"MATCH rule {decision.rule.name!r} ({decision.rule.location}), grants {grants}",
            markup=False,
        )
    else:
        console.print(f"DENY {decision.explain_denial()}", markup=False)
    chosen = False
    for result in decision.evaluated:
        if not result.issuer_matches:
            note = f"skipped: for issuer {result.rule.issuer!r}"
        elif result.matched and chosen:
            note = "matches too, but an earlier rule won (first match wins)"
        else:
            note = "matches" if result.matched else f"{len(result.failed)} claim(s) fail"
        chosen = chosen or result.matched
        console.print(f"  rule {result.rule.name!r} ({result.rule.location}): {note}", markup=False)
        if result.issuer_matches:
            for claim in result.results:
                console.print(
                    f"    {'ok  ' if claim.ok else 'FAIL'} {claim.describe()}", markup=False
                )


def _read_claims(path: Path) -> dict[str, Any]:
    """The claims file's JSON object; any problem with it is one line, exit 67 (the
    rule for input files). The parser's message is not shown: it quotes the text."""
    text = read_text_input(path, "claims file", limit=MAX_CLAIMS_BYTES)
    try:
        claims = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: claims file is not JSON") from None
    except RecursionError:
        raise ConfigError(f"{path}: claims file is nested too deeply") from None
    if not isinstance(claims, dict):
        raise ConfigError(f"{path}: claims file must hold a JSON object")
    return claims


def annotate_for_ci(exc: HgateError) -> None:
    """On GitHub Actions, repeat an identity refusal as an `::error::` annotation."""
    if os.environ.get("GITHUB_ACTIONS") != "true" or not isinstance(exc, IdentityError):
        return
    text = str(exc).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    sys.stdout.write(f"::error title=hgate identity refused::{text}\n")
    sys.stdout.flush()
    err_console.file.flush()
