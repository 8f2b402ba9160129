"""`hgate keygen`: create the Ed25519 key pair that signs transcripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hgate.cli.console import console, write_out


def keygen(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Directory for hgate.key and hgate.pub.",
            show_default="$HGATE_HOME or ~/.config/hgate",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key pair.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create a transcript signing key pair (private key mode 0600)."""
    from rich.markup import escape

    from hgate.audit import default_key_dir, generate_keypair

    paths = generate_keypair(default_key_dir() if out is None else out, overwrite=force)
    if json_output:
        keys = {
            "private_key": str(paths.private_key),
            "public_key": str(paths.public_key),
            "fingerprint": paths.fingerprint,
        }
        write_out(json.dumps(keys) + "\n")  # a reader gone (`| head -c0`) keeps exit 0
        return
    console.print(f"private key  {escape(str(paths.private_key))}  (keep secret, mode 0600)")
    console.print(f"public key   {escape(str(paths.public_key))}  (give to auditors)")
    console.print(f"fingerprint  {escape(paths.fingerprint)}")
