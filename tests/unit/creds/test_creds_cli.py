"""`hgate creds gc` takes the admin DSN the way `hgate run` does (docs/credentials.md):
`--admin-dsn`, `HGATE_ADMIN_DSN`, or the file `HGATE_ADMIN_DSN_FILE` names."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hgate.cli.creds import creds_app
from hgate.creds import postgres_roles
from hgate.errors import ConfigError

DSN = "host=db.internal dbname=postgres user=hgate_issuer password=synthetic-pw"


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The DSNs `collect_garbage` was called with (no database is contacted)."""
    dsns: list[str] = []

    def collect(admin_dsn: str, *, now: datetime, dry_run: bool = False) -> postgres_roles.GcReport:
        dsns.append(admin_dsn)
        return postgres_roles.GcReport()

    monkeypatch.setattr(postgres_roles, "collect_garbage", collect)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the SSH sweep looks only here
    monkeypatch.delenv("RUNNER_TEMP", raising=False)
    monkeypatch.delenv("HGATE_ADMIN_DSN", raising=False)
    monkeypatch.delenv("HGATE_ADMIN_DSN_FILE", raising=False)
    return dsns


def gc(*args: str, env: dict[str, str] | None = None) -> tuple[int, BaseException | None]:
    app = typer.Typer()
    app.add_typer(creds_app, name="creds")
    result = CliRunner().invoke(app, ["creds", "gc", *args], env=env)
    return result.exit_code, result.exception


def test_gc_reads_the_admin_dsn_file(tmp_path: Path, seen: list[str]) -> None:
    """Before: `no admin DSN` although HGATE_ADMIN_DSN_FILE named one."""
    path = tmp_path / "admin.dsn"
    path.write_text(DSN + "\n")
    code, exception = gc("--dry-run", env={"HGATE_ADMIN_DSN_FILE": str(path)})
    assert (code, exception) == (0, None)
    assert seen == [DSN]


def test_the_variable_and_the_option_come_before_the_file(tmp_path: Path, seen: list[str]) -> None:
    path = tmp_path / "admin.dsn"
    path.write_text("host=from-file\n")
    gc("--dry-run", env={"HGATE_ADMIN_DSN_FILE": str(path), "HGATE_ADMIN_DSN": "host=from-env"})
    gc("--admin-dsn", "host=from-option", env={"HGATE_ADMIN_DSN_FILE": str(path)})
    assert seen == ["host=from-env", "host=from-option"]


@pytest.mark.parametrize(("content", "problem"), [(None, "No such file"), ("  \n", "is empty")])
def test_an_unusable_dsn_file_is_a_config_error(
    tmp_path: Path, seen: list[str], content: str | None, problem: str
) -> None:
    path = tmp_path / "admin.dsn"
    if content is not None:
        path.write_text(content)
    _, exception = gc(env={"HGATE_ADMIN_DSN_FILE": str(path)})
    assert isinstance(exception, ConfigError) and exception.exit_code == 67
    assert problem in str(exception) and str(path) in str(exception)
    assert seen == []


def test_no_dsn_anywhere_names_all_three_ways(seen: list[str]) -> None:
    _, exception = gc()
    assert isinstance(exception, ConfigError)
    assert "HGATE_ADMIN_DSN_FILE" in str(exception)
