"""PgBouncer in front of the benchmark cluster, for `pg_proxy --pgbouncer`: a C relay.

Session pooling (every client keeps its own server connection, prepared statements
work), SCRAM-SHA-256 toward the client like hgate's proxy, TCP on 127.0.0.1 both ways.
It parses only message headers and guards nothing, so beside the zero-parse Python relay
(`--floor`) it shows what the extra hop costs a relay written in C on the same machine.
PgBouncer refuses to run as root: it runs as the cluster's unprivileged user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from hgate.proxy import Upstream
from tests.fixtures.postgres_server import free_port, server_user


def available() -> bool:
    return shutil.which("pgbouncer") is not None


class PgBouncer:
    """`start()` returns the port clients connect to, with `upstream`'s user and password."""

    def __init__(self, upstream: Upstream, base: Path) -> None:
        self.upstream = upstream
        self.base = base
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        user = server_user()
        up = self.upstream
        self.base.mkdir(mode=0o700)
        port = free_port()
        (self.base / "users.txt").write_text(f'"{up.user}" "{up.password}"\n')
        (self.base / "pgbouncer.ini").write_text(
            f"[databases]\n{up.dbname} = host={up.host} port={up.port} dbname={up.dbname}\n"
            "[pgbouncer]\nlisten_addr = 127.0.0.1\n"
            f"listen_port = {port}\nauth_type = scram-sha-256\n"
            f"auth_file = {self.base}/users.txt\npool_mode = session\n"
            "max_client_conn = 64\ndefault_pool_size = 16\nunix_socket_dir =\n"
            f"logfile = {self.base}/pgbouncer.log\n"
        )
        if os.geteuid() == 0:
            for path in (self.base, *self.base.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
        as_user = os.geteuid() == 0
        self.proc = subprocess.Popen(
            ["pgbouncer", str(self.base / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=user.pw_uid if as_user else None,
            group=user.pw_gid if as_user else None,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.base / "pgbouncer.log"
                tail = log.read_text()[-500:] if log.exists() else ""
                raise RuntimeError(f"pgbouncer exited ({self.proc.returncode}): {tail}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return port
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("pgbouncer did not listen within 10 s")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
