"""Checking a large script (`bash job.sh` in the agent's shell) against `bash -n` on the same file.

For each kind of generated script and each size, the best of N runs of
`CommandGuard.check_line(text, path=PATH)` with the shipped policy (what the shim's
parent does for `bash FILE`), beside `bash -n FILE`, the shell's own parse of the same
text, measured in the same run:

    plain       echo, cd && make, if/for blocks, functions, heredocs, long lines (bashlex)
    fallback    the same with $(…) and `…` beside heredocs, [[ … ]], case and $(( … )),
                which bashlex cannot read or misreads
    braces      one word of deeply nested braces that do not expand, {{{…}}}
    pipeline    one pipeline of thousands of stages
    nested      pipelines inside { …; } stages inside pipelines, 20 deep (one size only)

The last column is the time per MiB at this size over the time per MiB at the smallest
size: near 1 where the work is linear in the script.

    python -m benchmarks.script_check [--kb 64,256,1024] [--runs 3] [--kinds plain,braces]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from hgate.guard import CommandGuard
from hgate.policy.loader import load_policy, shipped_policies_dir


def ordinary(index: int, fancy: bool) -> str:
    """One piece of a CI script, cycling through the shapes such scripts have."""
    kind = index % 8
    if kind == 0:
        return f'echo "step {index}: building $TARGET" >> build.log\n'
    if kind == 1:
        return f'cd "$ROOT/sub{index}" && make -j4 all PREFIX=/opt/x{index}\ncd - >/dev/null\n'
    if kind == 2:
        return f"if [ -f f{index} ]; then\n  cp f{index} out/ || exit 1\nelse\n  echo no >&2\nfi\n"
    if kind == 3:
        return f'for f in a{index} b{index}; do\n  gzip -k "$f" | tee log{index} >/dev/null\ndone\n'
    if kind == 4 and fancy:
        return f"f_{index}() {{\n  local x=$(date +%s)\n  echo $x `whoami`\n}}\nf_{index}\n"
    if kind == 4:  # no $(…), `…` or ${…}: beside a heredoc they send all to the fallback
        return f'f_{index}() {{\n  local x=$1\n  echo "$x" | wc -c\n}}\nf_{index} {index}\n'
    if kind == 5:  # bashlex cannot read a quoted delimiter (<<'EOF')
        quoted = "'EOF'" if fancy else "EOF"
        return f"cat > conf{index}.ini <<{quoted}\n[s{index}]\nkey=value\nEOF\n"
    if kind == 6:
        return "echo " + " ".join(f"arg{n}" for n in range(40)) + f" # long {index}\n"
    if fancy:
        case = f'case "$V" in a) echo $(( {index} + 1 )) ;; esac'
        return f'if [[ -n "$V{index}" ]]; then\n  {case}\nfi\n'
    return f"export V{index}=x; test -d d{index} || mkdir -p d{index}\n"


def script(kind: str, size: int, *, nested: int = 20) -> str:
    """A script of about `size` bytes of the named kind (`nested` levels for "nested")."""
    if kind == "braces":
        depth = (size - 8) // 2
        return "echo " + "{" * depth + "}" * depth + "\n"
    if kind == "pipeline":
        stages = max(2, size // 16)
        return " | ".join(f"grep x{n:06d}" for n in range(stages)) + "\n"
    if kind == "nested":
        text = "a | b"
        for level in range(nested):
            text = f"{{ {text}; }} | c{level}"
        return text + "\n"
    pieces, length, index = ["#!/bin/bash\nset -eu\n"], 0, 0
    while length + len(piece := ordinary(index, kind == "fallback")) < size:
        pieces.append(piece)
        length += len(piece)
        index += 1
    return "".join(pieces)


def best(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", default="64,256,1024", help="script sizes in KiB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="plain,fallback,braces,pipeline,nested")
    parser.add_argument("--nested", type=int, default=20, help="levels of the nested kind")
    args = parser.parse_args()
    sizes = [int(kb) * 1024 for kb in args.kb.split(",")]
    commands = load_policy(shipped_policies_dir() / "local.yaml").commands
    guard = CommandGuard(commands.rules, default=commands.default, unparsable=commands.unparsable)
    search = os.environ.get("PATH", "")
    guard.check_line("echo warm up")  # bashlex's import and tables are not the script's
    print(
        f"{'kind':<9} {'KiB':>6} {'commands':>8} {'parser':>8} {'check s':>9} "
        f"{'bash -n s':>9} {'x bash -n':>9} {'s/MiB':>7} {'vs first':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            first: float | None = None
            for size in sizes if kind != "nested" else sizes[:1]:
                text = script(kind, size, nested=args.nested)
                path = Path(tmp) / f"{kind}.sh"
                path.write_text(text)
                verdict = guard.check_line(text, path=search)
                seconds = best(partial(guard.check_line, text, path=search), args.runs)
                shell = best(
                    partial(subprocess.run, ["bash", "-n", str(path)], capture_output=True),
                    args.runs,
                )
                per_mib = seconds / (len(text) / (1 << 20))
                first = first or per_mib
                print(
                    f"{kind:<9} {len(text) / 1024:6.0f} {verdict.checked:8d} "
                    f"{verdict.parser or '-':>8} {seconds:9.3f} {shell:9.4f} "
                    f"{seconds / shell:9.0f} {per_mib:7.2f} {per_mib / first:8.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
