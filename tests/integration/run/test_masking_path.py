"""An agent that tries to leak: nothing raw reaches hgate's stdout or the transcript.

All values are synthetic test data.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.integration.run.conftest import Gate

pytestmark = pytest.mark.integration

SECRET = "sk-synthetic-PLANTED-4f9a2c1e"
SSN = "536-22-1234"
EMAIL = "jane.roe@example.com"
REMOVED = "ghp-synthetic-removed-token-77"

LEAKY_AGENT = r"""
echo "plain: secret=$PLANTED_SECRET ssn 536-22-1234 mail jane.roe@example.com"
printf 'ansi: \033[1;31m536-22-\033[0m1234 and \033[32msk-synthetic-PLANTED\033[0m-4f9a2c1e\n'
printf 'split: sk-synthetic-'; sleep 0.03; printf 'PLANTED-4f9a2c1e done\n'
printf 'progress 10%%\rcarriage: 536-22-1234\rprogress 100%%\n'
printf 'prompt without newline: %s' "$PLANTED_SECRET"
sleep 0.3
printf '\n'
echo "removed var seen by agent: [${DEPLOY_TOKEN:-absent}]"
echo "but printed from a file: ghp-synthetic-removed-token-77"
printf 'MSH|^~\\&|EHR|HOSP|LAB|HOSP|20240501120001||ADT^A01|1|P|2.5\r'
printf 'PID|1||4482913^^^HOSP^MR||Roe^Jane^Q||19620314|F\r\n'
"""


def _leaks(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    return [
        name
        for name, value in (
            ("secret", SECRET),
            ("ssn", SSN),
            ("email", EMAIL),
            ("removed", REMOVED),
            ("hl7 mrn", "4482913"),  # an HL7 message, its segments ended by a bare \r
            ("hl7 name", "Roe^Jane"),
        )
        if value in text
    ]


def test_planted_values_never_reach_stdout_or_transcript(
    gate: Gate, agent_script: Callable[[str], list[str]]
) -> None:
    env = gate.env(PLANTED_SECRET=SECRET, DEPLOY_TOKEN=REMOVED)
    run = gate.run(agent_script(LEAKY_AGENT), env=env)
    assert run.returncode == 0, run.stderr
    assert _leaks(run.stdout) == [], "a planted value reached hgate's stdout"
    transcript = run.transcript.read_bytes()
    assert _leaks(transcript) == [], "a planted value reached the transcript"
    assert _leaks(run.stderr.encode()) == [], "a planted value reached hgate's stderr"
    out = run.stdout.decode()
    assert "[SECRET:" in out and "[SSN:" in out and "[EMAIL:" in out
    assert "PID|1||[MRN:" in out and "MSH|^~\\&|EHR|HOSP" in out
    assert "removed var seen by agent: [absent]" in out
    assert "\x1b[1;31m" in out, "colour codes outside masked values are kept"
    assert "progress 100%" in out


def test_findings_are_recorded_as_metadata_only(
    gate: Gate, agent_script: Callable[[str], list[str]]
) -> None:
    run = gate.run(agent_script('echo "ssn 536-22-1234 twice 536-22-1234"\n'))
    events = [json.loads(line) for line in run.transcript.read_text().splitlines()]
    lines = [line for e in events if e["type"] == "output" for line in e["data"]["lines"]]
    findings = [f for line in lines for f in line.get("findings", [])]
    assert [f["kind"] for f in findings] == ["SSN", "SSN"]
    assert findings[0]["token"] == findings[1]["token"], "same value, same token"
    text = lines[0]["text"]
    assert text[findings[0]["start"] : findings[0]["end"]] == findings[0]["token"]


def test_same_value_gets_a_different_token_in_another_session(
    gate: Gate, agent_script: Callable[[str], list[str]]
) -> None:
    agent = agent_script('echo "ssn 536-22-1234"\n')
    first = gate.run(agent).stdout
    for path in (gate.tmp_path / "runs").glob("*.jsonl"):
        path.unlink()
    second = gate.run(agent).stdout
    assert b"[SSN:" in first and b"[SSN:" in second
    assert first != second, "the token key is per session"


def test_hgate_secrets_are_not_in_the_agent_environment(
    gate: Gate, agent_script: Callable[[str], list[str]]
) -> None:
    env = gate.env(
        ACTIONS_ID_TOKEN_REQUEST_TOKEN="synthetic-request-token-123",
        ACTIONS_ID_TOKEN_REQUEST_URL="https://token.example.invalid/x",
    )
    run = gate.run(agent_script("env | cut -d= -f1 | sort\n"), env=env)
    names = set(run.stdout.decode().split())
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" not in names
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" not in names
    assert "HGATE_HOME" not in names, "where the signing key lives is hgate's business"
    assert "HGATE_SESSION_ID" in names
