"""Start-up cost of the shell shim: `hgate shell -c true` against `bash -c true`.

Three figures, each the median wall time of N runs measured in this process:

    bash -c true                    the baseline an agent's tool call pays anyway
    <shim dir>/bash -c true         what the agent runs (python -I -S, the tiny entry)
    hgate shell -c true             the same check through the full typer CLI

The shims talk to a real control server (hgate.session.commands) backed by a real
transcript writer in a temporary directory, so the figures include the socket round
trip, the bashlex parse, the masking and the two transcript appends.

    python -m benchmarks.shell_startup [--runs 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from hgate.audit import DirectorySink, TranscriptWriter, generate_keypair, load_signer
from hgate.mask import Masker
from hgate.policy.loader import load_policy, shipped_policies_dir
from hgate.session.commands import CommandsSession


def median_ms(argv: list[str], env: dict[str, str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    policy = load_policy(shipped_policies_dir() / "local.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate_keypair(Path(tmp) / "keys")
        writer = TranscriptWriter(DirectorySink(Path(tmp) / "runs"), load_signer(paths.private_key))
        writer.start({"session_id": "bench-shell-startup"})
        commands = CommandsSession(policy.commands)
        env = {**os.environ, **commands.environment(os.environ)}
        commands.start(masker=Masker(key=os.urandom(32)), writer=writer, echo=lambda _: None)
        try:
            hgate = shutil.which("hgate") or "hgate"
            median_ms([str(commands.shim.path / "bash"), "-c", "true"], env, 3)  # warm up
            bash = median_ms(["/bin/bash", "-c", "true"], env, runs)
            shim = median_ms([str(commands.shim.path / "bash"), "-c", "true"], env, runs)
            cli = median_ms([hgate, "shell", "-c", "true"], env, max(5, runs // 5))
        finally:
            commands.close()
            writer.seal(exit_code=0, reason="benchmark")
    print(f"bash -c true                 {bash:8.2f} ms")
    print(f"shim (agent's bash) -c true  {shim:8.2f} ms   {shim / bash:6.1f}x bash")
    print(f"hgate shell -c true (CLI)    {cli:8.2f} ms   {cli / bash:6.1f}x bash")


if __name__ == "__main__":
    main()
