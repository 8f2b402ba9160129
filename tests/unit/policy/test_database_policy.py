"""The `database:` policy section: parsed into guard values, errors with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgate.errors import PolicyError
from hgate.guard.sql_rules import ColumnMask, SqlRule
from hgate.policy.database import DatabasePolicy
from hgate.policy.loader import load_policy

POLICY = """\
version: 1
name: db
database:
  statements:
    default: block
    rules:
      - name: read-only
        action: allow
        kinds: [select, explain, transaction]
      - name: no-billing
        action: block
        tables: ["billing.*"]
  masking:
    columns:
      - {column: patients.ssn, kind: SSN}
      - {column: "public.patients.*_name", kind: NAME}
  limits:
    max_rows: 1000
  approval_timeout: 2m
"""


def _load(tmp_path: Path, text: str) -> DatabasePolicy:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(path).database


def test_database_section(tmp_path: Path) -> None:
    database = _load(tmp_path, POLICY)
    assert database.proxy is True
    assert database.rules[0] == SqlRule(
        name="read-only", action="allow", kinds=("select", "explain", "transaction")
    )
    assert database.masks == (
        ColumnMask(table="patients", column="ssn", kind="SSN"),
        ColumnMask(table="public.patients", column="*_name", kind="NAME"),
    )
    assert database.limits.max_rows == 1000
    assert database.approval_timeout == 120.0


def test_absent_section_means_no_proxy(tmp_path: Path) -> None:
    assert _load(tmp_path, "version: 1\nname: x\n").proxy is False


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "database:\n  statements:\n    rules:\n"
            "      - {name: r, action: allow, kinds: [selct]}\n",
            r"policy.yaml:\d+:\d+: .*unknown statement kind 'selct'",
        ),
        (
            "database:\n  masking:\n    columns:\n      - {column: ssn, kind: SSN}\n",
            r"policy.yaml:\d+:\d+: .*expected table.column",
        ),
        (
            "database:\n  statements:\n    rules:\n      - {name: r, action: allow}\n",
            r"needs at least one of kinds",
        ),
        ("database:\n  proxi: true\n", r"unknown key 'proxi'"),
        (
            "database:\n  statements:\n    allow_node_types: [SelectStmt]\n",
            r"already on the default allow-list",
        ),
    ],
)
def test_errors_point_at_the_key(tmp_path: Path, snippet: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _load(tmp_path, "version: 1\nname: x\n" + snippet)
