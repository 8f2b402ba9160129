"""Masking quality: recall per kind on a labelled synthetic corpus, and the share of
look-alike CI lines (and of system tools' output) left unchanged.

    PYTHONPATH=. python benchmarks/mask_quality.py [--engine auto|re|hyperscan] [-n 200]

A planted value counts as caught when it no longer appears in the output; for names
and addresses every word of it must be gone (honorifics such as `Dr.` or `pani` aside:
they stay visible). The held-out rows plant names from Faker locales the detectors
were not written against. All data is synthetic (Faker + generators).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.mask_corpus import (
    HELD_OUT_LOCALES,
    TOOL_OUTPUT_TEMPLATES,
    Record,
    benchmark_masker,
    fhir_patients,
    hl7_messages,
    labelled,
    lookalikes,
    x12_claims,
)
from hgate.mask.masker import Masker

SHAPED = {"SSN", "NPI", "DEA", "MBI", "CARD", "VIN", "IBAN", "IP", "EMAIL", "PHONE", "SECRET"}
CONTEXT = {"NAME", "ADDRESS"}
# Titles written with a name identify no one; the masker leaves them visible.
HONORIFICS = frozenset({
    "dr", "dra", "mr", "mrs", "ms", "prof", "sr", "sra", "srta", "srita", "lic", "ing",
    "mtro", "mtra", "dott", "ssa", "sig", "herr", "frau", "mme", "mlle", "pan", "pani", "ông",
    "bà", "cô", "chị", "quý", "eng", "univ",
})  # fmt: skip


def leaked(kind: str, value: str, output: str) -> bool:
    if value in output:
        return True
    if kind in CONTEXT:
        words = [
            w
            for w in re.split(r"[\s,.]+", value)
            if len(w) >= 3 and not w.isdigit() and w.lower() not in HONORIFICS
        ]
        return any(re.search(rf"\b{re.escape(w)}\b", output) for w in words[:2])
    return False


def report(masker: Masker, records: Iterable[Record], show: int, label: str = "") -> None:
    """Print recall per kind (one row named `label` when given) against its target."""
    total: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    shown: Counter[str] = Counter()
    for lines, planted in records:
        masker.reset_state()
        results = masker.scan_lines(lines)
        output = "\n".join(
            masker.render(line, spans).text if isinstance(spans, list) else "[ERR]"
            for line, spans in zip(lines, results, strict=True)
        )
        for kind, value in planted:
            total[kind] += 1
            if leaked(kind, value, output):
                if shown[kind] < show:
                    shown[kind] += 1
                    print(f"  miss {kind}: {output!r}")
            else:
                caught[kind] += 1
    for kind in sorted(total):
        target = 99.5 if kind not in CONTEXT else 97.0
        recall = 100 * caught[kind] / total[kind]
        flag = "" if recall >= target else f"  (target {target})"
        print(f"{label or kind:<16} {recall:7.2f}%  {total[kind]}{flag}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="auto")
    parser.add_argument("-n", type=int, default=200, help="records per kind")
    parser.add_argument("--show", type=int, default=0, help="print this many misses per kind")
    args = parser.parse_args()
    masker = benchmark_masker(args.engine)
    print(f"engine: {masker.engine_name}")
    print(f"{'kind':<16} {'recall':>8}  n")
    report(masker, labelled(args.n), args.show)
    for locale in HELD_OUT_LOCALES:
        records = labelled(max(1, args.n // 2), seed=3, locale=locale, only=frozenset({"NAME"}))
        report(masker, records, args.show, label=f"NAME {locale}")
    report(masker, hl7_messages(max(1, args.n // 2)), args.show)
    report(masker, fhir_patients(max(1, args.n // 2)), args.show)
    report(masker, x12_claims(max(1, args.n // 2)), args.show)
    masker.reset_state()
    unchanged(masker, list(lookalikes(20 * args.n)), "look-alike lines", args.show)
    tools = list(lookalikes(2 * args.n, seed=4, templates=TOOL_OUTPUT_TEMPLATES))
    unchanged(
        masker, tools, "tool-output lines (apt, dpkg, env, openssl, test runners, mysql)", args.show
    )


def unchanged(masker: Masker, looks: list[str], label: str, show: int) -> None:
    changed = [line for line, spans in zip(looks, masker.scan_lines(looks), strict=True) if spans]
    share = 100 * (1 - len(changed) / len(looks))
    print(f"{label} unchanged: {share:.2f}% of {len(looks)}")
    for line in changed[:show]:
        print(f"  changed: {line!r}")


if __name__ == "__main__":
    main()
