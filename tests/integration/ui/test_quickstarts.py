"""The quick starts are copy-pasteable: every ```sh block of each runs, as written, in a
fresh project directory holding hgate's policies; only HGATE_HOME is pointed into tmp.

The ```yaml workflow/pipeline blocks are checked against what they use: the action's
inputs and the component's inputs must exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.ui.ui_support import PHI, REPO, clean_env
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration
DOCS = ["quickstart-local", "quickstart-github", "quickstart-gitlab", "auditors"]


def blocks(doc: str, language: str) -> list[str]:
    text = (REPO / "docs" / f"{doc}.md").read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("doc", DOCS)
def test_every_command_of_the_doc_runs(doc: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "policies", project / "policies")
    script = "set -euo pipefail\n" + "\n".join(blocks(doc, "sh"))
    assert blocks(doc, "sh"), f"{doc} has no commands"
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=project,
        env=clean_env(HGATE_HOME=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"{doc}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert_absent(PHI, stdout=proc.stdout, stderr=proc.stderr)
    if doc == "quickstart-local":
        assert "refused with exit code 66" in proc.stdout
        assert "only to a verified token from issuer 'github'" in proc.stderr
    if doc == "auditors":
        assert (project / "report.html").is_file()


def test_the_github_workflow_uses_only_real_inputs() -> None:
    (workflow,) = blocks("quickstart-github", "yaml")
    steps = yaml.safe_load(workflow)["jobs"]["agent"]["steps"]
    (step,) = [s for s in steps if "hgate@" in s.get("uses", "")]
    declared = yaml.safe_load((REPO / "action.yml").read_text())["inputs"]
    assert set(step["with"]) <= set(declared)
    assert "${{" not in step["with"]["run"], "an expression pasted into the agent's command"


def test_the_gitlab_include_uses_only_real_inputs() -> None:
    (pipeline,) = blocks("quickstart-gitlab", "yaml")
    (include,) = yaml.safe_load(pipeline)["include"]
    spec = next(yaml.safe_load_all((REPO / ".gitlab-ci-template.yml").read_text()))
    declared = spec["spec"]["inputs"]
    assert set(include["inputs"]) <= set(declared)
    required = {name for name, value in declared.items() if "default" not in value}
    assert required <= set(include["inputs"])
