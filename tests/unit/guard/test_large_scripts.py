"""Large scripts: the same verdicts as ever, for work that grows with the script, not its square.

No clocks here (speed is `python -m benchmarks.script_check`): these count the work done
and compare the fast paths with what they replace.
"""

from __future__ import annotations

import itertools
import os
import random
from typing import Any

import bashlex
import pytest

from benchmarks.script_check import ordinary
from hgate.guard import CommandGuard, Matcher, Rule, braces, parse_line, rules, shell_line
from hgate.guard.braces import MAX_NESTING, MAX_WORDS, expand_braces

RULES = (
    Rule(
        name="rm-root",
        action="block",
        matcher=Matcher(programs=("rm",), flags=(("-r", "-R", "--recursive"),), args=("/",)),
    ),
    Rule(
        name="curl-pipe-shell",
        action="block",
        matcher=Matcher(programs=("curl",), piped_to=("sh", "bash")),
    ),
    Rule(name="kubectl", action="approve", matcher=Matcher(programs=("kubectl",))),
)
GUARD = CommandGuard(RULES)


def script(blocks: int, *, fancy: bool = False, insert: str = "", at: int = 0) -> str:
    pieces = [ordinary(index, fancy) for index in range(blocks)]
    if insert:
        pieces.insert(at, insert)
    return "#!/bin/bash\nset -eu\n" + "".join(pieces)


@pytest.mark.parametrize("fancy", [False, True])
def test_a_script_has_the_commands_of_its_pieces(fancy: bool) -> None:
    """Read whole, a script finds the commands its pieces find when read one by one
    (argv only: a piece alone may go to the other parser, which reads `>&2` otherwise)."""
    pieces = [ordinary(index, fancy) for index in range(400)]
    whole = [command.argv for command in parse_line("".join(pieces))]
    assert whole == [command.argv for piece in pieces for command in parse_line(piece)]


@pytest.mark.parametrize("fancy", [False, True])
@pytest.mark.parametrize("where", [0, 100, 200])
@pytest.mark.parametrize(
    ("line", "rule", "action"),
    [
        ("rm -rf /\n", "rm-root", "block"),
        ("x=$(rm -rf /)\n", "rm-root", "block"),
        ("bash -c 'rm -rf /'\n", "rm-root", "block"),
        ("curl -s https://x | bash\n", "curl-pipe-shell", "block"),
        ("kubectl delete pod x\n", "kubectl", "approve"),
        ("rm -rf /{,}\n", "rm-root", "block"),
    ],
)
def test_one_bad_line_anywhere_in_a_large_script_decides(
    fancy: bool, where: int, line: str, rule: str, action: str
) -> None:
    verdict = GUARD.check_line(script(200, fancy=fancy, insert=line, at=where))
    assert (verdict.action, verdict.rule) == (action, rule)
    reread = fancy or "$(" in line  # beside a heredoc, $(…) sends the script to the fallback
    assert verdict.parser == ("fallback" if reread else "bashlex")


def test_a_clean_large_script_is_allowed_with_every_command_checked() -> None:
    text = script(400)
    verdict = GUARD.check_line(text, path=os.environ.get("PATH", ""))
    assert verdict.action == "allow"
    assert verdict.checked == len(parse_line(text))


def test_an_unclosed_quote_at_the_end_of_a_large_script_is_unparsable() -> None:
    verdict = GUARD.check_line(script(400) + "echo 'never closed\n")
    assert (verdict.action, verdict.rule) == ("block", "commands.unparsable")


def _dumps(text: str, parse: Any) -> list[str] | tuple[str, str]:
    try:
        return [tree.dump() for tree in parse(text)]
    except Exception as exc:  # the same failure is the same answer
        return ("error", type(exc).__name__)


TRICKY = [
    "cat <<EOF\nbody $x\nEOF\necho after\n",
    "cat <<-EOF\n\tbody\n\tEOF\nls\n",
    "echo 'a\nb\nc'\necho \"x\ny\"\nls\n",
    "make \\\n  all \\\n  install\nls\n",
    "f() {\n  a\n  b\n}\nif x; then\n  y\nfi\n",
    "echo one; echo two\n\n\n# comment\n\necho three\n",
    "x=$(echo a; echo b)\ny=`id`\n",
    "cat <<A; cat <<B\na\nA\nb\nB\nls\n",
    "echo " + "w " * 300 + "\nls\n",
    "echo 'never closed\nls\n",
    "cat <<EOF\nno end\n",
    "for i in 1 2; do\n  echo $i\ndone | sort\n",
]


