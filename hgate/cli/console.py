"""The two consoles every command prints to: results on stdout, diagnostics on stderr.

Rich styling only when the stream is a terminal and NO_COLOR is unset, so CI logs get
plain lines.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console


def _make(stream_is_stderr: bool) -> Console:
    stream = sys.stderr if stream_is_stderr else sys.stdout
    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(
        file=stream,
        stderr=stream_is_stderr,
        no_color=no_color,
        highlight=False,
        soft_wrap=True,
    )


console = _make(stream_is_stderr=False)
err_console = _make(stream_is_stderr=True)
