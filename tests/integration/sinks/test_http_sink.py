"""The HTTP sink against the reference collector process, and the failure policy both ways:
the collector is killed mid-session and we check what was kept where."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

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
    # Before: "the agent was stopped; the transcript on disk is attested up to its last
    # checkpoint", about an agent that never ran and a transcript that is sealed.
    assert "was stopped" not in result.stderr and "last checkpoint" not in result.stderr
    assert "the agent never ran; the local transcript is sealed" in result.stderr
    assert "the agent was not started and the local transcript" in result.stderr
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


@dataclass
class ScriptedCollector:
    """A real HTTP server in this process that answers each POST with the next status of
    `answers` (then 201), and records every request it gets: method, path, bearer token."""

    url: str
    answers: list[int]
    seen: list[tuple[str, str, bool]] = field(default_factory=list)


@pytest.fixture
def scripted() -> Iterator[ScriptedCollector]:
    collector = ScriptedCollector(url="", answers=[])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            token = self.headers.get("Authorization", "").endswith(COLLECTOR_TOKEN)
            collector.seen.append((self.command, self.path, token))

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._record()
            status = collector.answers.pop(0) if collector.answers else 201
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/login")
            self._finish(b'{"error": "scripted"}' if status >= 300 else b"{}")

        def do_GET(self) -> None:
            self._record()
            if self.path.startswith("/v1/sessions/"):  # moved: "look over there"
                self.send_response(302)
                self.send_header("Location", "/login")
                self._finish(b"")
                return
            self.send_response(200)
            self._finish(b"<html>sign in</html>")

        def _finish(self, body: bytes) -> None:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    collector.url = f"http://127.0.0.1:{server.server_address[1]}/v1/segments"
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _scripted_policy(hgate: Hgate, collector: ScriptedCollector) -> Path:
    hgate.extra_env = {"HGATE_COLLECTOR_TOKEN": COLLECTOR_TOKEN}
    return hgate.policy(f"{{type: http, url: '{collector.url}', {FAST}}}")


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_is_a_refusal_never_a_stored_segment(
    hgate: Hgate, scripted: ScriptedCollector, agent: Callable[[str], list[str]], status: int
) -> None:
    """urllib follows a 30x to a POST with a bodiless GET that keeps the bearer token; a
    200 from there is not a stored segment, and the token goes nowhere else."""
    scripted.answers = [status]
    marker = hgate.tmp_path / "agent-ran"
    result = hgate.run(_scripted_policy(hgate, scripted), agent(f"touch {marker}\n"))
    assert result.returncode == 73, result.stderr
    assert f"answered {status}" in result.stderr
    assert not marker.exists()  # the first segment was not stored: the agent never ran
    assert [(method, path) for method, path, _ in scripted.seen] == [("POST", "/v1/segments")]
    code, report = hgate.verify(hgate.transcript())
    assert code == 0, report["reason"]
    seal = json.loads(hgate.transcript().read_text().splitlines()[-1])
    (remote,) = seal["extra"]["sinks"][1:]
    assert remote["status"] == "failed" and remote["shipped_segments"] == 0


@pytest.mark.parametrize("status", [500, 501, 507, 520])
def test_every_5xx_is_retried(
    hgate: Hgate, scripted: ScriptedCollector, agent: Callable[[str], list[str]], status: int
) -> None:
    """docs/sinks.md: 408, 425, 429 and 5xx are transient; one such answer, then 201."""
    scripted.answers = [status]
    result = hgate.run(_scripted_policy(hgate, scripted), agent("echo ran\n"))
    assert result.returncode == 0, result.stderr
    posts = [path for method, path, token in scripted.seen if method == "POST" and token]
    assert len(posts) >= 3  # segment 1 twice, then the rest
    code, _ = hgate.verify(hgate.transcript())
    assert code == 0


def test_verify_does_not_follow_a_redirect_with_its_token(
    hgate: Hgate, scripted: ScriptedCollector
) -> None:
    """`hgate verify URL` sends $HGATE_VERIFY_TOKEN; a redirect must not carry it on."""
    hgate.extra_env = {"HGATE_VERIFY_TOKEN": COLLECTOR_TOKEN}
    session_url = scripted.url.replace("/v1/segments", "/v1/sessions/20240501T120000Z-1a2b3c4d")
    key = hgate.tmp_path / "auditor.pub"
    public = Ed25519PrivateKey.generate().public_key()
    key.write_bytes(public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH))
    proc = subprocess.run(
        [*hgate.hgate_cmd("verify", session_url), "--key", str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        env=hgate.env(),
    )
    assert proc.returncode == 67, proc.stderr
    assert "HTTP 302" in proc.stderr
    assert [path for _, path, _ in scripted.seen] == ["/v1/sessions/20240501T120000Z-1a2b3c4d"]


@pytest.fixture
def trickling() -> Iterator[str]:
    """A collector URL whose answer comes one byte every 0.5 s: no read ever times out,
    yet nothing is stored for tens of seconds."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.recv(1 << 16)
            reply = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Pad: " + b"a" * 60
            for byte in reply:
                if stop.wait(0.5):
                    return
                with contextlib.suppress(OSError):
                    conn.send(bytes([byte]))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v1/segments"
    finally:
        stop.set()
        server.close()


def test_the_agent_waits_for_segment_one_however_slowly_the_collector_answers(
    hgate: Hgate, trickling: str, agent: Callable[[str], list[str]]
) -> None:
    """docs/sinks.md: the first segment must be stored before the agent starts. An answer
    still trickling in when the sink's `timeout` is up is a failed attempt (it had been
    let through, then waited for as long as the first segment's patience)."""
    hgate.extra_env = {"HGATE_COLLECTOR_TOKEN": COLLECTOR_TOKEN}
    policy = hgate.policy(f"{{type: http, url: '{trickling}', retries: 0, timeout: 1s}}")
    marker = hgate.tmp_path / "agent-ran"
    result = hgate.run(policy, agent(f"touch {marker}\n"))
    assert result.returncode == 73, result.stderr
    assert not marker.exists(), "the agent ran before segment 1 was stored"
    assert "did not answer within 1s (segment 1, 1 attempt(s))" in result.stderr
    code, report = hgate.verify(hgate.transcript())
    assert code == 0, report["reason"]
