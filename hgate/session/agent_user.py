"""Running the agent as another OS user: the same-user gap closed.

An agent of hgate's own user can read hgate's files (a local signing key, the transcript
being written), signal hgate, and read the initial environment of every same-user
process (a CI step shell's OIDC request token). Started as another user it can do none
of that. hgate must then run as root (`sudo -E hgate run --agent-user NAME -- …`); the
agent gets that user's uid, gid and groups, its HOME, USER and LOGNAME, a terminal it
owns, and shims it can run but not change.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import sys
from dataclasses import dataclass

from hgate.errors import UsageError

__all__ = ["AgentUser", "resolve_agent_user"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    def environment(self) -> dict[str, str]:
        """What the agent's environment says about who it is."""
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name}

    def become(self, terminal_fd: int) -> None:
        """Runs in the agent's child process before exec: give it the terminal, then drop
        to the user for good."""
        with contextlib.suppress(OSError):
            os.fchown(terminal_fd, self.uid, -1)
        self._drop()

    def _drop(self) -> None:
        """Groups first: setuid takes away the right to change them."""
        os.setgroups(list(self.groups))
        os.setgid(self.gid)
        os.setuid(self.uid)

    def can_run(self, *paths: str) -> bool:
        """Whether the user can execute the first path and read the others (a forked
        child drops to the user and looks), so a shim it cannot run fails here, not later."""
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's exit status is the answer
            try:
                self._drop()
                ok = os.access(paths[0], os.X_OK) and all(os.access(p, os.R_OK) for p in paths[1:])
            except BaseException:
                ok = False
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0


def resolve_agent_user(name: str, *, package_dir: str) -> AgentUser:
    """The user `name`, checked: hgate is root, the user exists, is not root, and can run
    hgate's Python and read its package (which the `sh`/`bash` shims need)."""
    if os.geteuid() != 0:
        raise UsageError(
            "--agent-user needs hgate to run as root, to start the agent as that user",
            remedy=f"sudo -E hgate run --agent-user {name} -- COMMAND",
        )
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(
            f"--agent-user: no user named {name!r}",
            remedy=f"create one first: useradd --create-home {name}",
        ) from None
    if entry.pw_uid == 0:
        raise UsageError("--agent-user must name a user other than root")
    user = AgentUser(
        name=name,
        uid=entry.pw_uid,
        gid=entry.pw_gid,
        groups=tuple(os.getgrouplist(name, entry.pw_gid)),
        home=entry.pw_dir,
    )
    if not user.can_run(sys.executable, package_dir):
        raise UsageError(
            f"--agent-user {name}: that user cannot run hgate's Python ({sys.executable}) "
            f"or read its package ({package_dir}), so every shell the agent starts would be "
            "refused",
            remedy="install hgate where every user can read it (a venv outside /root)",
        )
    return user
