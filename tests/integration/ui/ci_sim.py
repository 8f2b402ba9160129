"""Run action.yml's steps and the GitLab template's script the way the CI systems would.

GitHub: each composite step's `if:` is evaluated, `${{ ... }}` is substituted only where
the runner substitutes it (here: `env:`, `with:`, `working-directory`, `if:`), and a
`run:` step is executed as `bash --noprofile --norc -eo pipefail FILE` with the step's
env plus the runner's files: a fresh GITHUB_OUTPUT, GITHUB_ENV and GITHUB_STEP_SUMMARY
per step, whose contents are read back afterwards (outputs, the job environment for later
steps, the job summary). `uses:` steps are recorded with their resolved `with:`.

GitLab: `$[[ inputs.x ]]` is interpolated, the script lines run in one bash, as the
runner's generated script does, and the after_script lines in another one afterwards,
whatever the script's outcome, with the job's variables but none the script exported.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

GITHUB_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
GITLAB_INPUT = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]")


@dataclass
class StepRun:
    id: str
    outcome: str  # success, failure, skipped
    outputs: dict[str, str] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    uses: str = ""
    with_: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionRun:
    steps: list[StepRun]
    outputs: dict[str, str]
    summary: str
    job_env: dict[str, str]

    def step(self, step_id: str) -> StepRun:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def log(self) -> str:
        return "".join(s.stdout + s.stderr for s in self.steps)


def parse_kv_file(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `name=value` lines or `name<<DELIM` heredocs."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


class ActionRunner:
    def __init__(
        self, action_dir: Path, workspace: Path, env: dict[str, str], inputs: dict[str, str]
    ) -> None:
        self.action_dir, self.workspace = action_dir, workspace
        self.action = yaml.safe_load((action_dir / "action.yml").read_text())
        declared = self.action["inputs"]
        unknown = set(inputs) - set(declared)
        assert not unknown, f"inputs the action does not declare: {unknown}"
        self.inputs = {name: str(spec.get("default", "")) for name, spec in declared.items()}
        self.inputs.update(inputs)
        for name, spec in declared.items():
            assert not spec.get("required") or name in inputs, f"required input {name} missing"
        self.temp = workspace.parent / "runner-temp"
        self.temp.mkdir(exist_ok=True)
        self.job_env = {**env, "RUNNER_TEMP": str(self.temp), "GITHUB_WORKSPACE": str(workspace)}
        self.steps: dict[str, StepRun] = {}

    def run(self) -> ActionRun:
        runs: list[StepRun] = []
        summary = ""
        for index, step in enumerate(self.action["runs"]["steps"]):
            step_id = step.get("id", f"__{index}")
            if not self.condition(str(step.get("if", "success()"))):
                result = StepRun(id=step_id, outcome="skipped", uses=step.get("uses", ""))
            elif "run" in step:
                result, text = self._shell(step_id, step)
                summary += text
            else:
                with_ = {k: self.substitute(str(v)) for k, v in step.get("with", {}).items()}
                result = StepRun(id=step_id, outcome="success", uses=step["uses"], with_=with_)
            self.steps[step_id] = result
            runs.append(result)
        outputs = {
            name: self.substitute(str(spec["value"]))
            for name, spec in self.action.get("outputs", {}).items()
        }
        return ActionRun(steps=runs, outputs=outputs, summary=summary, job_env=self.job_env)

    def _shell(self, step_id: str, step: dict[str, Any]) -> tuple[StepRun, str]:
        assert step.get("shell") == "bash", f"step {step_id} must say shell: bash"
        files = {}
        for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY", "GITHUB_PATH"):
            path = self.temp / f"{step_id}.{name.lower()}"
            path.write_text("")
            files[name] = str(path)
        script = self.temp / f"{step_id}.sh"
        script.write_text(step["run"])
        env = {k: self.substitute(str(v)) for k, v in step.get("env", {}).items()}
        env = {**self.job_env, **files, "GITHUB_ACTION_PATH": str(self.action_dir), **env}
        cwd = self.workspace / self.substitute(str(step.get("working-directory", ".")))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        outputs = parse_kv_file(Path(files["GITHUB_OUTPUT"]).read_text())
        self.job_env.update(parse_kv_file(Path(files["GITHUB_ENV"]).read_text()))
        result = StepRun(
            id=step_id,
            outcome="success" if proc.returncode == 0 else "failure",
            outputs=outputs,
            stdout=proc.stdout,
            stderr=proc.stderr,
            returncode=proc.returncode,
        )
        return result, Path(files["GITHUB_STEP_SUMMARY"]).read_text()

    # -- expressions: the small subset action.yml may use ---------------------------------
    def substitute(self, text: str) -> str:
        return GITHUB_EXPR.sub(lambda m: str(self.value(m.group(1))), text)

    def condition(self, expr: str) -> bool:
        expr = GITHUB_EXPR.sub(lambda m: m.group(1), expr).strip()
        terms = [t.strip() for t in expr.split("&&")]
        if not any(t in ("always()", "success()", "failure()") for t in terms):
            terms.insert(0, "success()")
        return all(self._term(term) for term in terms)

    def _term(self, term: str) -> bool:
        failed = any(s.outcome == "failure" for s in self.steps.values())
        if term == "always()":
            return True
        if term == "success()":
            return not failed
        if term == "failure()":
            return failed
        for op in ("!=", "=="):
            if op in term:
                left, right = (self.value(p.strip()) for p in term.split(op, 1))
                return bool(left != right) if op == "!=" else bool(left == right)
        raise AssertionError(f"expression outside the simulated subset: {term!r}")

    def value(self, expr: str) -> Any:
        if expr.startswith("'") and expr.endswith("'"):
            return expr[1:-1].replace("''", "'")
        parts = expr.split(".")
        if parts[0] == "inputs":
            return self.inputs[parts[1]]
        if parts[0] == "steps":
            step = self.steps.get(parts[1])
            if step is None:
                return ""
            if parts[2] == "outcome":
                return step.outcome
            return step.outputs.get(parts[3], "")
        if expr == "github.action_path":
            return str(self.action_dir)
        if expr == "runner.temp":
            return str(self.temp)
        raise AssertionError(f"expression outside the simulated subset: {expr!r}")


def gitlab_job(template: Path, inputs: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The template's first job (the agent's), `$[[ inputs.x ]]` interpolated like GitLab."""
    return next(iter(gitlab_jobs(template, inputs).items()))


