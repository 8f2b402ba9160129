"""Trojan Source in the CI log: an agent's bidi controls and invisible characters reach
the live log shown as `<U+202E>`, while the transcript keeps what the agent printed.

All values are synthetic test data.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from tests.integration.run.conftest import Gate, Run
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration

SSN = "536-22-1234"
# the bytes spell DESSAP (nothing to grep for); a viewer that obeys the override shows PASSED
OVERRIDE = "status: \u202eDESSAP\u202c"
ISOLATES = "run \u2066rm -rf /tmp/x\u2069 \u200e\u200f\u061c end"
HIDDEN = "zero\u200bwidth \ufeffbom tag\U000e0041\U000e0042 \u2028sep"
RTL = "עברית שלום \u05d0\u05d1 ومرحبا بالعالم 123"

AGENT = f"""\
import sys, time
out = sys.stdout.buffer
for line in {[OVERRIDE, ISOLATES, HIDDEN, RTL]!r}:
    out.write(line.encode() + b"\\n")
out.write("\\x1b[32mok\\x1b[0m \\u202e{SSN}\\u202c\\n".encode())
out.write("prompt \\u202e: ".encode())
out.flush()
time.sleep(1.5)
out.write(b"\\n")
"""


def _lines(run: Run) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in run.transcript.read_bytes().splitlines()]
    return [line for e in events if e["type"] == "output" for line in e["data"]["lines"]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("invisible")
    script = tmp / "agent.py"
    script.write_text(AGENT)
    result = Gate(tmp).run([sys.executable, str(script)])
    assert result.returncode == 0, result.stderr
    return result


def test_the_ci_log_shows_bidi_and_invisible_characters_as_code_points(run: Run) -> None:
    out = run.stdout.decode()
    shown = [c for c in out if c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
    assert shown == [], "a bidi control reached the CI log raw"
    for invisible in ("\u200e", "\u200f", "\u061c", "\u200b", "\ufeff", "\U000e0041", "\u2028"):
        assert invisible not in out, f"U+{ord(invisible):04X} reached the CI log raw"
    assert "status: <U+202E>DESSAP<U+202C>\r\n" in out
    assert "run <U+2066>rm -rf /tmp/x<U+2069> <U+200E><U+200F><U+061C> end" in out
    assert "zero<U+200B>width <U+FEFF>bom tag<U+E0041><U+E0042> <U+2028>sep" in out


def test_rtl_text_without_controls_reaches_the_ci_log_unchanged(run: Run) -> None:
    assert RTL in run.stdout.decode()


def test_colour_codes_stay_and_a_masked_value_stays_masked(run: Run) -> None:
    out = run.stdout.decode()
    assert_absent({"ssn": SSN}, stdout=run.stdout)
    assert "\x1b[32mok\x1b[0m <U+202E>[SSN:" in out
    assert "]<U+202C>" in out


def test_a_prompt_shown_on_an_idle_flush_is_neutralised_too(run: Run) -> None:
    out = run.stdout.decode()
    assert "prompt <U+202E>: " in out
    assert "\u202e" not in out


def test_the_transcript_keeps_what_the_agent_printed(run: Run) -> None:
    texts = [line["text"] for line in _lines(run)]
    for printed in (OVERRIDE, ISOLATES, HIDDEN, RTL):
        assert printed in texts, "the transcript lost or changed an agent line"
    masked = [t for t in texts if t.startswith("ok ")]
    assert len(masked) == 1 and masked[0].startswith("ok \u202e[SSN:")
    assert masked[0].endswith("]\u202c")
    assert_absent({"ssn": SSN}, transcript=run.transcript.read_bytes())
    assert not any("<U+" in t for t in texts), "the transcript got the CI log's rendering"