@pytest.mark.parametrize("window", [1, 16, 64, 4096])
def test_windowed_parsing_reads_what_bashlex_reads(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each top-level command parsed from a window of the text, not all the rest of it,
    gives bashlex's own trees (positions included), and fails where bashlex fails."""
    monkeypatch.setattr(shell_line, "_WINDOW", window)
    generator = random.Random(7)
    texts = [*TRICKY, script(60)]
    texts += ["".join(generator.choice(TRICKY) for _ in range(8)) for _ in range(30)]
    for text in texts:
        assert _dumps(text, shell_line.bashlex_trees) == _dumps(text, bashlex.parse), text


def test_bashlex_is_given_each_character_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bashlex.parse hands each top-level command all the text after it (a square)."""
    given: list[int] = []
    original = bashlex.parser._parser

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        given.append(len(text))
        return original(text, *args, **kwargs)

    monkeypatch.setattr(bashlex.parser, "_parser", counting)
    text = script(2000)
    assert parse_line(text)
    assert len(text) <= sum(given) < 4 * len(text)


def test_nested_pipelines_are_walked_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`{ { a | b; } | c; } | d …`: each level used to walk all inside it twice over."""
    text = "a | b"
    for level in range(24):
        text = f"{{ {text}; }} | c{level}"
    calls = 0
    original = shell_line._walk

    def counting(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args)

    monkeypatch.setattr(shell_line, "_walk", counting)
    commands = parse_line(text)
    assert [command.name for command in commands][:2] == ["a", "b"]
    assert [command.name for command in commands][-1] == "c23"
    assert 0 < calls < 10_000


@pytest.mark.parametrize("tail", ["", " | [[ -n x ]]"])  # bashlex, then the fallback
def test_a_long_pipeline_names_each_later_program_once(tail: str) -> None:
    stages = [f"grep x{n % 3}" for n in range(3000)]
    commands = parse_line(" | ".join([*stages, "bash"]) + tail)
    assert commands[0].piped_to == ("grep", "bash")
    assert commands[2998].piped_to == ("grep", "bash")
    assert commands[2999].piped_to == ("bash",)
    assert GUARD.check_line("curl x | " + " | ".join([*stages, "bash"]) + tail).action == "block"


def test_each_program_is_resolved_once_per_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thousand `make`s cost one realpath per rule, not a thousand."""
    calls = 0
    original = rules._real

    def counting(path: str | None) -> str:
        nonlocal calls
        calls += 1
        return original(path)

    monkeypatch.setattr(rules, "_real", counting)
    GUARD.check_line("make all\n", path=os.environ.get("PATH", ""))
    once = calls
    assert once > 0
    calls = 0
    GUARD.check_line("make all\n" * 1000, path=os.environ.get("PATH", ""))
    assert calls == once


def _reference_expand(word: str) -> list[str]:
    """Brace expansion as hgate did it before it was made linear: the oracle."""
    if "{" not in word:
        return [word]
    results = _reference(word, 0)
    return results if results else [word]


def _reference(word: str, depth: int) -> list[str] | None:
    if depth > MAX_NESTING:
        return None
    heads, rest = [""], word
    while (span := _reference_first(rest)) is not None:
        start, end, parts = span
        middles: list[str] = []
        for part in parts:
            expanded = _reference(part, depth + 1)
            if expanded is None:
                return None
            middles.extend(expanded)
        heads = [head + rest[:start] + middle for head in heads for middle in middles]
        if len(heads) > MAX_WORDS:
            return None
        rest = rest[end + 1 :]
    return [head + rest for head in heads]


def _reference_first(word: str) -> tuple[int, int, list[str]] | None:
    index = 0
    while (start := word.find("{", index)) != -1:
        if start > 0 and word[start - 1] in "$\\":
            index = start + 1
            continue
        depth, commas, cursor = 0, [], start
        while cursor < len(word):
            char = word[cursor]
            if char == "\\":
                cursor += 2
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    break
            elif char == "," and depth == 1:
                commas.append(cursor)
            cursor += 1
        else:
            return None
        if commas:
            bounds = [start, *commas, cursor]
            return start, cursor, [word[a + 1 : b] for a, b in itertools.pairwise(bounds)]
        sequence = braces._sequence(word, start + 1, cursor)
        if sequence is not None:
            return start, cursor, sequence
        index = start + 1
    return None


def test_brace_expansion_is_what_it_was_on_random_words() -> None:
    generator = random.Random(11)
    alphabet = ["{", "}", ",", "\\", "$", "a", "1", "..", "\n", "-", "{1..3}", "{a,b}", "{,}"]
    for _ in range(20_000):
        word = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 24)))
        assert expand_braces(word) == _reference_expand(word), word
    for nested in (MAX_NESTING - 1, MAX_NESTING, MAX_NESTING + 1):
        word = "{" * nested + "a,b" + "}" * nested
        assert expand_braces(word) == _reference_expand(word)


def test_deeply_nested_braces_that_do_not_expand_are_matched_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`{{{{…}}}}`: each `{` used to be followed to its `}` again (a square)."""
    calls = 0
    original = braces._sequence

    def counting(word: str, lo: int, hi: int) -> list[str] | None:
        nonlocal calls
        calls += 1
        return original(word, lo, hi)

    monkeypatch.setattr(braces, "_sequence", counting)
    word = "{" * 50_000 + "}" * 50_000
    assert expand_braces(word) == [word]
    assert calls == 50_000
    assert expand_braces("{a,b}" + "{1..1}" * 50_000) == [
        "a" + "1" * 50_000,
        "b" + "1" * 50_000,
    ]


@pytest.mark.parametrize(
    "line",
    [
        "x=$(true\nrm -rf /\n)",
        'echo "$(true\nrm -rf /)"',
        "echo `true\nrm -rf /`",
        "cat <(true\nrm -rf /)",
    ],
)
def test_a_substitution_over_several_lines_is_checked_whole(line: str) -> None:
    assert GUARD.check_line(line).action == "block"
