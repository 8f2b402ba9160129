"""The one flow stays visible: library packages never reach up into session/ or cli/,
and nothing below cli/ imports the terminal libraries."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hgate import errors

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "hgate"
LIBRARY = sorted(
    p
    for p in PACKAGE.rglob("*.py")
    if "cli" not in p.relative_to(PACKAGE).parts and p.name != "__main__.py"
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_terminal_libraries_below_cli(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] in {"typer", "rich", "click"}}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "path",
    [p for p in LIBRARY if p.relative_to(PACKAGE).parts[0] != "session"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_library_never_imports_session_or_cli(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.startswith(("hgate.session", "hgate.cli"))}
    assert not bad, f"{path.relative_to(ROOT)} reaches up into {sorted(bad)}"


def test_no_grab_bag_modules() -> None:
    names = {p.stem for p in PACKAGE.rglob("*.py")}
    assert not names & {"utils", "helpers", "misc", "common"}


def test_readme_documents_every_exit_code() -> None:
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| (\d+) \|", readme, flags=re.MULTILINE))
    for name, code in errors.EXIT_CODES.items():
        assert str(code) in table, f"README's exit-code table lacks {code} ({name})"
    for code in (errors.EXIT_TIME_LIMIT, 130):
        assert str(code) in table
