"""`hgate shell`: a drop-in for `bash`/`sh` that asks the session before any command runs.

The agent gets this as `$SHELL` and, through a private directory first on its PATH, as
`sh` and `bash`. It sends its arguments, working directory and PATH to the parent
hgate over the session's control socket (`HGATE_CONTROL`); the parent parses, decides
and records, so the agent cannot skip the record. On `allow` this process becomes the
real shell (exec, same pid, unchanged arguments); otherwise it prints one line on
stderr and exits 126, as a shell does for a command it cannot execute. No session, no
answer, or a garbled answer: refused (fail closed). A command held for approval is
answered first with `wait<TAB>notice` lines: the notice goes to stderr and the shim
waits, with no time-out of its own, for the verdict (the session enforces the expiry).
An allowed script (`bash job.sh`) comes back as `allow<TAB>` and the arguments to run
instead: the checked text as the `-c` string, so a file swapped since the check is never
read.

Speed matters (one of these per tool call), so this module imports only `os`, `sys`
and `_socket`; the private directory's scripts run it with `python -I -S`, skipping
site-packages, the environment's PYTHON* variables and typer.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # `typing` costs ~7 ms to import: only the type checker reads it
if TYPE_CHECKING:
    from typing import Any, NoReturn

EXIT_REFUSED = 126
PROTOCOL = b"hgate-shell/1"
TIMEOUT = 30.0
MAX_REPLY = 4 << 20  # a checked script's text comes back with the verdict
CONTEXT = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "allow_interspersed_args": False,
}  # every argument is the shell's, even --help


def main(shell: str, real_shell: str, args: list[str] | None = None) -> NoReturn:
    """Ask the session about `shell ARGS`; exec `real_shell` if allowed, else exit 126."""
    argv = sys.argv[1:] if args is None else args
    control = os.environ.get("HGATE_CONTROL", "")
    if not control:
        _refuse("not inside an hgate session (HGATE_CONTROL is not set)")
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    fields = [
        PROTOCOL,
        shell.encode(),
        os.fsencode(cwd),
        os.fsencode(os.environ.get("PATH", "")),
        *(os.fsencode(a) for a in argv),
    ]
    try:
        reply = _ask(control, b"".join(b"%d:%s," % (len(f), f) for f in fields))
    except OSError as exc:
        _refuse(f"cannot reach the hgate session ({exc.strerror or exc})")
    action, tab, rest = reply.partition(b"\t")
    if action.rstrip(b"\n") != b"allow":
        _refuse(rest.decode("utf-8", "replace").rstrip("\n") or "the session gave no verdict")
    run: list[bytes | str] = list(argv)
    if tab:  # run what the session checked, not what the arguments would read now
        try:
            run = list(_fields(rest))
        except ValueError:
            run = []
        if not run:
            _refuse("the session's answer is garbled")
    name = sys.argv[0] if args is None else shell
    argv0 = "-" + shell if os.path.basename(name).startswith("-") else shell
    try:
        os.execv(real_shell, [argv0, *run])
    except OSError as exc:
        _refuse(f"cannot run {real_shell}: {exc.strerror}")


def _fields(data: bytes) -> list[bytes]:
    """Netstrings (`5:hello,`), as the session writes the arguments to run."""
    fields: list[bytes] = []
    while data:
        length, colon, data = data.partition(b":")
        size = int(length) if colon and length.isdigit() else -1
        if size < 0 or data[size : size + 1] != b",":
            raise ValueError("not a netstring")
        fields.append(data[:size])
        data = data[size + 1 :]
    return fields


def _ask(path: str, request: bytes) -> bytes:
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(TIMEOUT)
        sock.connect(path)
        sock.sendall(request)
        sock.shutdown(_socket.SHUT_WR)
        reply = b""
        while len(reply) < MAX_REPLY:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
            while reply.startswith(b"wait\t") and b"\n" in reply:
                notice, _, reply = reply.partition(b"\n")
                os.write(2, b"hgate: " + notice[5:] + b"\n")
                sock.settimeout(None)  # held for approval: the session decides when it ends
        return reply
    finally:
        sock.close()


def _refuse(message: str) -> NoReturn:
    os.write(2, f"hgate: {message}\n".encode("utf-8", "replace"))
    os._exit(EXIT_REFUSED)  # no atexit work: this stands in for a shell that could not run


def register(app: Any) -> None:
    """Add `hgate shell` to the typer app; typer is imported here, never on the shim's path."""
    import typer

    def shell(ctx: typer.Context) -> None:
        """Check a shell command line against the session's policy, then run it in bash.

        Use as `hgate shell -c 'COMMAND'` (any bash options), `hgate shell script.sh`, or
        with no arguments for an interactive shell. Exits 126 if the session refuses.
        Inside a session every argument, `--help` included, is bash's.
        """
        if ctx.args == ["--help"] and not os.environ.get("HGATE_CONTROL"):
            typer.echo(ctx.get_help())  # outside a session nothing could run: say what this is
            raise typer.Exit(0)
        main("bash", _real("bash"), list(ctx.args))

    shell.__annotations__ = {"ctx": typer.Context, "return": None}
    app.command("shell", context_settings=CONTEXT, add_help_option=False)(shell)


def _real(shell: str) -> str:
    for directory in ("/bin", "/usr/bin"):
        candidate = f"{directory}/{shell}"
        if os.access(candidate, os.X_OK):
            return candidate
    return f"/bin/{shell}"