def gitlab_jobs(template: Path, inputs: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every job of the template, in order, its `$[[ inputs.x ]]` interpolated."""
    spec, jobs = list(yaml.safe_load_all(template.read_text()))
    declared = spec["spec"]["inputs"]
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs the component does not declare: {unknown}"
    values = {n: str(s["default"]) for n, s in declared.items() if "default" in s}
    values.update(inputs)
    missing = set(declared) - set(values)
    assert not missing, f"inputs without a default must be given: {missing}"

    def interpolate(node: Any) -> Any:
        if isinstance(node, str):
            return GITLAB_INPUT.sub(lambda m: values[m.group(1)], node)
        if isinstance(node, list):
            return [interpolate(n) for n in node]
        if isinstance(node, dict):
            return {interpolate(k): interpolate(v) for k, v in node.items()}
        return node

    interpolated: dict[str, dict[str, Any]] = interpolate(jobs)
    return interpolated


def run_gitlab_script(
    job: dict[str, Any], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """The script lines in one bash with `set -eo pipefail`, the job's variables exported,
    then the after_script lines in a new bash; the exit status is the script's alone
    (GitLab ignores after_script's), the output both of theirs."""
    variables = {k: str(v) for k, v in job.get("variables", {}).items()}
    done = _bash(cwd.parent / "gitlab-job.sh", job["script"], {**env, **variables}, cwd)
    if not job.get("after_script"):
        return done
    status = "success" if done.returncode == 0 else "failed"
    after_env = {**env, **variables, "CI_JOB_STATUS": status}
    after = _bash(cwd.parent / "gitlab-after.sh", job["after_script"], after_env, cwd)
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout + after.stdout, done.stderr + after.stderr
    )


def _bash(
    path: Path, lines: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    path.write_text("set -eo pipefail\n" + "\n".join(lines) + "\n")
    return subprocess.run(
        ["bash", "--noprofile", "--norc", str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
