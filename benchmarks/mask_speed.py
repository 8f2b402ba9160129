"""Masking throughput: a >= 50 MB mixed CI log, a PHI-dense file and the mixed log as a
terminal shows it (colour codes, progress bars, `\r\n`) through the masking stream
(assembler + masker, display bytes out), in MB/s, against `cat` in the same run.

    PYTHONPATH=. python benchmarks/mask_speed.py [--mb 50] [--engine auto|re|hyperscan] [--profile]

`--scan-only` also times the candidate engine alone (`engine.scan` on 64 KiB blocks of
the mixed log, no validators): the ceiling the pattern set puts on the mixed-log speed.
All data is synthetic (benchmarks/mask_corpus.py).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.mask_corpus import benchmark_masker, labelled, lookalikes
from hgate.mask.masker import Masker
from hgate.mask.stream import MaskingStream

CHUNK = 64 * 1024


def build_files(directory: Path, megabytes: int) -> tuple[Path, Path, Path]:
    """Mixed: ordinary CI output with one PHI record every ~50 lines. Dense: PHI only.
    Coloured: the mixed log as a terminal shows it (the path `hgate run` takes): `\r\n`
    ends, a colour code on every fifth line and a progress bar redrawn with `\r`."""
    ordinary = list(lookalikes(20_000))
    phi = ["\n".join(lines) for lines, _ in labelled(60)]
    mixed_unit = []
    for i, line in enumerate(ordinary):
        mixed_unit.append(line)
        if i % 50 == 0:
            mixed_unit.append(phi[i // 50 % len(phi)])
    mixed_text = ("\n".join(mixed_unit) + "\n").encode()
    dense_text = ("\n".join(phi) + "\n").encode()
    coloured_text = _coloured(mixed_unit).encode()
    mixed, dense = directory / "mixed.log", directory / "dense.log"
    coloured = directory / "coloured.log"
    with mixed.open("wb") as out:
        for _ in range(megabytes * 2**20 // len(mixed_text) + 1):
            out.write(mixed_text)
    with dense.open("wb") as out:
        for _ in range(max(1, megabytes // 5) * 2**20 // len(dense_text) + 1):
            out.write(dense_text)
    with coloured.open("wb") as out:
        for _ in range(max(1, megabytes // 5) * 2**20 // len(coloured_text) + 1):
            out.write(coloured_text)
    return mixed, dense, coloured


def _coloured(lines: list[str]) -> str:
    out = []
    for i, line in enumerate(lines):
        if i % 5 == 0:
            line = f"\x1b[32m{line}\x1b[0m"
        if i % 40 == 0:
            line = "".join(f"Downloading [{'#' * n:<10}] {n * 10}%\r" for n in range(11)) + line
        out.append(line.replace("\n", "\r\n") + "\r\n")
    return "".join(out)


def run_masker(path: Path, masker: Masker, *, per_line: bool) -> tuple[float, int, int]:
    """per_line: the session path (the pump's MaskedBatch and its transcript records,
    without the transcript write); else the filter path (bytes)."""
    masker.reset_state()
    stream = MaskingStream(masker)
    findings = 0
    sink = open(os.devnull, "wb")  # noqa: SIM115
    start = time.perf_counter()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            if per_line:
                batch = stream.feed_batch(chunk)
                ends = batch.ends
                records: list[dict[str, object]] = (
                    [{"text": text, "end": ends} for text in batch.texts]
                    if isinstance(ends, str)
                    else [{"text": t, "end": e} for t, e in zip(batch.texts, ends, strict=True)]
                )
                for index, found in batch.findings.items():
                    records[index]["findings"] = [f.token for f in found]  # the pump's work
                    findings += len(found)
                sink.write(batch.display)
            else:
                sink.write(stream.feed_display(chunk))
    if per_line:
        lines = stream.close()
        sink.write(b"".join(line.display for line in lines))
    else:
        sink.write(stream.close_display())
        findings = sum(stream.kinds_seen.values())
    elapsed = time.perf_counter() - start
    sink.close()
    return elapsed, path.stat().st_size, findings


def run_scan(path: Path, masker: Masker) -> float:
    """MB/s of the candidate engine alone over `path` in 64 KiB blocks of whole lines."""
    engine = masker._engine  # a benchmark may look inside
    if engine is None:
        return 0.0
    text = path.read_text()
    blocks, pos = [], 0
    while pos < len(text):
        end = text.rfind("\n", pos, pos + CHUNK) + 1 or len(text)
        blocks.append(text[pos:end])
        pos = end
    start = time.perf_counter()
    for block in blocks:
        engine.scan(block)
    return path.stat().st_size / 2**20 / (time.perf_counter() - start)


def run_cat(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--scan-only", action="store_true", help="also time engine.scan alone")
    args = parser.parse_args()
    start = time.perf_counter()
    masker = benchmark_masker(args.engine)
    print(f"engine {masker.engine_name}: masker built in {time.perf_counter() - start:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        mixed, dense, coloured = build_files(Path(tmp), args.mb)
        if args.scan_only:
            scan = run_scan(mixed, masker)
            print(f"mixed  engine.scan only ({masker.engine_name}): {scan:7.1f} MB/s")
        for name, path in (("mixed", mixed), ("dense", dense), ("colour", coloured)):
            cat = run_cat(path)
            for per_line in (False, True):
                profile = cProfile.Profile() if args.profile else None
                if profile:
                    profile.enable()
                elapsed, size, findings = run_masker(path, masker, per_line=per_line)
                if profile:
                    profile.disable()
                    pstats.Stats(profile).sort_stats("tottime").print_stats(10)
                mb = size / 2**20
                mode = "per-line " if per_line else "filter   "
                print(
                    f"{name:<6} {mb:6.1f} MB  {mode} {mb / elapsed:7.1f} MB/s"
                    f"  (cat {mb / cat:7.0f} MB/s)  findings {findings}"
                )


if __name__ == "__main__":
    main()
