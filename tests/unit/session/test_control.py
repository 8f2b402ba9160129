"""The control socket with the real shim: requests, verdicts, fail-closed answers."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hgate.guard import Verdict
from hgate.session.commands import ShimDirectory, create_shim_directory
from hgate.session.control import ControlServer, ShellAnswer, ShellRequest


@pytest.fixture
def shim() -> Iterator[ShimDirectory]:
    directory = create_shim_directory()
    yield directory
    directory.remove()


def serve(shim: ShimDirectory, answer: Verdict, seen: list[ShellRequest]) -> ControlServer:
    def handler(request: ShellRequest) -> ShellAnswer:
        seen.append(request)
        return ShellAnswer(verdict=answer)

    server = ControlServer(shim.socket_path, handler)
    server.start()
    return server


def run(shim: ShimDirectory, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **shim.environment(os.environ)}
    return subprocess.run(
        [str(shim.path / name), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=30,
        check=False,
    )


def test_the_directory_is_private_and_holds_both_shells(shim: ShimDirectory) -> None:
    assert shim.path.stat().st_mode & 0o777 == 0o700
    env = shim.environment({"PATH": "/usr/bin"})
    assert env["PATH"] == f"{shim.path}:/usr/bin"
    assert env["SHELL"] == str(shim.path / "bash")
    assert {p.name for p in shim.path.iterdir()} == {"sh", "bash"}


def test_allow_execs_the_real_shell_with_the_same_arguments(shim: ShimDirectory) -> None:
    seen: list[ShellRequest] = []
    server = serve(shim, Verdict(action="allow", rule="r"), seen)
    try:
        done = run(shim, "sh", "-c", 'echo "$0:$1"; exit 4', "zero", "one")
    finally:
        server.close()
    assert (done.returncode, done.stdout) == (4, "zero:one\n")
    (request,) = seen
    assert (request.shell, request.args, request.cwd) == (
        "sh",
        ("-c", 'echo "$0:$1"; exit 4', "zero", "one"),
        "/",
    )
    assert request.pid is not None and request.pid > 0


def test_block_refuses_with_126_and_one_line(shim: ShimDirectory) -> None:
    server = serve(shim, Verdict(action="block", rule="r", reason="no"), [])
    try:
        done = run(shim, "bash", "-c", "echo ran")
    finally:
        server.close()
    assert (done.returncode, done.stdout) == (126, "")
    assert done.stderr == "hgate: blocked by rule r: no\n"


def test_a_block_message_with_bytes_that_are_not_utf8_still_refuses(
    shim: ShimDirectory,
) -> None:
    """A command line with bytes that are not UTF-8 arrives as surrogates; its block
    message must still reach the shim (the control thread died on it: no verdict)."""
    server = serve(shim, Verdict(action="block", rule="r", reason="no \udced\udca0 way"), [])
    try:
        done = run(shim, "bash", "-c", "echo ran")
    finally:
        server.close()
    assert server.error is None
    assert (done.returncode, done.stdout) == (126, "")
    assert done.stderr.startswith("hgate: blocked by rule r: no ")


def test_a_malformed_request_is_answered_block(shim: ShimDirectory) -> None:
    server = serve(shim, Verdict(action="allow", rule="r"), [])
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(shim.socket_path))
            client.sendall(b"5:hello,")
            client.shutdown(socket.SHUT_WR)
            reply = client.recv(4096)
    finally:
        server.close()
    assert reply.startswith(b"block\tmalformed request")


def test_no_server_means_refusal(shim: ShimDirectory, tmp_path: Path) -> None:
    done = run(shim, "bash", "-c", "echo ran")
    assert done.returncode == 126 and "cannot reach the hgate session" in done.stderr


def test_allow_with_arguments_runs_those_instead(shim: ShimDirectory) -> None:
    server = ControlServer(
        shim.socket_path,
        lambda _request: ShellAnswer(
            verdict=Verdict(action="allow", rule="r"),
            args=("-c", "--", 'printf "%s|" "$0" "$@" "$(printf "a\\tb\\nc")"', "job.sh", "1"),
        ),
    )
    server.start()
    try:
        done = run(shim, "bash", "job.sh", "1")
    finally:
        server.close()
    assert (done.returncode, done.stdout) == (0, "job.sh|1|a\tb\nc|")


def test_a_garbled_list_of_arguments_is_refused(shim: ShimDirectory) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(shim.socket_path))
        listener.listen(1)
        done = subprocess.Popen(
            [str(shim.path / "bash"), "job.sh"],
            env={**os.environ, **shim.environment(os.environ)},
            stderr=subprocess.PIPE,
            text=True,
        )
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"allow\t9:-c,")
        _, stderr = done.communicate(timeout=30)
    assert (done.returncode, stderr) == (126, "hgate: the session's answer is garbled\n")
