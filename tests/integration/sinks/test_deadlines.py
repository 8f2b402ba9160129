"""Every request to a transcript sink ends within its total deadline (docs/sinks.md).

A per-read time-out does not bound a request: these servers answer one byte at a time
(no read ever waits long) or without end, and the store must still fail in `timeout`
seconds like any other failed attempt, so the shipper retries and then gives up."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hgate.audit.http_sink import HttpSegmentStore
from hgate.audit.s3_sink import S3SegmentStore, S3Target, s3_client
from hgate.audit.segments import Segment
from hgate.audit.shipper import Delivery, SegmentShipper
from hgate.errors import SinkError
from tests.integration.sinks.conftest import COLLECTOR_TOKEN, Hgate
from tests.integration.sinks.trickle import MODES, trickling

pytestmark = pytest.mark.integration

SESSION = "sess-deadline-0001"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "AKIDSYNTHETIC000", "AWS_SECRET_ACCESS_KEY": "synthetic-secret"}


def _segment() -> Segment:
    return Segment(
        session_id=SESSION,
        number=1,
        first_seq=1,
        last_seq=1,
        prev="0" * 64,
        chain_head="1" * 64,
        final=False,
        data=b'{"seq":1}\n',
    )


@pytest.mark.parametrize("mode", MODES)
def test_one_put_ends_within_its_timeout(mode: str) -> None:
    with trickling(mode, status=201) as server:
        store = HttpSegmentStore(f"{server.url}/v1/segments", COLLECTOR_TOKEN, timeout=1.0)
        store.prepare(SESSION)
        started = time.monotonic()
        with pytest.raises(SinkError) as caught:
            store.put(_segment())
        took = time.monotonic() - started
    assert took < 3.0, f"put took {took:.1f}s with timeout 1s"
    expected = "more than" if mode == "huge" else "did not answer within 1s"
    assert expected in str(caught.value)


def test_a_trickling_collector_fails_the_shipper_after_its_retries() -> None:
    """The documented failure path: `retries` + 1 attempts, then the store is failed."""
    with trickling("headers", status=201) as server:
        store = HttpSegmentStore(f"{server.url}/v1/segments", COLLECTOR_TOKEN, timeout=0.5)
        shipper = SegmentShipper(store, Delivery(retries=2, backoff=0.05))
        shipper.start(SESSION)
        shipper.submit(_segment())
        assert shipper.wait_idle(10.0), "the shipper was still busy after 10s"
        status = shipper.close(1.0)
        attempts = server.requests
    assert status.failed
    assert "did not answer within 0.5s" in (status.error or "")
    assert "3 attempt(s)" in (status.error or "")
    assert attempts == 3


def test_hgate_run_retries_a_trickling_collector_then_applies_on_sink_failure(
    hgate: Hgate, agent: Callable[[str], list[str]]
) -> None:
    with trickling("body", status=201) as server:
        hgate.extra_env = {"HGATE_COLLECTOR_TOKEN": COLLECTOR_TOKEN}
        options = "retries: 1, backoff: 50ms, timeout: 1s"
        sink = f"{{type: http, url: '{server.url}/v1/segments', {options}}}"
        marker = hgate.tmp_path / "agent-ran"
        started = time.monotonic()
        result = hgate.run(hgate.policy(sink), agent(f"touch {marker}\n"))
        took = time.monotonic() - started
    assert result.returncode == 73, result.stderr
    assert not marker.exists(), "the agent ran before segment 1 was stored"
    assert "did not answer within 1s" in result.stderr
    assert "2 attempt(s)" in result.stderr
    assert took < 20, f"hgate run took {took:.0f}s"
    code, report = hgate.verify(hgate.transcript())
    assert code == 0, report["reason"]


def _s3_store(url: str, timeout: float) -> S3SegmentStore:
    target = S3Target(bucket="evidence", endpoint_url=url, region="us-east-1", timeout=timeout)
    return S3SegmentStore(target, env=FAKE_AWS)


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_s3_set_up_ends_within_its_timeout(mode: str) -> None:
    """The bucket checks run before the agent starts: a trickling endpoint refuses the
    session in `timeout`, it does not hold it."""
    with trickling(mode) as server:
        store = _s3_store(server.url, 1.0)
        started = time.monotonic()
        with pytest.raises(SinkError) as caught:
            store.prepare(SESSION)
        took = time.monotonic() - started
        store.close()
    assert took < 3.0, f"prepare took {took:.1f}s with timeout 1s"
    assert "no complete answer within 1s" in str(caught.value)


@pytest.mark.parametrize("mode", ["headers", "chunked"])
def test_an_s3_put_ends_within_its_timeout(mode: str) -> None:
    """A failed attempt like any other: SinkError, which the shipper retries."""
    with trickling(mode) as server:
        client = s3_client(region="us-east-1", endpoint_url=server.url, timeout=1.0, env=FAKE_AWS)
        target = S3Target(bucket="evidence", endpoint_url=server.url, timeout=1.0)
        store = S3SegmentStore(target, client=client)  # put without the bucket checks
        started = time.monotonic()
        with pytest.raises(SinkError) as caught:
            store.put(_segment())
        took = time.monotonic() - started
        store.close()
    assert took < 3.0, f"put took {took:.1f}s with timeout 1s"
    assert "no complete answer within 1s" in str(caught.value)


def test_a_collector_that_starts_trickling_mid_session_stops_the_agent(
    hgate: Hgate, agent: Callable[[str], list[str]]
) -> None:
    """Segment 1 is stored; segment 2's answer never ends. With `stop`, the sink fails
    after its retries and the agent is stopped: hgate neither waits for the answer nor
    lets the agent run on unrecorded remotely."""
    with trickling("body", status=201, prompt=1) as server:
        hgate.extra_env = {"HGATE_COLLECTOR_TOKEN": COLLECTOR_TOKEN}
        options = "retries: 1, backoff: 50ms, timeout: 1s"
        sink = f"{{type: http, url: '{server.url}/v1/segments', {options}}}"
        started = time.monotonic()
        script = "for i in $(seq 1 60); do echo line $i; sleep 0.5; done\n"
        result = hgate.run(hgate.policy(sink, every=5), agent(script))
        took = time.monotonic() - started
    assert result.returncode == 73, result.stderr
    assert "did not answer within 1s (segment 2, 2 attempt(s))" in result.stderr
    assert took < 20, f"hgate run took {took:.0f}s; the agent alone runs 30s"
    code, report = hgate.verify(hgate.transcript())
    assert code == 0, report["reason"]
