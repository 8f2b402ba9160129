"""Real `hgate run` sessions with database and SSH grants, against the real servers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.postgres_server import PostgresServer
from tests.fixtures.sshd_server import SshdServer
from tests.integration.run.conftest import Gate, Run

pytestmark = pytest.mark.integration

CLINIC_SQL = """
CREATE TABLE public.appointments (id serial PRIMARY KEY, patient text, at date);
CREATE TABLE public.patients (id serial PRIMARY KEY, name text, ssn text);
CREATE TABLE public.billing (id int, amount int);
CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
INSERT INTO public.appointments (patient, at) VALUES ('p1', '2024-01-02');
INSERT INTO public.patients (name, ssn) VALUES ('Ann Example', '078-05-1120');
INSERT INTO public.billing VALUES (1, 100);
"""

DATABASE_GRANT = """\
      database:
        name: {db}
        statement_timeout: 5s
        connection_limit: 4
        tables:
          - table: appointments
            privileges: [SELECT]
          - table: patients
            privileges: [SELECT]
            columns: [id, name]
          - table: notes
            privileges: [SELECT, INSERT]
"""

SSH_GRANT = """\
      ssh:
        principals: [{principal}]
        user: {user}
        hosts:
          - host: 127.0.0.1
            port: {port}
            host_keys: ["{host_key}"]
        validity: 10m
"""


def creds_policy(grants: str, *, max_duration: str = "60s") -> str:
    return (
        "version: 1\nname: creds-test\nidentities:\n  - name: developer\n    local: true\n"
        f"    grants:\n{grants}session:\n  max_duration: {max_duration}\n  kill_grace: 1s\n"
    )


@dataclass
class CredsGate:
    gate: Gate
    pg: PostgresServer
    db: str

    def database_grant(self) -> str:
        return DATABASE_GRANT.format(db=self.db)

    def ssh_grant(self, sshd: SshdServer) -> str:
        return SSH_GRANT.format(
            principal=sshd.principal, user=sshd.user, port=sshd.port, host_key=sshd.host_public_key
        )

    def env(self, sshd: SshdServer | None = None, **more: str) -> dict[str, str]:
        extra = {"HGATE_ADMIN_DSN": self.pg.dsn("postgres"), **more}
        if sshd is not None:
            extra["HGATE_SSH_CA_KEY"] = sshd.ca_private_key
        return self.gate.env(**extra)

    def policy(self, grants: str, **kwargs: Any) -> Path:
        return self.gate.policy(text=creds_policy(grants, **kwargs))

    def run(
        self, agent: list[str], grants: str, *, sshd: SshdServer | None = None, **env: str
    ) -> Run:
        return self.gate.run(
            agent, policy=self.policy(grants), env=self.env(sshd, **env), timeout=90
        )

    def session_roles(self) -> list[str]:
        out = self.pg.psql("SELECT rolname FROM pg_roles WHERE rolname LIKE 'hgate\\_s\\_%'")
        return out.split()


def events(transcript: Path, event_type: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in transcript.read_text().splitlines()]
    return [line["data"] for line in lines if line["type"] == event_type]


@pytest.fixture
def creds_gate(tmp_path: Path, postgres_server: PostgresServer, postgres_db: str) -> CredsGate:
    postgres_server.psql(CLINIC_SQL, postgres_db)
    return CredsGate(Gate(tmp_path), postgres_server, postgres_db)


@pytest.fixture
def agent(agent_script: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    return agent_script


def ssh_keygen_list(path: Path) -> str:
    return subprocess.run(
        ["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout
