"""The end-to-end path's cost: start-up and throughput of `hgate run`, against baselines.

    python3 benchmarks/pty_path.py [--megabytes 50] [--repeat 10]

(a) start-up: `hgate run -- true` against `true` (median wall time of --repeat runs);
(b) throughput: a synthetic log through `hgate run -- cat FILE` against the same
    `cat FILE` under a plain PTY (`script -qc`), both writing to /dev/null, in MB/s and
    as a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.corpus import write_log

HGATE = [sys.executable, "-m", "hgate"]


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        check=True,
    )
    return time.perf_counter() - started


def median_time(argv: list[str], env: dict[str, str], repeat: int) -> float:
    timed(argv, env)  # warm the page cache and the key
    return statistics.median(timed(argv, env) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("script") is None:
        sys.exit("benchmarks need `script` (util-linux / bsdutils) for the PTY baseline")
    with tempfile.TemporaryDirectory(prefix="hgate-bench-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, HGATE_HOME=str(work / "home"))
        run = [*HGATE, "run", "--quiet", "--out", str(work / "runs"), "--"]

        base = median_time(["true"], env, args.repeat)
        gated = median_time([*run, "true"], env, args.repeat)
        print(
            f"start-up   true: {base * 1000:7.1f} ms   hgate run -- true: "
            f"{gated * 1000:7.1f} ms   added: {(gated - base) * 1000:7.1f} ms"
        )
        bare_python = median_time([sys.executable, "-c", "pass"], env, args.repeat)
        imports = median_time([*HGATE, "--version"], env, args.repeat)
        print(
            f"           of which: python start {bare_python * 1000:.1f} ms, "
            f"hgate CLI import {(imports - bare_python) * 1000:.1f} ms, "
            f"session {(gated - imports) * 1000:.1f} ms"
        )

        log = write_log(work / "ci.log", args.megabytes)
        size_mb = log.stat().st_size / 1_000_000
        plain = timed(["script", "-qec", f"cat {log}", "/dev/null"], env)
        through = timed([*run, "cat", str(log)], env)
        transcript = next((work / "runs").glob("*.jsonl"), None)
        for path in (work / "runs").glob("*.jsonl"):
            path.unlink()
        through = min(through, timed([*run, "cat", str(log)], env))
        plain = min(plain, timed(["script", "-qec", f"cat {log}", "/dev/null"], env))
        print(
            f"throughput {size_mb:.1f} MB log   plain PTY (script -qc cat): "
            f"{size_mb / plain:7.1f} MB/s   hgate run -- cat: {size_mb / through:7.1f} MB/s"
            f"   ratio: {through / plain:5.1f}x the plain PTY's time"
        )
        if transcript is not None:
            print(
                f"           transcript written per run: "
                f"{sum(p.stat().st_size for p in (work / 'runs').glob('*.jsonl')) / 1e6:.1f} MB"
            )


if __name__ == "__main__":
    main()
