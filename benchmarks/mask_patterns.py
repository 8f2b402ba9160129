"""Where the Hyperscan scan's time goes on the mixed log, pattern by pattern.

    PYTHONPATH=. python benchmarks/mask_patterns.py [--mb 20] [--reps 3] [--top 12]

Builds the mask_speed mixed log and the benchmark masker, then times, over the same
64 KiB blocks `mask_speed --scan-only` uses: the engine's `scan` (Hyperscan plus its
Python post-processing), the raw compiled database with a no-op callback, the same
without HS_FLAG_SOM_LEFTMOST, and each expression compiled alone, with its raw hit
count. Hyperscan's cost is not additive (the compiler groups patterns), so the
single-pattern figures rank suspects rather than add up; measured 2026-12: the ~40
expressions that begin with a class and hold no literal of 3+ characters scan at about
110 MB/s together, the ~30 led by a literal at about 1,100 MB/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hyperscan as hs

from benchmarks.mask_corpus import benchmark_masker
from benchmarks.mask_speed import CHUNK, build_files
from hgate.mask.engine import HyperscanEngine

Expressions = dict[int, tuple[str, int]]


def blocks_of(text: str) -> list[str]:
    """Line-aligned blocks of at most CHUNK characters, as the scan-only row reads."""
    blocks, pos = [], 0
    while pos < len(text):
        end = text.rfind("\n", pos, pos + CHUNK) + 1 or len(text)
        blocks.append(text[pos:end])
        pos = end
    return blocks


def compile_db(expressions: Expressions, ids: list[int], strip: int = 0) -> Any:
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(
        expressions=[expressions[i][0].encode("latin-1") for i in ids],
        ids=ids,
        elements=len(ids),
        flags=[expressions[i][1] & ~strip for i in ids],
    )
    return db


def seconds(db: Any, blocks: list[bytes], reps: int, counts: Counter[int] | None = None) -> float:
    scratch = hs.Scratch(db)

    def hit(i: int, _s: int, _e: int, _f: int, _c: object) -> None:
        if counts is not None:
            counts[i] += 1

    times = []
    for _ in range(reps):
        started = time.perf_counter()
        for block in blocks:
            db.scan(block, match_event_handler=hit, scratch=scratch)
        times.append(time.perf_counter() - started)
        counts = None  # count the first pass only
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=20, help="size of the mixed log")
    parser.add_argument("--reps", type=int, default=3, help="timed passes (median)")
    parser.add_argument("--top", type=int, default=12, help="rows of the slowest list")
    args = parser.parse_args()
    engine = benchmark_masker("hyperscan")._engine
    if not isinstance(engine, HyperscanEngine):
        sys.exit("Hyperscan is not available here")
    expressions: Expressions = dict(engine._expressions)
    with tempfile.TemporaryDirectory() as directory:
        mixed, _, _ = build_files(Path(directory), args.mb)
        text = mixed.read_text()
    blocks = blocks_of(text)
    raw = [b.encode("latin-1", "replace") for b in blocks]
    mb = len(text.encode()) / 2**20
    started = time.perf_counter()
    for block in blocks:
        engine.scan(block)
    print(f"mixed log {mb:.1f} MB, {len(expressions)} Hyperscan expressions")
    print(f"engine.scan (with its Python): {mb / (time.perf_counter() - started):7.1f} MB/s")
    ids = sorted(expressions)
    hits: Counter[int] = Counter()
    full = mb / seconds(compile_db(expressions, ids), raw, args.reps, hits)
    som = hs.HS_FLAG_SOM_LEFTMOST
    no_som = mb / seconds(compile_db(expressions, ids, strip=som), raw, args.reps)
    print(f"raw database scan:             {full:7.1f} MB/s ({sum(hits.values())} hits)")
    print(f"raw, without SOM_LEFTMOST:     {no_som:7.1f} MB/s")
    alone = {i: mb / seconds(compile_db(expressions, [i]), raw, args.reps) for i in ids}
    print("\nslowest expressions alone (MB/s, hits, expression):")
    for i in sorted(ids, key=alone.__getitem__)[: args.top]:
        print(f"  #{i:<3} {alone[i]:8.0f} {hits[i]:7d}  {expressions[i][0][:90]}")
    print("\nmost hits (each costs Python after the scan):")
    for i, count in hits.most_common(args.top // 2):
        print(f"  #{i:<3} {count:7d}  {expressions[i][0][:90]}")


if __name__ == "__main__":
    main()
