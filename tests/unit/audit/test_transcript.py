from __future__ import annotations

import base64
import hashlib
import json
import threading
from typing import Any

import pytest

from hgate.audit import Signer, TranscriptWriter, Verdict, verify_transcript
from hgate.audit import format as fmt
from hgate.errors import HgateError, SinkError

from .conftest import HEADER, FakeClock, MemorySink, decode


def _writer(
    signer: Signer, sink: MemorySink, clock: FakeClock | None = None, **kwargs: Any
) -> TranscriptWriter:
    return TranscriptWriter(sink, signer, clock=clock or FakeClock(), **kwargs)


def test_start_writes_header_then_synced_start_checkpoint(signer: Signer) -> None:
    sink = MemorySink()
    writer = _writer(signer, sink)
    writer.start(HEADER)
    assert sink.session_id == "sess-0001" == writer.session_id
    header, start = (decode(line) for line in sink.lines)
    assert header["type"] == "header" and header["seq"] == 1 and header["prev"] == "0" * 64
    assert header["format"] == "hgate-transcript" and header["version"] == 1
    assert header["key_id"] == signer.key_id
    assert {k: header[k] for k in HEADER} == HEADER
    assert start["type"] == "checkpoint" and len(start["nonce"]) == 32
    assert start["prev"] == hashlib.sha256(sink.lines[0]).hexdigest()
    assert sink.syncs == [2]


def test_lines_are_compact_utf8_and_chained_over_exact_bytes(signer: Signer) -> None:
    sink = MemorySink()
    writer = _writer(signer, sink)
    writer.start(HEADER)
    seq = writer.append("output", {"stream": "stdout", "text": "café ✓", "findings": []})
    assert seq == 3
    line = sink.lines[-1]
    assert line == (
        b'{"seq":3,"prev":"' + hashlib.sha256(sink.lines[1]).hexdigest().encode() + b'",'
        b'"t":1714564800.0,"type":"output","data":{"stream":"stdout",'
        b'"text":"caf\xc3\xa9 \xe2\x9c\x93","findings":[]}}\n'
    )


def test_lone_surrogate_falls_back_to_escapes_and_still_verifies(signer: Signer) -> None:
    sink = MemorySink()
    writer = _writer(signer, sink)
    writer.start(HEADER)
    writer.append("output", {"text": "bad \udcff byte, é"})
    assert b"\\udcff" in sink.lines[-1] and b"\\u00e9" in sink.lines[-1]
    writer.seal(exit_code=0, reason="exited")
    assert verify_transcript(sink.data, signer.public_key).verdict is Verdict.VALID


def test_checkpoint_every_n_events(signer: Signer) -> None:
    sink = MemorySink()
    writer = _writer(signer, sink, checkpoint_every_lines=2)
    writer.start(HEADER)
    for i in range(5):
        writer.append("output", {"i": i})
    types = [decode(line)["type"] for line in sink.lines]
    assert types == ["header", "checkpoint"] + ["output", "output", "checkpoint"] * 2 + ["output"]
    assert sink.syncs == [2, 5, 8]


def test_tick_checkpoints_only_after_the_interval_and_new_events(signer: Signer) -> None:
    clock = FakeClock()
    sink = MemorySink()
    writer = _writer(signer, sink, clock, checkpoint_every_seconds=5.0)
    writer.start(HEADER)
    clock.now += 10
    writer.tick()
    assert len(sink.lines) == 2  # nothing new: no checkpoint
    writer.append("output", {"text": "x"})
    writer.tick()
    assert decode(sink.lines[-1])["type"] == "checkpoint"  # 10 s since the start checkpoint
    writer.append("output", {"text": "y"})
    clock.now += 4.9
    writer.tick()
    assert decode(sink.lines[-1])["type"] == "output"
    clock.now += 0.2
    writer.tick()
    assert decode(sink.lines[-1])["type"] == "checkpoint"


def test_explicit_checkpoint_is_a_no_op_without_new_events(signer: Signer) -> None:
    sink = MemorySink()
    writer = _writer(signer, sink)
    writer.start(HEADER)
    writer.checkpoint()
    assert len(sink.lines) == 2
    writer.append("input", {"text": "ls"})
    writer.checkpoint()
    assert decode(sink.lines[-1])["type"] == "checkpoint"


def test_seal_carries_totals_and_closes(signer: Signer) -> None:
    sink = MemorySink()
    writer = _writer(signer, sink, checkpoint_every_lines=2)
    writer.start(HEADER)
    for event_type in ["output", "output", "decision", "exit"]:
        writer.append(event_type, {})
    assert dict(writer.counts) == {"output": 2, "decision": 1, "exit": 1}
    writer.seal(exit_code=3, reason="exited", extra={"duration_s": 1.5})
    seal = decode(sink.lines[-1])
    assert seal["type"] == "seal" and seal["exit_code"] == 3 and seal["reason"] == "exited"
    assert seal["ended_at"] == "2024-05-01T12:00:00.000Z"
    assert seal["totals"] == {
        "lines": len(sink.lines),
        "checkpoints": 3,
        "events": {"decision": 1, "exit": 1, "output": 2},
    }
    assert seal["extra"] == {"duration_s": 1.5}
    assert sink.closed and sink.syncs[-1] == len(sink.lines)
    assert writer.lines_written == len(sink.lines)


def test_after_seal_nothing_more_can_be_added(signer: Signer) -> None:
    writer = _writer(signer, MemorySink())
    writer.start(HEADER)
    writer.seal(exit_code=None, reason="killed")
    with pytest.raises(HgateError, match=r"is sealed; nothing more can be added"):
        writer.append("output", {})
    with pytest.raises(HgateError, match=r"is sealed"):
        writer.seal(exit_code=0, reason="again")
    with pytest.raises(HgateError, match=r"is sealed"):
        writer.checkpoint()
    writer.tick()  # a timer racing the seal must not raise


