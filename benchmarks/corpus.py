"""Synthetic CI logs for the benchmarks: mostly ordinary build output, a little fake PHI.

Every identifier here is invented (synthetic SSNs in the 536 area, example.com e-mail).
"""

from __future__ import annotations

import random
from pathlib import Path

ORDINARY = [
    "2026-11-25T09:{m:02d}:{s:02d}.{ms:03d}Z INFO  build step {n} finished in {d}ms",
    "tests/unit/test_module_{n}.py::test_case_{d} PASSED                        [{p:3d}%]",
    "Collecting package-{n}==1.{d}.0 (from -r requirements.txt (line {p}))",
    "  Downloading package_{n}-1.{d}.0-py3-none-any.whl (12{p} kB)",
    "commit 3f{n:06x}a9c1b2d4e5f60718293a4b5c6d7e8f901{d:04x} refs/heads/main",
    "[{n:5d}/{p:5d}] Compiling src/module_{d}.c -> build/obj/module_{d}.o",
    "warning: unused variable 'tmp_{d}' in function handler_{n} at line {p}",
    "GET /api/v1/items/{n}?page={p} 200 {d}ms user-agent=ci-runner/2.3",
]
PHI = [
    "patient {n}: SSN 536-{p:02d}-{d:04d}, phone (555) 201-{d:04d}",
    "contact: pat.{n}@example.com, MRN MRN-{n:06d}",
    "dsn: postgresql://svc_{n}:synthetic-pass-{d}@db.example.com/clinic",
]


def _line(rng: random.Random, templates: list[str]) -> str:
    template = rng.choice(templates)
    return template.format(
        n=rng.randrange(1, 99999),
        d=rng.randrange(1, 9999),
        p=rng.randrange(10, 99),
        m=rng.randrange(60),
        s=rng.randrange(60),
        ms=rng.randrange(1000),
    )


def write_log(path: Path, megabytes: float, *, phi_share: float = 0.01, seed: int = 7) -> Path:
    """A log of about `megabytes` MB where `phi_share` of the lines carry fake PHI."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    written = 0
    with path.open("w") as out:
        while written < target:
            chunk = []
            for _ in range(1000):
                templates = PHI if rng.random() < phi_share else ORDINARY
                chunk.append(_line(rng, templates))
            text = "\n".join(chunk) + "\n"
            out.write(text)
            written += len(text)
    return path
