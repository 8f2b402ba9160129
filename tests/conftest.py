"""Suite-wide plugins: real servers behind fixtures (see tests/fixtures/)."""

pytest_plugins = [
    "tests.fixtures.oidc_server",
    "tests.fixtures.postgres_server",
    "tests.fixtures.s3_server",
    "tests.fixtures.sshd_server",
]
