"""The stdin guard: typed lines are checked before the agent gets them."""

from __future__ import annotations

from hgate.guard import CommandGuard, Matcher, Rule
from hgate.session.stdin_guard import StdinGuard

GUARD = CommandGuard([Rule(name="no-rm", action="block", matcher=Matcher(programs=("rm",)))])


def make() -> tuple[StdinGuard, list[bytes]]:
    echoed: list[bytes] = []
    return StdinGuard(GUARD.check_line, echoed.append), echoed


def test_an_allowed_line_is_forwarded_whole_on_enter() -> None:
    guard, echoed = make()
    assert guard.feed(b"ls -l") == b""
    assert b"".join(echoed) == b"ls -l"
    assert guard.feed(b"\r") == b"ls -l\r"
    assert b"".join(echoed).endswith(b"\b \b" * 5)  # local echo erased; the agent echoes


def test_a_blocked_line_is_dropped_and_explained() -> None:
    guard, echoed = make()
    assert guard.feed(b"rm -rf x\rls\r") == b"ls\r"
    assert b"not sent to the agent: blocked by rule no-rm" in b"".join(echoed)


def test_editing_keys_change_what_is_checked() -> None:
    guard, _ = make()
    assert guard.feed(b"rmx\x7f\x7f\x7fls\r") == b"ls\r"
    assert guard.feed(b"rm -rf x\x15echo hi\r") == b"echo hi\r"
    assert guard.feed(b"echo a rm\x17b\r") == b"echo a b\r"


def test_control_keys_and_escapes_pass_when_nothing_is_held() -> None:
    guard, _ = make()
    assert guard.feed(b"\x1b[A") == b"\x1b[A"
    assert guard.feed(b"\r") == b"\r"
    assert guard.feed(b"rm -rf /\x03") == b"\x03"  # Ctrl-C drops the held line
    assert guard.feed(b"\r") == b"\r"
    assert guard.feed(b"\x1b[200~rm x\x1b[201~\r") == b""  # bracketed paste is still checked


def test_a_backslash_continuation_is_checked_joined_with_the_next_line() -> None:
    guard, echoed = make()
    assert guard.feed(b"r\\\r") == b""  # held: the shell would read on
    assert guard.feed(b"m -rf x\r") == b""  # `rm -rf x` when joined: refused, both dropped
    assert b"not sent to the agent: blocked by rule no-rm" in b"".join(echoed)
    assert guard.feed(b"ls \\\r") == b""
    assert guard.feed(b"-l\r") == b"ls \\\r-l\r"  # allowed: forwarded whole, as typed
    assert guard.feed(b"echo a\\\\\r") == b"echo a\\\\\r"  # `\\` is no continuation


def test_ctrl_c_drops_the_held_continuation() -> None:
    guard, _ = make()
    assert guard.feed(b"r\\\r") == b""
    assert guard.feed(b"\x03") == b"\x03"
    assert guard.feed(b"m -rf x\r") == b"m -rf x\r"  # a new line: `m` is not `rm`
