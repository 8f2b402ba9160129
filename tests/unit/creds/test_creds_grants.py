"""The `database:` and `ssh:` grants: what loads, and what is refused with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hgate.errors import PolicyError
from hgate.policy.loader import load_policy
from hgate.policy.model import Policy

HOST_KEY = (
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    .decode()
)
POLICY = """version: 1
name: t
identities:
  - name: agent
    local: true
    grants:
{grants}"""
DATABASE = """      database:
        name: clinic
        tables:
          - table: appointments
            privileges: [SELECT]
          - schema: billing
            table: invoices
            privileges: [select, INSERT]
            columns: [id, amount]
"""
SSH = f"""      ssh:
        principals: [deploy]
        hosts:
          - host: "*.internal"
            host_keys: ["{HOST_KEY} comment"]
          - host: 10.0.0.5
            port: 2222
            host_keys: ["{HOST_KEY}"]
"""


def load(tmp_path: Path, grants: str) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(grants=grants))
    return load_policy(path)


def test_a_database_and_ssh_grant_load_with_least_privilege_defaults(tmp_path: Path) -> None:
    grants = load(tmp_path, DATABASE + SSH).identities[0].grants
    database, ssh = grants.database, grants.ssh
    assert database is not None and ssh is not None
    assert database.schemas == ("public", "billing")
    assert database.tables[1].privileges == ("SELECT", "INSERT")
    assert database.tables[1].columns == ("id", "amount")
    assert database.read_only is False  # INSERT is granted
    assert (database.statement_timeout, database.connection_limit, database.env) == (60.0, 5, "pg")
    assert ssh.user == "deploy" and ssh.extensions == ("permit-pty",)
    assert ssh.hosts[0].port == 22 and ssh.hosts[1].port == 2222
    assert ssh.hosts[0].host_keys == (HOST_KEY,)  # the comment is dropped
    assert ssh.validity is None and ssh.force_command is None and ssh.source_address == ()
    assert grants.to_dict()["database"]["tables"][0] == {
        "table": "public.appointments",
        "privileges": ["SELECT"],
    }


def test_a_select_only_grant_is_read_only_by_default(tmp_path: Path) -> None:
    text = "      database:\n        name: c\n        tables: [{table: t, privileges: [SELECT]}]\n"
    database = load(tmp_path, text).identities[0].grants.database
    assert database is not None and database.read_only is True


@pytest.mark.parametrize(
    ("grants", "message"),
    [
        (DATABASE.replace("name: clinic", "nmae: clinic"), r":8:9: .*unknown key 'nmae'"),
        (DATABASE.replace("[SELECT]", "[SELECT, DROP]"), r":11:34: .*unknown privilege 'DROP'"),
        (DATABASE.replace("[SELECT]", "[SELECT, SELECT]"), r"SELECT is listed twice"),
        (
            DATABASE.replace("name: clinic", "name: clinic\n        read_only: true"),
            r":9:20: .*read_only grant may only give SELECT",
        ),
        (
            DATABASE.replace("[select, INSERT]", "[DELETE]"),
            r"DELETE applies to whole rows",
        ),
        (
            DATABASE.replace("table: invoices", "table: '*'"),
            r"columns can only narrow a named table",
        ),
        ("      database:\n        name: c\n        tables: []\n", r"grant at least one table"),
        (
            DATABASE.replace("name: clinic", "name: clinic\n        connection_limit: 0"),
            r"must be at least 1",
        ),
        (
            DATABASE.replace("name: clinic", "name: clinic\n        env: dotenv"),
            r"expected one of pg, database_url, both",
        ),
        (SSH.replace(f'["{HOST_KEY}"]', "[]"), r":12:13: .*strict known_hosts"),
        (SSH.replace(f'["{HOST_KEY}"]', '["ssh-ed25519 AAAAnotakey"]'), r"not an OpenSSH public"),
        (SSH + "        extensions: [permit-everything]\n", r"expected one of permit-pty"),
        (SSH + "        source_address: [10.0.0.300/8]\n", r"not an address or CIDR block"),
        (SSH + "        force_command: '  '\n", r"force_command must be one non-empty line"),
        (SSH.replace("[deploy]", "['two words']"), r"is not a principal"),
        (SSH.replace("port: 2222", "port: 70000"), r"must be at most 65535"),
        (SSH.replace('"*.internal"', '"bad host"'), r"is not a host name"),
    ],
)
def test_bad_grants_are_refused_with_their_location(
    tmp_path: Path, grants: str, message: str
) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        load(tmp_path, grants)
    assert str(tmp_path / "policy.yaml") in str(info.value)


def test_a_grant_without_a_secret_in_sight(tmp_path: Path) -> None:
    """The admin DSN and CA key are never policy keys: a policy that tries is refused."""
    with pytest.raises(PolicyError, match="unknown key 'admin_dsn'"):
        load(tmp_path, DATABASE + "        admin_dsn: postgresql://root@db/x\n")
    with pytest.raises(PolicyError, match="unknown key 'ca_key'"):
        load(tmp_path, SSH + "        ca_key: /etc/ssh/ca\n")
