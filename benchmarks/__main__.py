"""Every benchmark in one command, each printing figures against a baseline of the same run.

    python3 -m benchmarks            # the full targets (≈ 50 MB logs, pgbench -T 20)
    python3 -m benchmarks --quick    # smaller inputs, for a quick look

Needs the test extras (`pip install -e '.[test]'`); the proxy benchmark starts its own
PostgreSQL cluster and skips itself when the server binaries are missing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

FULL = [
    ("PTY path: start-up and throughput (issue 3)", ["benchmarks.pty_path"]),
    ("hgate shell vs bash -c (command guard)", ["benchmarks.shell_startup", "--runs", "50"]),
    ("checking a large script vs bash -n", ["benchmarks.script_check"]),
    ("masking quality (recall per kind, look-alikes)", ["benchmarks.mask_quality"]),
    ("masking speed (mixed and PHI-dense logs vs cat)", ["benchmarks.mask_speed", "--mb", "50"]),
    ("PostgreSQL proxy vs direct (pgbench)", ["benchmarks.pg_proxy"]),
]
QUICK = {
    "benchmarks.pty_path": ["--megabytes", "10", "--repeat", "5"],
    "benchmarks.shell_startup": ["--runs", "15"],
    "benchmarks.script_check": ["--kb", "32,128", "--runs", "1"],
    "benchmarks.mask_quality": ["-n", "60"],
    "benchmarks.mask_speed": ["--mb", "10"],
    "benchmarks.pg_proxy": ["--seconds", "5"],
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller inputs, shorter runs")
    parser.add_argument("--only", help="run only benchmarks whose module name contains this")
    args = parser.parse_args()
    failed = []
    for title, argv in FULL:
        module = argv[0]
        if args.only and args.only not in module:
            continue
        if args.quick:
            argv = [module, *QUICK[module]]
        print(f"\n=== {title}: python -m {' '.join(argv)}", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", *argv], check=False)
        print(f"--- {time.monotonic() - started:.0f} s", flush=True)
        if done.returncode != 0:
            failed.append(module)
    if failed:
        sys.exit(f"benchmarks that failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
