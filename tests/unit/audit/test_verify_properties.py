"""Property tests: no edit, deletion, insertion, duplication, reordering or truncation of a
generated transcript ever verifies as VALID."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgate.audit import Signer, Verdict, verify_transcript

from .conftest import build_transcript, rechain, split_lines

_SETTINGS = settings(
    max_examples=int(os.environ.get("HGATE_PROPERTY_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

_events = st.lists(
    st.tuples(
        st.sampled_from(["output", "input", "decision", "error"]),
        st.fixed_dictionaries(
            {
                "text": st.text(max_size=30),
                "n": st.integers(-(2**40), 2**40),
                "x": st.floats(allow_nan=False, allow_infinity=False),
            }
        ),
    ),
    max_size=12,
)


@st.composite
def transcripts(draw: st.DrawFn, signer: Signer) -> bytes:
    events = draw(_events)
    every = draw(st.integers(1, 5))
    return build_transcript(signer, events, every=every)


def _verdict(data: bytes, signer: Signer) -> Verdict:
    return verify_transcript(data, signer.public_key).verdict


@_SETTINGS
@given(data=st.data())
def test_generated_transcripts_are_valid(signer: Signer, data: st.DataObject) -> None:
    transcript = data.draw(transcripts(signer))
    report = verify_transcript(transcript, signer.public_key)
    assert report.verdict is Verdict.VALID, report.reason
    assert report.attested_through == report.lines_total == len(split_lines(transcript))


@_SETTINGS
@given(data=st.data())
def test_any_single_byte_edit_is_never_valid(signer: Signer, data: st.DataObject) -> None:
    transcript = data.draw(transcripts(signer))
    at = data.draw(st.integers(0, len(transcript) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda b: b != transcript[at]))
    forged = transcript[:at] + bytes([value]) + transcript[at + 1 :]
    assert _verdict(forged, signer) is not Verdict.VALID


@_SETTINGS
@given(data=st.data())
def test_deleting_any_line_is_never_valid(signer: Signer, data: st.DataObject) -> None:
    lines = split_lines(data.draw(transcripts(signer)))
    index = data.draw(st.integers(0, len(lines) - 1))
    forged = lines[:index] + lines[index + 1 :]
    assert _verdict(b"".join(forged), signer) is not Verdict.VALID
    if index > 0:
        assert _verdict(rechain(forged), signer) is not Verdict.VALID


@_SETTINGS
@given(data=st.data())
def test_inserting_or_duplicating_any_line_is_never_valid(
    signer: Signer, data: st.DataObject
) -> None:
    lines = split_lines(data.draw(transcripts(signer)))
    source = data.draw(st.integers(0, len(lines) - 1))
    at = data.draw(st.integers(0, len(lines)))
    forged = [*lines[:at], lines[source], *lines[at:]]
    assert _verdict(b"".join(forged), signer) is not Verdict.VALID
    if at > 0 and source > 0:
        assert _verdict(rechain(forged), signer) is not Verdict.VALID


@_SETTINGS
@given(data=st.data())
def test_swapping_two_lines_is_never_valid(signer: Signer, data: st.DataObject) -> None:
    lines = split_lines(data.draw(transcripts(signer)))
    i, j = data.draw(st.lists(st.integers(0, len(lines) - 1), min_size=2, max_size=2, unique=True))
    forged = list(lines)
    forged[i], forged[j] = forged[j], forged[i]
    assert _verdict(b"".join(forged), signer) is not Verdict.VALID
    if 0 not in (i, j) and _content(lines[i]) != _content(lines[j]):
        assert _verdict(rechain(forged), signer) is not Verdict.VALID


def _content(line: bytes) -> dict[str, Any]:
    """A line without its position (swapping two equal events changes nothing)."""
    return {k: v for k, v in json.loads(line).items() if k not in ("seq", "prev")}


@_SETTINGS
@given(data=st.data())
def test_truncation_is_never_valid_and_reports_the_attested_prefix(
    signer: Signer, data: st.DataObject
) -> None:
    transcript = data.draw(transcripts(signer))
    lines = split_lines(transcript)
    keep = data.draw(st.integers(1, len(lines) - 1))
    report = verify_transcript(b"".join(lines[:keep]), signer.public_key)
    assert report.verdict is Verdict.INCOMPLETE, report.reason
    assert report.lines_total == keep
    signed = [n for n, line in enumerate(lines[:keep], start=1) if b',"sig":"' in line]
    assert report.attested_through == max(signed, default=0)
    cut = data.draw(st.integers(0, len(transcript) - 1))
    assert _verdict(transcript[:cut], signer) in {Verdict.INCOMPLETE, Verdict.MALFORMED}


@_SETTINGS
@given(data=st.data())
def test_editing_any_event_and_recomputing_the_chain_is_invalid(
    signer: Signer, data: st.DataObject
) -> None:
    lines = split_lines(data.draw(transcripts(signer)))
    events = [i for i, line in enumerate(lines) if b'"data":' in line]
    if not events:
        return
    index = data.draw(st.sampled_from(events))
    forged: list[Any] = list(lines)
    forged[index] = lines[index].replace(b'"data":{', b'"data":{"forged":true,', 1)
    assert _verdict(rechain(forged), signer) is Verdict.INVALID
