"""Segments are cut at each signed line, chain to each other, and rebuild the transcript."""

from __future__ import annotations

import json

import pytest

from hgate.audit import Segment, Signer
from hgate.audit import format as fmt
from hgate.audit.segments import (
    SEGMENT_NAME_RE,
    Segmenter,
    describe,
    segment_name,
    segment_number,
)

from .conftest import sample_events
from .segment_tools import write_segmented


def test_segments_concatenate_to_the_transcript_and_end_in_signed_lines(signer: Signer) -> None:
    local, segments = write_segmented(signer, sample_events(8), every=3)
    assert b"".join(s.data for s in segments) == local
    assert [s.number for s in segments] == list(range(1, len(segments) + 1))
    assert len(segments) == 1 + 8 // 3 + 1  # start checkpoint, two checkpoints, the seal
    prev, seq = fmt.GENESIS_PREV, 1
    for segment in segments:
        assert segment.prev == prev and segment.first_seq == seq
        last = json.loads(segment.data.splitlines()[-1])
        assert last["type"] in ("checkpoint", "seal") and "sig" in last
        assert segment.final == (last["type"] == "seal")
        prev, seq = segment.chain_head, segment.last_seq + 1
    assert [s.final for s in segments] == [False] * (len(segments) - 1) + [True]


def test_the_first_segment_is_the_header_and_start_checkpoint(signer: Signer) -> None:
    _, segments = write_segmented(signer, [], seal=False)
    (first,) = segments
    assert (first.first_seq, first.last_seq, first.final) == (1, 2, False)


def test_post_body_round_trips(signer: Signer) -> None:
    _, segments = write_segmented(signer, sample_events(4))
    for segment in segments:
        body = json.loads(json.dumps(segment.to_json()))
        assert Segment.from_json(body) == segment


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"chain_head": "0" * 64}, "chain_head does not match"),
        ({"first_seq": 7}, "first_seq does not match"),
        ({"final": True}, "final does not match"),
        ({"prev": "1" * 64}, "prev is not the first line's prev"),
        ({"segment": 0}, "segment must be a positive integer"),
        ({"session_id": "../etc"}, "session_id"),
        ({"lines": []}, "lines must be a non-empty list"),
        ({"lines": ['{"seq":1}\n{"seq":2}']}, "holds a newline"),
    ],
)
def test_post_body_that_disagrees_with_its_lines_is_refused(
    signer: Signer, change: dict[str, object], message: str
) -> None:
    _, segments = write_segmented(signer, sample_events(4))
    body = {**segments[1].to_json(), **change}
    with pytest.raises(ValueError, match=message):
        Segment.from_json(body)


def test_describe_refuses_a_segment_cut_inside_a_line(signer: Signer) -> None:
    _, segments = write_segmented(signer, sample_events(4))
    data = segments[1].data
    with pytest.raises(ValueError, match="does not end with a newline"):
        describe("s", 2, data[:-5], prev=segments[0].chain_head)
    without_checkpoint = b"".join(data.splitlines(keepends=True)[:-1])
    with pytest.raises(ValueError, match="does not end with a checkpoint or the seal"):
        describe("s", 2, without_checkpoint, prev=segments[0].chain_head)


def test_segmenter_cuts_nothing_without_lines() -> None:
    assert Segmenter("s").cut() is None


def test_segment_names_sort_by_number() -> None:
    assert segment_name(7) == "000007.jsonl"
    assert SEGMENT_NAME_RE.match("000123.jsonl")
    assert not SEGMENT_NAME_RE.match("123.jsonl") and not SEGMENT_NAME_RE.match("x.jsonl")


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("000001.jsonl", 1),
        ("000123.jsonl", 123),
        ("1234567.jsonl", 1234567),
        ("99999999999999.jsonl", 99999999999999),
        ("000000.jsonl", None),
        ("0000001.jsonl", None),
        ("000000002.jsonl", None),
        ("01234567.jsonl", None),
        (".000003.jsonl", None),
        ("123.jsonl", None),
        ("000001.jsonl.tmp", None),
    ],
)
def test_segment_numbers_come_only_from_the_names_hgate_writes(
    name: str, number: int | None
) -> None:
    assert segment_number(name) == number
    if number is not None:
        assert segment_name(number) == name
