"""The collector contract, with the reference collector in a thread and the HTTP store."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hgate.audit import Segment, SegmentRejected, Signer, Verdict, sources, verify_source
from hgate.audit.collector import CollectorServer
from hgate.audit.http_sink import HttpSegmentStore, check_collector_url
from hgate.audit.segments import describe
from hgate.errors import ConfigError, SinkError

from .conftest import COLLECTOR_TOKEN as TOKEN
from .conftest import sample_events
from .segment_tools import write_segmented


@pytest.fixture
def segments(signer: Signer) -> list[Segment]:
    return write_segmented(signer, sample_events(6), every=2)[1]


def _store(server: CollectorServer, token: str = TOKEN) -> HttpSegmentStore:
    store = HttpSegmentStore(f"{server.url}/v1/segments", token, timeout=5)
    store.prepare("sess-0001")
    return store


def _post(server: CollectorServer, body: bytes, token: str = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{server.url}/v1/segments",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_segments_are_stored_once_and_read_back(
    collector: CollectorServer, segments: list[Segment], public_key: Ed25519PublicKey
) -> None:
    store = _store(collector)
    for segment in segments:
        store.put(segment)
    store.put(segments[0])  # a retry whose answer was lost: a no-op
    stored = collector.root / "sess-0001"
    assert sorted(p.name for p in stored.iterdir()) == [s.name for s in segments]
    assert (stored / "000001.jsonl").stat().st_mode & 0o777 == 0o440
    report = verify_source(f"{collector.url}/v1/sessions/sess-0001", public_key, env={})
    assert report.verdict is Verdict.VALID, report.reason
    assert report.segments is not None and len(report.segments.present) == len(segments)


def test_a_different_segment_under_a_stored_number_is_refused(
    collector: CollectorServer, segments: list[Segment], signer: Signer
) -> None:
    store = _store(collector)
    store.put(segments[0])
    other = write_segmented(signer, [], seal=False)[1][0]  # another start checkpoint
    with pytest.raises(SegmentRejected, match="answered 409: segment 1 is already stored"):
        store.put(other)


def test_segments_must_arrive_in_chain_order(
    collector: CollectorServer, segments: list[Segment]
) -> None:
    store = _store(collector)
    with pytest.raises(SegmentRejected, match="segment 1 has not been stored yet"):
        store.put(segments[1])
    store.put(segments[0])
    store.put(segments[1])
    with pytest.raises(SegmentRejected, match="does not chain to the one before"):
        store.put(segments[1].__class__(**{**_fields(segments[3]), "number": 3}))


def _fields(segment: Segment) -> dict[str, Any]:
    return {name: getattr(segment, name) for name in Segment.__dataclass_fields__}


def test_nothing_is_accepted_after_the_seal(
    collector: CollectorServer, segments: list[Segment]
) -> None:
    store = _store(collector)
    for segment in segments:
        store.put(segment)
    last = segments[-1]
    line = {"seq": last.last_seq + 1, "prev": last.chain_head, "t": 1, "type": "checkpoint"}
    forged = describe(
        "sess-0001", last.number + 1, json.dumps(line).encode() + b"\n", prev=last.chain_head
    )
    status, body = _post(collector, json.dumps(forged.to_json()).encode())
    assert (status, body["error"]) == (409, "the transcript is already sealed")


def test_wrong_token_and_bad_bodies(collector: CollectorServer, segments: list[Segment]) -> None:
    with pytest.raises(SegmentRejected, match="answered 401: missing or wrong bearer token"):
        _store(collector, token="wrong").put(segments[0])
    assert _post(collector, b"[]")[0] == 400
    body = {**segments[0].to_json(), "chain_head": "0" * 64}
    assert _post(collector, json.dumps(body).encode()) == (
        400,
        {"error": "chain_head does not match the lines"},
    )


def test_an_unreachable_collector_is_a_transient_failure(segments: list[Segment]) -> None:
    store = HttpSegmentStore("http://127.0.0.1:9/v1/segments", TOKEN, timeout=2)
    with pytest.raises(SinkError, match="cannot reach collector") as caught:
        store.put(segments[0])
    assert not isinstance(caught.value, SegmentRejected)


def test_reading_an_unknown_session_is_a_config_error(
    collector: CollectorServer, public_key: Ed25519PublicKey
) -> None:
    with pytest.raises(ConfigError, match="HTTP 404"):
        verify_source(f"{collector.url}/v1/sessions/nope", public_key, env={})


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://collector.example/v1/segments", None),
        ("http://127.0.0.1:8080/v1/segments", None),
        ("http://localhost/v1/segments", None),
        ("http://collector.example/v1/segments", "clear text; use https"),
        ("ftp://collector.example/", "is not an http(s) URL"),
    ],
)
def test_collector_urls(url: str, problem: str | None) -> None:
    found = check_collector_url(url)
    assert found == problem if problem is None else problem in (found or "")


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(SinkError, match="empty bearer token"):
        HttpSegmentStore("https://c.example/v1/segments", "").prepare("s")


def test_the_listing_names_only_segments_the_collector_wrote(
    collector: CollectorServer, segments: list[Segment]
) -> None:
    store = _store(collector)
    for segment in segments[:2]:
        store.put(segment)
    stored = collector.root / "sess-0001"
    (stored / "0000001.jsonl").write_bytes(segments[0].data)
    (stored / "000000.jsonl").write_bytes(b"")
    listing = collector.listing("sess-0001")
    assert listing is not None and listing["segments"] == [1, 2]


FAR = 200_000  # a segment number so far after the others that it cannot be a gap


class _HostileCollector(BaseHTTPRequestHandler):
    """Answers a session URL as a hostile collector would; `/<mode>` picks how."""

    segments: ClassVar[list[Segment]] = []

    def do_GET(self) -> None:
        mode, _, rest = self.path.strip("/").partition("/")
        if rest.startswith("segments/"):
            number = int(rest.split("/")[1])
            fits = number <= len(self.segments)
            body = self.segments[number - 1].data if fits else b"junk\n"
        elif mode == "deep":
            body = b'{"segments":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        elif mode == "far":
            body = json.dumps({"segments": [*range(1, len(self.segments) + 1), FAR]}).encode()
        elif mode == "drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass
            return
        else:
            body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hostile(segments: list[Segment]) -> Iterator[str]:
    _HostileCollector.segments = segments
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileCollector)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_listing_nested_too_deep_is_a_config_error(
    hostile: str, public_key: Ed25519PublicKey
) -> None:
    with pytest.raises(ConfigError, match=r"did not answer with JSON \(RecursionError\)"):
        verify_source(f"{hostile}/deep", public_key, env={})


def test_a_listed_far_segment_number_is_extra(hostile: str, public_key: Ed25519PublicKey) -> None:
    report = verify_source(f"{hostile}/far", public_key, env={})
    assert report.verdict is Verdict.INVALID, report.reason
    assert report.segments is not None and report.segments.missing == ()
    assert report.segments.extra == (
        f"{FAR}.jsonl (numbered {FAR}, far after segment {len(report.segments.present)})",
    )


def test_a_collector_answering_byte_by_byte_is_cut_off_at_the_deadline(
    hostile: str, public_key: Ed25519PublicKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "_DEADLINE", 0.5)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"no complete answer within 0\.5 seconds"):
        verify_source(f"{hostile}/drip", public_key, env={})
    assert time.monotonic() - started < 5
