"""Keep a same-user agent out of hgate's own process.

Removing hgate's secrets from the agent's environment is not enough on its own: the
kernel keeps every process's *initial* environment in `/proc/<pid>/environ`, and a
process of the same user may read it — so an agent could walk up to hgate and read the
signing key or the CI's OIDC request token there, or open hgate's files through
`/proc/<pid>/fd`, or attach a debugger. Marking hgate non-dumpable (`PR_SET_DUMPABLE`
0) makes those entries root's and refuses ptrace to anyone without CAP_SYS_PTRACE. The
agent is not affected: `execve` makes it dumpable again. An agent running as root keeps
CAP_SYS_PTRACE, which is why the threat model asks for `--agent-user` where it can.
"""

from __future__ import annotations

import ctypes
import sys

from hgate.errors import HgateError

__all__ = ["is_dumpable", "seal_process"]

_PR_GET_DUMPABLE = 3
_PR_SET_DUMPABLE = 4


def _prctl() -> ctypes._FuncPointer:
    # The process's own symbols, libc's among them: no `find_library` (it runs ldconfig).
    function: ctypes._FuncPointer = ctypes.CDLL(None, use_errno=True).prctl
    function.restype = ctypes.c_int
    return function


def seal_process() -> None:
    """Make this process non-dumpable; raise (fail closed) where Linux refuses."""
    if not sys.platform.startswith("linux"):
        raise HgateError(
            "cannot protect hgate's memory and environment from the agent on this platform",
            remedy="run hgate on Linux",
        )
    prctl = _prctl()
    if prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 or is_dumpable():
        raise HgateError(
            f"could not mark hgate non-dumpable (errno {ctypes.get_errno()}): the agent "
            "could read hgate's environment through /proc",
            remedy="check that prctl(PR_SET_DUMPABLE) is allowed (seccomp profile)",
        )


def is_dumpable() -> bool:
    """Whether other processes of this user may read this one's /proc entries."""
    return bool(_prctl()(_PR_GET_DUMPABLE, 0, 0, 0, 0))