def test_calls_before_start_and_double_start(signer: Signer) -> None:
    writer = _writer(signer, MemorySink())
    with pytest.raises(HgateError, match=r"not started"):
        writer.append("output", {})
    writer.start(HEADER)
    with pytest.raises(HgateError, match=r"already started"):
        writer.start(HEADER)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({}, r"needs a session_id"),
        ({"session_id": "../x"}, r"needs a session_id"),
        ({"session_id": "s", "key_id": "forged"}, r"\['key_id'\] are set by the writer"),
    ],
)
def test_bad_headers(signer: Signer, header: dict[str, Any], message: str) -> None:
    with pytest.raises(HgateError, match=message):
        _writer(signer, MemorySink()).start(header)


@pytest.mark.parametrize("event_type", ["seal", "checkpoint", "header", "Output", "", "a b"])
def test_reserved_or_malformed_event_types(signer: Signer, event_type: str) -> None:
    writer = _writer(signer, MemorySink())
    writer.start(HEADER)
    with pytest.raises(HgateError, match=r"invalid transcript event type"):
        writer.append(event_type, {})


def test_unserialisable_data_is_refused_and_writer_stays_usable(signer: Signer) -> None:
    sink = MemorySink()
    writer = _writer(signer, sink)
    writer.start(HEADER)
    with pytest.raises(HgateError, match=r"output line cannot be serialised: Out of range float"):
        writer.append("output", {"x": float("nan")})
    with pytest.raises(HgateError, match=r"cannot be serialised: .*not JSON serializable"):
        writer.append("output", {"x": object()})
    assert writer.append("output", {"x": 1}) == 3
    writer.seal(exit_code=0, reason="exited")
    assert verify_transcript(sink.data, signer.public_key).verdict is Verdict.VALID


def test_sink_failure_stops_the_writer(signer: Signer) -> None:
    writer = _writer(signer, MemorySink(fail_after=3))
    writer.start(HEADER)
    writer.append("output", {})
    with pytest.raises(SinkError, match=r"memory sink is full"):
        writer.append("output", {})
    with pytest.raises(SinkError, match=r"stopped after a write failure"):
        writer.append("output", {})
    with pytest.raises(SinkError, match=r"stopped after a write failure"):
        writer.seal(exit_code=1, reason="error")


def test_every_later_refusal_repeats_why_the_sink_failed(signer: Signer) -> None:
    """The thread that hits the failure (the process recorder, say) is often not the one
    whose error reaches the user: the reason must survive in every later refusal."""

    class Full(MemorySink):
        def write(self, line: bytes) -> None:
            if self.lines:
                raise OSError(27, "File too large")
            super().write(line)

    writer = _writer(signer, Full())
    with pytest.raises(SinkError, match=r"File too large"):
        writer.start(HEADER)
    for later in (
        lambda: writer.append("output", {}),
        lambda: writer.seal(exit_code=1, reason="x"),
    ):
        with pytest.raises(SinkError, match=r"stopped after a write failure: .*File too large"):
            later()


def test_foreign_sink_exceptions_become_sink_errors(signer: Signer) -> None:
    class Broken(MemorySink):
        def write(self, line: bytes) -> None:
            raise OSError(28, "No space left on device")

    with pytest.raises(SinkError, match=r"transcript sink memory failed: .*No space left"):
        _writer(signer, Broken()).start(HEADER)


def test_sink_that_cannot_open_fails_start(signer: Signer) -> None:
    class Refusing(MemorySink):
        def open(self, session_id: str) -> None:
            raise SinkError(f"cannot create transcript /ro/{session_id}.jsonl: Read-only")

    with pytest.raises(SinkError, match=r"cannot create transcript /ro/sess-0001.jsonl"):
        _writer(signer, Refusing()).start(HEADER)


def test_counts_are_read_only(signer: Signer) -> None:
    writer = _writer(signer, MemorySink())
    writer.start(HEADER)
    writer.append("output", {})
    with pytest.raises(TypeError):
        writer.counts["output"] = 9  # type: ignore[index]


def test_concurrent_appends_and_ticks_keep_one_valid_chain(signer: Signer) -> None:
    sink = MemorySink()
    clock = FakeClock()
    writer = _writer(signer, sink, clock, checkpoint_every_lines=7, checkpoint_every_seconds=0.001)
    writer.start(HEADER)

    def work(name: str) -> None:
        for i in range(200):
            writer.append(name, {"i": i})
            if i % 10 == 0:
                clock.now += 1
                writer.tick()

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.seal(exit_code=0, reason="exited")
    report = verify_transcript(sink.data, signer.public_key)
    assert report.verdict is Verdict.VALID, report.reason
    assert dict(writer.counts) == {f"t{n}": 200 for n in range(4)}


def test_constructor_validates_intervals(signer: Signer) -> None:
    with pytest.raises(ValueError, match=r"checkpoint_every_lines"):
        TranscriptWriter(MemorySink(), signer, checkpoint_every_lines=0)
    with pytest.raises(ValueError, match=r"checkpoint_every_seconds"):
        TranscriptWriter(MemorySink(), signer, checkpoint_every_seconds=0)


def test_signature_covers_the_line_without_its_sig_member(signer: Signer) -> None:
    sink = MemorySink()
    _writer(signer, sink).start(HEADER)
    line = sink.lines[1]
    obj = json.loads(line)
    unsigned = line[: line.rindex(b',"sig":')] + b"}"
    signer.public_key.verify(base64.b64decode(obj["sig"]), fmt.SIGN_DOMAIN + unsigned)
