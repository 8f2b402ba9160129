"""The stdin guard: a line typed at the agent's terminal is checked before the agent gets it.

Only a developer's own terminal reaches the agent's stdin (in CI it is /dev/null), so
this is a small line discipline in front of the agent: printable keys are held and
echoed locally, Backspace / Ctrl-U / Ctrl-W edit the held line, Enter checks it. An
allowed line is forwarded whole (the local echo is erased first: the agent echoes it
itself); a refused one is dropped and the developer sees why. Ctrl-C, Ctrl-D, Ctrl-Z
and Ctrl-\\ drop the held line and go through at once. Keys that edit the agent's own
line (arrows, history, completion) pass through only while nothing is held, and lines
built that way are not seen here: the shell shim and the process recorder still are. A
line ending in a `\\` continuation is held with the next, and the joined line is checked.
"""

from __future__ import annotations

from collections.abc import Callable

from hgate.guard import Verdict

_ENTER = (0x0D, 0x0A)
_ERASE = (0x7F, 0x08)
_KILL_LINE, _KILL_WORD = 0x15, 0x17
_SIGNALS = (0x03, 0x04, 0x1A, 0x1C)
_PASTE_MARKERS = (b"\x1b[200~", b"\x1b[201~")


class StdinGuard:
    """`feed(keys)` returns what to forward to the agent now; `echo` writes to the terminal."""

    def __init__(self, check: Callable[[str], Verdict], echo: Callable[[bytes], None]) -> None:
        self._check = check
        self._echo = echo
        self._held = bytearray()
        # earlier lines that ended in a `\` continuation: held, as typed, until one does not
        self._continued = bytearray()
        self._continued_text = ""

    def feed(self, data: bytes) -> bytes:
        for marker in _PASTE_MARKERS:
            data = data.replace(marker, b"")
        if not self._held and not self._continued and data[:1] == b"\x1b":
            return data  # an escape sequence for the agent (arrows, function keys)
        forward = bytearray()
        for byte in data:
            if byte in _ENTER:
                forward += self._enter(byte)
            elif byte in _ERASE:
                self._erase(1)
            elif byte == _KILL_LINE:
                self._erase(len(self._chars()))
            elif byte == _KILL_WORD:
                text = self._chars()
                trimmed = text.rstrip()
                self._erase(len(text) - (trimmed.rfind(" ") + 1))  # as readline: keep the space
            elif byte in _SIGNALS:
                self._erase(len(self._chars()))
                self._continued.clear()
                self._continued_text = ""
                forward.append(byte)
            elif byte >= 0x20 or byte == 0x09:
                self._held.append(byte)
                self._echo(bytes([byte]))
            elif not self._held and not self._continued:
                forward.append(byte)
        return bytes(forward)

    def _enter(self, byte: int) -> bytes:
        if not self._held and not self._continued:
            return bytes([byte])
        held, line = bytes(self._held), self._chars()
        if _continues(line):
            # `s\` Enter `sh -V`: a shell joins the two into `ssh -V`, so the line is
            # held until it ends, then checked whole
            self._continued += held + bytes([byte])
            self._continued_text += line[:-1]
            self._held.clear()
            self._echo(b"\r\n")
            return b""
        self._erase(len(line))
        held, line = bytes(self._continued) + held, self._continued_text + line
        self._continued.clear()
        self._continued_text = ""
        verdict = self._check(line)
        if verdict.allowed:
            return held + bytes([byte])
        self._echo(f"\r\nhgate: not sent to the agent: {verdict.message()}\r\n".encode())
        return b""

    def _chars(self) -> str:
        return self._held.decode("utf-8", "replace")

    def _erase(self, count: int) -> None:
        """Remove `count` characters from the held line and from the local echo."""
        if count <= 0 or not self._held:
            return
        text = self._chars()
        kept = text[: max(0, len(text) - count)]
        removed = len(text) - len(kept)
        self._held[:] = kept.encode("utf-8")
        self._echo(b"\b \b" * removed)


def _continues(line: str) -> bool:
    """Whether `line` ends in an unescaped backslash: the shell reads on past the newline."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1
