"""Refusing regular expressions that can backtrack exponentially (ReDoS).

Policy regexes run on text someone else controls: mask rules on every line the agent
prints, claim matchers on token claims such as the branch name the agent pushed. Python's
`re` has no time limit, so `(a+)+b` on 30 a's hangs the gate. The check is structural:
an unbounded repeat inside another unbounded repeat. Overlapping alternatives such as
`(a|a)*` are not detected.
"""

from __future__ import annotations

from re import _parser as sre_parser
from typing import Any

NESTED_REPEAT = (
    "a repeated group contains another unbounded repeat (like (a+)+ or (\\w+\\s?)*): "
    "it can take exponential time on text hgate matches"
)
NESTED_REPEAT_REMEDY = (
    "repeat the group possessively ((a+)++) or atomically ((?>a+)+), or bound the inner "
    "repeat ({1,20})"
)


def backtracks_exponentially(pattern: str) -> bool:
    """Whether `pattern` (which compiles) nests an unbounded repeat in another."""
    return _nested_repeat(sre_parser.parse(pattern))


def _nested_repeat(items: Any, inside: bool = False) -> bool:
    """Possessive repeats and atomic groups never backtrack, so they are not descended."""
    for op, av in items:
        children: list[Any] = []
        if op in (sre_parser.MAX_REPEAT, sre_parser.MIN_REPEAT):
            unbounded = av[1] == sre_parser.MAXREPEAT
            if unbounded and inside:
                return True
            if _nested_repeat(av[2], inside or unbounded):
                return True
        elif op is sre_parser.SUBPATTERN:
            children = [av[3]]
        elif op is sre_parser.BRANCH:
            children = list(av[1])
        elif op in (sre_parser.ASSERT, sre_parser.ASSERT_NOT):
            children = [av[1]]
        elif op is sre_parser.GROUPREF_EXISTS:
            children = [sub for sub in av[1:] if sub is not None]
        if any(_nested_repeat(child, inside) for child in children):
            return True
    return False
