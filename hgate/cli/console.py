"""The two consoles every command prints to: results on stdout, diagnostics on stderr.

Rich styling only when the stream is a terminal and NO_COLOR is unset, so CI logs get
plain lines.

Rich costs ~20 ms to import and set up, and `hgate --version`, `hgate run --quiet` or
`hgate run` in a CI log never need it: each console is a stand-in that makes its rich
Console on first real use, with the stream and NO_COLOR as they were when this module
was imported (the Console an eager import made). Until then, a plain one-line
`print(text, markup=False)` to a stream that is not a terminal is written directly —
only when rich would write exactly `text` and a newline (see `_plain`); anything else
goes to rich.

A reader that goes away (`hgate verify … | head -1`) must not change the exit code:
once a stream's pipe is broken, its output is dropped (the descriptor is pointed at
/dev/null) and the command carries on to its own exit code, instead of rich's or
click's exit 1. `write_out` is the same for text written without the console.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import sys
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console

_EMOJI_CODE = re.compile(r":\S*:")  # rich replaces `:name:` even with markup off
_PLAIN_STYLES = frozenset({None, "dim"})  # no visible effect when not a terminal


_gone: set[int] = set()  # id() of the streams whose reader has gone away


def reader_gone(stream: IO[str]) -> None:
    """The pipe behind `stream` is broken: drop everything still to be written to it."""
    _gone.add(id(stream))
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's buffer): the flag alone stops further writes
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def untrusted_markup(text: str) -> str:
    """Text someone else chose (from a transcript, a store, an approval request) ready for
    rich markup: non-printable characters (ESC, CR, LF, other C0/C1 controls, DEL, bidi
    overrides, lone surrogates) shown as `\\xNN`-style escapes, so none is obeyed by the
    terminal, and markup escaped. Print it with emoji replacement off."""
    from rich.markup import escape

    from hgate.audit.report import printable

    return escape(printable(text))


def write_json(payload: object) -> None:
    """A view's data as indented JSON on stdout. Strings UTF-8 cannot encode (a lone
    surrogate in a forged header) make the whole document fall back to \\u escapes, as
    `hgate verify --json` does, instead of an internal error."""
    text = json.dumps(payload, ensure_ascii=False, indent=2)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(payload, ensure_ascii=True, indent=2)
    write_out(text + "\n")


def write_out(text: str, *, flush: bool = True) -> None:
    """Write text to stdout as is (JSON, a rendered summary, replayed output); a broken
    pipe ends the output, not the command."""
    stream = sys.stdout
    if id(stream) in _gone:
        return
    try:
        stream.write(text)
        if flush:
            stream.flush()
    except BrokenPipeError:
        reader_gone(stream)


def settle_output() -> None:
    """Flush stdout and stderr before exiting, so a reader that went away cannot turn the
    exit code into Python's 120 at shutdown."""
    for stream in (sys.stdout, sys.stderr):
        if id(stream) in _gone:
            continue
        try:
            stream.flush()
        except BrokenPipeError:
            reader_gone(stream)
        except (OSError, ValueError):
            pass  # closed or unusable: nothing more can be said on it


def _make(stream: IO[str], stream_is_stderr: bool, no_color: bool) -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich's own raises SystemExit(1)
            self.quiet = True
            reader_gone(self.file)

    return _Console(
        file=stream,
        stderr=stream_is_stderr,
        no_color=no_color,
        highlight=False,
        soft_wrap=True,
    )


def _plain(stream: IO[str], objects: tuple[Any, ...], options: dict[str, Any]) -> str | None:
    """The line rich would write for this print, when that is surely the text as given."""
    if len(objects) != 1 or not isinstance(objects[0], str):
        return None
    text: str = objects[0]
    if options.get("markup") is not False or not set(options) <= {"markup", "style"}:
        return None
    if options.get("style") not in _PLAIN_STYLES:
        return None
    if not text.isprintable() or _EMOJI_CODE.search(text):  # control codes, tabs, emoji
        return None
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    if not text.isascii() and encoding != "utf8":
        return None
    if os.environ.get("TTY_COMPATIBLE", "") in ("0", "1") or "FORCE_COLOR" in os.environ:
        return None  # rich's overrides of terminal detection: let rich decide
    if hasattr(stream, "rich_proxied_file") or hasattr(builtins, "get_ipython"):
        return None  # rich's file proxy, or Jupyter (where rich displays instead)
    try:
        if stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return text + "\n"


class _LazyConsole:
    """Forwards every attribute (read or write) to a Console made on first use."""

    __slots__ = ("_lazy_console", "_lazy_no_color", "_lazy_stderr", "_lazy_stream")

    def __init__(self, stream_is_stderr: bool) -> None:
        object.__setattr__(self, "_lazy_stderr", stream_is_stderr)
        object.__setattr__(self, "_lazy_stream", sys.stderr if stream_is_stderr else sys.stdout)
        object.__setattr__(self, "_lazy_no_color", bool(os.environ.get("NO_COLOR")))
        object.__setattr__(self, "_lazy_console", None)

    def _lazy_real(self) -> Console:
        made: Console | None = object.__getattribute__(self, "_lazy_console")
        if made is None:
            made = _make(self._lazy_stream, self._lazy_stderr, self._lazy_no_color)
            object.__setattr__(self, "_lazy_console", made)
        return made

    def print(self, *objects: Any, **options: Any) -> None:
        if id(self._lazy_stream) in _gone:
            return
        if object.__getattribute__(self, "_lazy_console") is None:
            line = _plain(self._lazy_stream, objects, options)
            if line is not None:
                try:
                    self._lazy_stream.write(line)
                    self._lazy_stream.flush()
                except BrokenPipeError:
                    reader_gone(self._lazy_stream)
                return
        self._lazy_real().print(*objects, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lazy_real(), name)

    # `with console:` (rich's Live and Progress use it) looks these up on the type
    def __enter__(self) -> Console:
        return self._lazy_real().__enter__()

    def __exit__(self, *exc: object) -> None:
        self._lazy_real().__exit__(*exc)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._lazy_real(), name, value)


console = cast("Console", _LazyConsole(stream_is_stderr=False))
err_console = cast("Console", _LazyConsole(stream_is_stderr=True))
