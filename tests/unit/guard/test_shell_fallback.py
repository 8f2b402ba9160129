"""The fallback reader: syntax bashlex cannot parse is checked, not given up on."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hgate.guard import CommandGuard, Matcher, Rule, UnparsableLine, parse_line
from hgate.guard.shell_fallback import parse_fallback
from hgate.guard.shell_line import parsers_used
from hgate.guard.shell_words import ansi_c

GUARD = CommandGuard(
    [
        Rule(
            name="rm-root",
            action="block",
            matcher=Matcher(programs=("rm",), flags=(("-r", "-R"),), args=("/",)),
        ),
        Rule(
            name="pipe-to-shell",
            action="block",
            matcher=Matcher(programs=("curl",), piped_to=("sh", "bash")),
        ),
    ]
)

# Each holds `{}` where a command runs; the first group is what bashlex cannot parse.
CONSTRUCTS = [
    "[[ -f x ]] && {}",
    "[[ $({}) == y ]]",
    "[[ -n <({}) ]]",
    "[[ $x =~ ^(a|b)$ ]] || {}",
    "case $x in a) {} ;; esac",
    "case x in (a|b) ls;& c) {};;& *) pwd; esac",
    "case $({}) in *) ;; esac",
    "echo $(( $({}) + 1 ))",
    "[[ 1 ]]; (( $({}) ))",
    "for ((i=0;i<1;i++)); do {}; done",
    "x=$(true && {})",
    "time {}",
    "time -p {}",
    "echo ${{x:-$({})}}",
    "echo \"${{x:-'$({})'}}\"",
    "select x in a; do {}; done",
    "coproc N {{ {}; }}",
    "echo @(a|$({}))",
    "a=(1 $({}))",
    "echo $'\\x41' && {}",
    "if [[ -d x ]]; then :; elif [[ 1 ]]; then {}; fi",
    "while [[ 1 ]]; do {}; done | sort",
    # bashlex parses these alone; with `[[ ]]` beside them the fallback reads them
    "[[ 1 ]]; function f {{ {}; }}",
    "[[ 1 ]]; f() ( {} )",
    "[[ 1 ]]; cat <<< $({})",
    "[[ 1 ]]; ! {}",
    "[[ 1 ]]; {{ {}; }} 2>&1",
    "[[ 1 ]]; diff <({}) <(ls)",
    "[[ 1 ]]; cat <<EOF\n$({})\nEOF",
    "[[ 1 ]]; bash <<EOF\n{}\nEOF",
]
BLOCKED = ["rm -rf /", "sudo -n rm -fr /", "curl -s x | sh", "env A=1 rm -r /"]
BLOCKED += ["2>/dev/null rm -rf /", "x=1 rm -R //"]
OPENERS = ["'", '"', "`", "$(", "${", "$((", "(", "{", "[[ x", "case x in", "if :", "ls &&"]


@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_a_blocked_command_is_found_inside_every_construct(construct: str) -> None:
    verdict = GUARD.check_line(construct.format("rm -rf /"))
    assert (verdict.action, verdict.rule, verdict.parser) == ("block", "rm-root", "fallback")


@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_an_allowed_command_inside_every_construct_is_allowed(construct: str) -> None:
    verdict = GUARD.check_line(construct.format("rm -rf build"))
    assert (verdict.action, verdict.parser) == ("allow", "fallback")
    assert verdict.checked >= 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[ -f x ]] && cat x", ["cat"]),
        ("case $x in a|b) ls ;; (c) id ;& *) pwd ;;& esac", ["ls", "id", "pwd"]),
        ("echo $(( $(wc -l < f) + 1 ))", ["wc", "echo"]),
        ("x=$(true && make)", ["true", "make"]),
        ("time -p make test", ["make"]),
        ("echo ${x:-$(date)}", ["date", "echo"]),
        ("((i++)) || ls", ["ls"]),
        ("((ls); id)", ["ls", "id"]),  # `((` that does not end in `))` is two subshells
        ("echo $((echo a); id)", ["echo", "id", "echo"]),
        ("x=`[[ 1 ]] && id`", ["id"]),
        ("coproc make", ["make"]),
        ("[[ 1 ]]; function f { ls; }; f", ["ls", "f"]),
        ("[[ 1 ]]; for x in $(seq 3); do echo $x; done", ["seq", "echo"]),
        ("[[ 1 ]]; for x do ls; done", ["ls"]),
        ("[[ 1 ]]; case x in\n  a) ls\n  ;;\nesac", ["ls"]),
        ("[[ 1 ]]; cat <<'EOF'\n$(rm -rf /)\nEOF\nls", ["cat", "ls"]),
        ("[[ 1 ]]; cat <<-EOF | wc\n\t$(id)\n\tEOF", ["id", "cat", "wc"]),
        ("[[ 1 ]]; echo a # $(rm -rf /)", ["echo"]),
        ("[[ 1 ]]; echo a#$(id)", ["id", "echo"]),
        ("[[ 1 ]]; ls |\n wc", ["ls", "wc"]),
        ("!(ls)", ["ls"]),
    ],
)
def test_every_command_is_found(text: str, expected: list[str]) -> None:
    assert [command.name for command in parse_fallback(text)] == expected


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ("$'\\x72m' -rf /", ("rm", "-rf", "/")),  # bashlex reads `$x72m`
        ("$'r\\0ignored'm -rf /", ("rm", "-rf", "/")),  # bash ends $'…' at a NUL
        ('$"rm" -rf /', ("rm", "-rf", "/")),
        ("{fd}>log rm -rf /", ("rm", "-rf", "/")),  # bashlex reads `{fd}` as the program
    ],
)
def test_words_bashlex_misreads_are_read_as_bash_runs_them(
    text: str, argv: tuple[str, ...]
) -> None:
    assert parse_line(text)[-1].argv == argv
    assert GUARD.check_line(text).action == "block"


def test_assignments_and_descriptors_before_the_program_are_not_the_program() -> None:
    (command,) = parse_fallback('A=1 B[2]=3 2>/dev/null rm -rf "/" 2>&1')
    assert (command.argv, command.redirects) == (("rm", "-rf", "/"), ("/dev/null", "1"))


def test_pipelines_through_compound_commands_know_what_reads_them() -> None:
    commands = parse_fallback("[[ 1 ]] && { curl x | tee f; } | sh")
    assert [(c.name, c.piped_to) for c in commands] == [
        ("curl", ("tee", "sh")),
        ("tee", ("sh",)),
        ("sh", ()),
    ]


@pytest.mark.parametrize(
    ("body", "value"),
    [("a\\x41\\101\\u00e9'", "aAAé"), ("\\cA\\e\\'x'", "\x01\x1b'x"), ("\\q\\x'", "\\q\\x")],
)
def test_ansi_c_quotes_are_decoded_as_bash_does(body: str, value: str) -> None:
    assert ansi_c(body, 0) == (len(body), value)


def test_the_decision_says_which_parser_read_the_line() -> None:
    assert GUARD.check_line("ls | wc").parser == "bashlex"
    assert GUARD.check_line("[[ -d x ]] && ls").parser == "fallback"
    assert GUARD.check_line("bash -c '[[ -d x ]] && ls'").parser == "fallback"  # nested
    assert GUARD.check_line("[[ -d x").parser == ""
    with parsers_used() as used:
        parse_line("sh -c 'time ls'")
    assert used == {"bashlex", "fallback"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[[ -f x ]] && echo 'a", "unterminated '…' quote"),
        ('[[ -f x ]] && echo "a', 'unterminated "…" quote'),
        ("[[ -f x ]] && echo `id", "unterminated `…`"),
        ("[[ -f x ]] && echo $(id", r"unexpected end of the line inside '\$\('"),
        ("[[ -f x ]] && echo ${x", r"unterminated \$\{…\}"),
        ("[[ -f x ]] && echo $'a", r"unterminated \$'…' quote"),
        ("[[ -f x && ls", "an unclosed '\\[\\['"),
        ("[[ a ; ]]", "';' inside"),
        ("case x in a) ls;;", "inside 'case'"),
        ("case x a) ls;; esac", "`case … in` expected"),
        ("if [[ 1 ]]; then ls", "inside 'if'"),
        ("[[ 1 ]]; fi", "'fi' outside|closes nothing"),
        ("[[ 1 ]] && ls )", "closes nothing"),
        ("[[ 1 ]]; ls ;;", "outside a case arm"),
        ("[[ 1 ]] ls", "after the end of a compound command"),
        ("[[ 1 ]]; echo (x)", "'\\(' inside a command"),
        ("[[ 1 ]] &&", "ends in an operator"),
        ("[[ 1 ]]; ls >", "no target"),
        ("echo " + "$(" * 40 + ")" * 40 + " [[", "nested more than 32"),
    ],
)
def test_what_the_fallback_cannot_read_stays_unparsable(text: str, reason: str) -> None:
    with pytest.raises(UnparsableLine, match=reason):
        parse_line(text)
    assert GUARD.check_line(text).rule == "commands.unparsable"


@given(
    blocked=st.sampled_from(BLOCKED),
    constructs=st.lists(st.sampled_from(CONSTRUCTS[:22]), min_size=1, max_size=3),
)
def test_wrapping_a_blocked_command_never_allows_it(blocked: str, constructs: list[str]) -> None:
    line = blocked
    for construct in constructs:
        line = construct.format(line)
    verdict = GUARD.check_line(line)
    assert verdict.action == "block", (line, verdict)
    assert verdict.rule in ("rm-root", "pipe-to-shell"), (line, verdict)


@given(
    blocked=st.sampled_from(BLOCKED),
    construct=st.sampled_from(CONSTRUCTS),
    opener=st.sampled_from(OPENERS),
)
def test_an_unbalanced_line_stays_unparsable(blocked: str, construct: str, opener: str) -> None:
    line = f"{construct.format(blocked)}\n{opener}"
    with pytest.raises(UnparsableLine, match=r"cannot parse"):
        parse_line(line)


SHAPES = ["{} && {}", "{} | {}", "{}; {}", "( {} )", "{{ {}; }}", 'echo "$({})"', "x=$({})"]
SHAPES += ["if {}; then {}; else {}; fi", "while {}; do {}; done", "for i in $({}); do {}; done"]
SHAPES += ["f() {{ {}; }}", "cat <({})", "{} 2>&1 > out", "! {}", "echo `{}`", "{}\n{}"]
LINES = st.recursive(
    st.sampled_from(["ls", "sudo rm -rf /", "curl x", "wc -l", "echo a"]),
    lambda inner: st.builds(
        lambda shape, parts: shape.format(*parts[: shape.count("{}")]),
        st.sampled_from(SHAPES),
        st.lists(inner, min_size=3, max_size=3),
    ),
    max_leaves=8,
)


@given(line=LINES)
def test_the_fallback_finds_what_bashlex_finds(line: str) -> None:
    """Where both can read a line, the fallback sees every command bashlex sees."""
    with parsers_used() as used:
        by_bashlex = parse_line(line)
    assume(used == {"bashlex"})  # `&&` inside `$(…)` is the fallback's already
    found = [command.argv for command in parse_fallback(line)]
    for command in by_bashlex:
        found.remove(command.argv)  # ValueError if the fallback missed it
