"""The proxy's own connection to PostgreSQL keeps the TLS the admin DSN asked for.

A real cluster with TLS on, its certificate signed by a throwaway CA and naming only
`db.test`; a second CA that signed nothing. libpq's meanings: verify-ca checks the chain,
verify-full also the host name, and neither falls back to plain text or to no check.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hgate.creds.postgres import _environment
from hgate.errors import ConfigError
from hgate.policy.grants import DatabaseGrant
from hgate.proxy import Upstream, UpstreamError, connect
from hgate.session.database_proxy import upstream_from_environment
from tests.fixtures.postgres_server import PostgresServer, start_postgres, stop_postgres
from tests.fixtures.tls_certs import Authority, make_authority, make_server_cert

pytest.importorskip("scramp")


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[tuple[PostgresServer, Authority, Authority]]:
    base = Path(tempfile.mkdtemp(prefix="hgate-pg-tls-"))
    base.chmod(0o755)
    trusted = make_authority(base, "hgate-test-ca")
    stranger = make_authority(base, "unrelated-test-ca")
    server = start_postgres(base / "cluster", tls=make_server_cert(base, trusted, ["db.test"]))
    try:
        yield server, trusted, stranger
    finally:
        stop_postgres(server)
        shutil.rmtree(base, ignore_errors=True)


def _upstream(server: PostgresServer, mode: str, rootcert: Path | str = "") -> Upstream:
    env = {
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGDATABASE": "postgres",
        "PGUSER": server.superuser,
        "PGPASSWORD": server.password,
        "PGSSLMODE": mode,
    }
    if rootcert:
        env["PGSSLROOTCERT"] = str(rootcert)
    upstream = upstream_from_environment(env)
    assert upstream is not None
    return upstream


def _encrypted(upstream: Upstream) -> bool:
    async def login() -> bool:
        conn = await connect(upstream, {"application_name": "hgate-test"})
        try:
            return conn.writer.get_extra_info("ssl_object") is not None
        finally:
            conn.close()
            await conn.writer.wait_closed()  # TLS says goodbye before the loop ends

    return asyncio.run(login())


def test_verify_ca_with_the_right_root_connects_encrypted(
    tls_cluster: tuple[PostgresServer, Authority, Authority],
) -> None:
    server, trusted, _ = tls_cluster
    assert _encrypted(_upstream(server, "verify-ca", trusted.cert_file))


def test_verify_ca_refuses_a_server_another_ca_signed(
    tls_cluster: tuple[PostgresServer, Authority, Authority],
) -> None:
    """It was turned into `prefer`: encrypted, but to whoever answered."""
    server, _, stranger = tls_cluster
    with pytest.raises(UpstreamError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        _encrypted(_upstream(server, "verify-ca", stranger.cert_file))


def test_verify_full_refuses_a_certificate_for_another_host(
    tls_cluster: tuple[PostgresServer, Authority, Authority],
) -> None:
    server, trusted, _ = tls_cluster  # the certificate names db.test, not 127.0.0.1
    with pytest.raises(UpstreamError, match=r"CERTIFICATE_VERIFY_FAILED|match"):
        _encrypted(_upstream(server, "verify-full", trusted.cert_file))


def test_verify_modes_without_a_readable_root_stop_with_a_clear_line(
    tls_cluster: tuple[PostgresServer, Authority, Authority], tmp_path: Path
) -> None:
    server, _, _ = tls_cluster
    missing = tmp_path / "no-such-root.crt"
    with pytest.raises(UpstreamError, match=r"needs a root certificate .*sslrootcert"):
        _encrypted(_upstream(server, "verify-ca", missing))


def test_prefer_and_require_encrypt_when_the_server_offers_tls(
    tls_cluster: tuple[PostgresServer, Authority, Authority],
) -> None:
    server, _, _ = tls_cluster
    assert _encrypted(_upstream(server, "prefer"))
    assert _encrypted(_upstream(server, "require"))
    assert _encrypted(_upstream(server, "allow"))
    assert not _encrypted(_upstream(server, "disable"))


def test_modes_read_from_the_issued_variables() -> None:
    base = {"PGHOST": "db.internal", "PGUSER": "r"}
    modes = {}
    for given in ("disable", "allow", "prefer", "require", "verify-ca", "verify-full", ""):
        upstream = upstream_from_environment({**base, "PGSSLMODE": given})
        assert upstream is not None
        modes[given] = upstream.sslmode
    assert modes == {
        "disable": "disable",
        "allow": "prefer",
        "prefer": "prefer",
        "require": "require",
        "verify-ca": "verify-ca",
        "verify-full": "verify-full",
        "": "prefer",
    }
    with pytest.raises(ConfigError, match="unknown sslmode 'verify_full'"):
        upstream_from_environment({**base, "PGSSLMODE": "verify_full"})


def test_issued_variables_carry_the_admin_dsns_root_certificate() -> None:
    grant = DatabaseGrant(name="clinic", schemas=(), tables=(), read_only=True, env="both")
    env = _environment(
        grant,
        "hgate_s_1",
        "synthetic-password",
        "db.internal",
        5432,
        "host=db.internal user=a sslmode=verify-full sslrootcert=/etc/ssl/db-ca.crt",
    )
    assert env["PGSSLMODE"] == "verify-full"
    assert env["PGSSLROOTCERT"] == "/etc/ssl/db-ca.crt"
    assert "sslrootcert=%2Fetc%2Fssl%2Fdb-ca.crt" in env["DATABASE_URL"]
