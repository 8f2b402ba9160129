"""The HTTP sink against the reference collector process, and the failure policy both ways:
the collector is killed mid-session and we check what was kept where."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.sinks.conftest import COLLECTOR_TOKEN, Collector, Hgate

pytestmark = pytest.mark.integration

FAST = "retries: 1, backoff: 50ms, timeout: 2s"


def _policy(hgate: Hgate, collector: Collector, failure: str = "stop") -> Path:
    hgate.extra_env = {"HGATE_COLLECTOR_TOKEN": COLLECTOR_TOKEN}
    return hgate.policy(f"{{type: http, url: '{collector.post_url}', {FAST}}}", failure=failure)


def _wait_for_segments(collector: Collector, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(collector.segments()) < count:
        assert time.monotonic() < deadline, f"collector got {len(collector.segments())} segments"
        time.sleep(0.02)


def test_hgate_run_streams_to_the_collector(
    hgate: Hgate, collector: Collector, agent: Callable[[str], list[str]]
) -> None:
    script = 'echo "token: ${HGATE_COLLECTOR_TOKEN:-absent}"\n'
    script += 'for i in $(seq 1 20); do echo "row $i"; done\n'
    result = hgate.run(_policy(hgate, collector), agent(script))
    assert result.returncode == 0, result.stderr
    assert "token: absent" in result.stdout  # the sink's token never reaches the agent
    local = hgate.transcript()
    code, remote = hgate.verify(collector.session_url(local.stem))
    assert code == 0, remote["reason"]
    code, stored = hgate.verify(collector.root / local.stem)  # the collector's directory
    assert code == 0, stored["reason"]
    remote_bytes = b"".join(p.read_bytes() for p in collector.segments())
    assert remote_bytes == local.read_bytes()


def test_stop_policy_stops_the_agent_and_seals_the_local_transcript(
    hgate: Hgate, collector: Collector, agent: Callable[[str], list[str]]
) -> None:
    script = 'for i in $(seq 1 1000); do echo "row $i"; sleep 0.02; done\n'
    started = time.monotonic()
    proc = hgate.start(_policy(hgate, collector), agent(script))
    try:
        _wait_for_segments(collector, 3)
        collector.kill()
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 73, stderr
    assert time.monotonic() - started < 18  # stopped, not run to the end (20 s)
    assert "failed" in stderr and "stopping the session (on_sink_failure: stop)" in stderr
    assert "row 1000" not in stdout
    local = hgate.transcript()
    code, report = hgate.verify(local)
    assert code == 0, report["reason"]  # the local copy is complete and sealed
    seal = report["seal"]
    assert isinstance(seal, dict) and seal["exit_code"] == 73
    assert seal["reason"] == f"stopped: transcript sink {collector.post_url} failed"
    assert '"type":"error"' in local.read_text() and '"on_sink_failure":"stop"' in local.read_text()
    _remote_is_a_prefix(hgate, collector, local)


def test_continue_policy_finishes_with_a_loud_warning(
    hgate: Hgate, collector: Collector, agent: Callable[[str], list[str]]
) -> None:
    script = 'for i in $(seq 1 150); do echo "row $i"; sleep 0.02; done\nexit 7\n'
    proc = hgate.start(_policy(hgate, collector, failure="continue"), agent(script))
    try:
        _wait_for_segments(collector, 3)
        collector.kill()
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 7, stderr  # the agent's own exit code
    assert f"WARNING: transcript sink {collector.post_url} failed" in stderr
    assert "row 150" in stdout
    local = hgate.transcript()
    code, report = hgate.verify(local)
    assert code == 0, report["reason"]
    text = local.read_text()
    assert '"on_sink_failure":"continue"' in text and '"status":"failed"' in text
    assert "row 150" in text
    _remote_is_a_prefix(hgate, collector, local)


def _remote_is_a_prefix(hgate: Hgate, collector: Collector, local: Path) -> None:
    """The remote copy is a gap-free, attested prefix of the local transcript."""
    code, remote = hgate.verify(collector.root / local.stem)
    assert code == 3, remote["reason"]  # INCOMPLETE: no seal, nothing missing
    segments = remote["segments"]
    assert isinstance(segments, dict) and segments["missing"] == [] and segments["extra"] == []
    remote_bytes = b"".join(p.read_bytes() for p in collector.segments())
    assert local.read_bytes().startswith(remote_bytes)
    assert remote["attested_through"] == remote["lines_total"]  # it ends in a checkpoint


def test_a_collector_down_at_start_refuses_the_session(
    hgate: Hgate, collector: Collector, agent: Callable[[str], list[str]]
) -> None:
    policy = _policy(hgate, collector)
    collector.kill()
    marker = hgate.tmp_path / "agent-ran"
    result = hgate.run(policy, agent(f"touch {marker}\n"))
    assert result.returncode == 73, result.stderr
    assert "cannot reach collector" in result.stderr
    assert not marker.exists()
    code, report = hgate.verify(hgate.transcript())  # sealed locally, with the failure
    assert code == 0 and isinstance(report["seal"], dict)
    assert report["seal"]["reason"] == "hgate error: SinkError"


def test_verify_reports_missing_and_extra_segments(
    hgate: Hgate, collector: Collector, agent: Callable[[str], list[str]]
) -> None:
    result = hgate.run(_policy(hgate, collector), agent("for i in $(seq 1 20); do echo $i; done\n"))
    assert result.returncode == 0, result.stderr
    session = hgate.transcript().stem
    stored = sorted((collector.root / session).glob("*.jsonl"))
    assert len(stored) >= 4
    sealed = stored[-1]
    after = sealed.with_name(f"{int(sealed.stem) + 1:06d}.jsonl")
    after.write_bytes(stored[1].read_bytes())
    code, report = hgate.verify(collector.session_url(session))
    assert code == 4
    assert f"{after.name} (after the seal)" in str(report["reason"])
    after.unlink()
    stored[1].unlink()
    code, report = hgate.verify(collector.session_url(session))
    assert code == 4
    assert str(report["reason"]).startswith(
        f"segment(s) 2 missing before segment {int(sealed.stem)}"
    )
    assert isinstance(report["segments"], dict) and report["segments"]["missing"] == [2]
