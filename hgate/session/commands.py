"""Where the agent's commands meet the session: shim directory, control socket, recorder.

The agent gets a private directory (mode 0700, removed at the end) first on its PATH,
holding `sh` and `bash` scripts that run `hgate shell`, and `SHELL` pointing at that
`bash`. Each one asks the parent over a Unix socket in the same directory
(`HGATE_CONTROL`, hgate.session.control). `CommandsSession` is the one object the
session orchestrator holds for all of it: prepare (before the agent's environment is
built), start (once the transcript is open), the stdin filter, close.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import hgate
from hgate.audit import TranscriptWriter
from hgate.guard import ApprovalChannel, NoApprovals
from hgate.mask import Masker
from hgate.policy.commands import CommandPolicy
from hgate.session.control import ControlServer, ShellAnswer, ShellRequest
from hgate.session.gate import CommandGate
from hgate.session.processes import ProcessRecorder
from hgate.session.stdin_guard import StdinGuard

_SHIM = """#!{python} -IS
# hgate shell: checks every command line with the hgate session before {shell} runs it.
import sys
sys.path[:0] = [{root!r}]
from hgate.cli.shell import main
main({shell!r}, {real!r})
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShimDirectory:
    path: Path

    @property
    def socket_path(self) -> Path:
        return self.path / "control.sock"

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """What the agent's environment gains: PATH first entry, SHELL, HGATE_CONTROL."""
        path = base.get("PATH") or os.defpath
        return {
            "PATH": f"{self.path}{os.pathsep}{path}",
            "SHELL": str(self.path / "bash"),
            "HGATE_CONTROL": str(self.socket_path),
        }

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def create_shim_directory(*, shared: bool = False) -> ShimDirectory:
    """A fresh 0700 directory holding `sh` and `bash` shims bound to the real shells;
    `shared` (an agent running as another user): 0755, so it can run them but not change
    them."""
    mode = 0o755 if shared else 0o700
    path = Path(tempfile.mkdtemp(prefix="hgate-"))
    path.chmod(mode)
    root = str(Path(hgate.__file__).resolve().parent.parent)
    for shell in ("bash", "sh"):
        script = path / shell
        script.write_text(
            _SHIM.format(python=sys.executable, shell=shell, root=root, real=_real_shell(shell))
        )
        script.chmod(mode)
    return ShimDirectory(path=path)


def _real_shell(name: str) -> str:
    for directory in ("/bin", "/usr/bin"):
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name, path=os.defpath)
    return found or f"/bin/{name}"


class CommandsSession:
    """The session's whole command capability, in the order the session needs it."""

    def __init__(self, policy: CommandPolicy, *, agent_uid: int | None = None) -> None:
        """`agent_uid`: the agent runs as this other user, who must reach the shims."""
        self._policy = policy
        self._agent_uid = agent_uid
        self.shim = create_shim_directory(shared=agent_uid is not None)
        # removed by close(); also if the session fails before it gets there, or at exit
        weakref.finalize(self, shutil.rmtree, str(self.shim.path), True)
        self._server: ControlServer | None = None
        self._recorder: ProcessRecorder | None = None
        self._gate: CommandGate | None = None
        self._stdin: StdinGuard | None = None
        self.stopped: str | None = None  # why a violation stopped the session
        self.on_stop: Callable[[], None] = lambda: None

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        return self.shim.environment(base)

    def start(
        self,
        *,
        masker: Masker,
        writer: TranscriptWriter,
        echo: Callable[[bytes], None],
        approvals: ApprovalChannel | None = None,
    ) -> None:
        """Serve the shims and start the recorder; say in the transcript what records what.
        `approvals` settles `approve` verdicts (default: refused, not configured)."""
        gate = CommandGate(
            self._policy,
            masker=masker,
            writer=writer,
            approvals=approvals or NoApprovals(),
            shim_dir=str(self.shim.path),
            stop=self._stop,
        )
        self._gate = gate
        self._server = ControlServer(self.shim.socket_path, self._answer, owner=self._agent_uid)
        self._server.start()
        self._recorder = ProcessRecorder(
            self._policy.recorder,
            on_exec=lambda pid, ppid, argv, exe: gate.process_exec(
                pid=pid, ppid=ppid, argv=argv, exe=exe, source=self._source()
            ),
            on_exit=lambda pid, code, sig, duration: gate.process_exit(
                pid=pid, exit_code=code, signal_number=sig, duration=duration, source=self._source()
            ),
        )
        writer.append(
            "recorder",
            {
                **asdict(self._recorder.info),
                "shell_shim": str(self.shim.path / "bash"),
                "stdin": self._policy.stdin,
                "rules": len(self._policy.rules),
            },
        )
        self._recorder.start()
        if self._policy.stdin == "check":
            self._stdin = StdinGuard(gate.stdin_line, echo)

    def stdin_filter(self, data: bytes) -> bytes:
        return self._stdin.feed(data) if self._stdin is not None else data

    def close(self) -> None:
        """Stop serving and recording (queued exits are recorded first); remove the shims."""
        try:
            if self._recorder is not None:
                self._recorder.close()
            if self._server is not None:
                self._server.close()
        finally:
            self.shim.remove()
        # A recording failure inside the server or recorder thread needs no re-raise here:
        # it left the transcript writer failed, so the session's next write raises it.

    def _answer(self, request: ShellRequest) -> ShellAnswer:
        assert self._gate is not None
        return self._gate.shell_request(
            shell=request.shell,
            args=request.args,
            cwd=request.cwd,
            path=request.path,
            pid=request.pid,
        )

    def _source(self) -> str:
        return self._recorder.info.source if self._recorder is not None else "off"

    def _stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            self.on_stop()
