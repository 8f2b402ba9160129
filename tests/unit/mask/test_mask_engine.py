"""Engines agree, the factory and the self-test behave. Synthetic data only."""

from __future__ import annotations

import pytest

from hgate.errors import MaskingError
from hgate.mask.detectors import ALL_KINDS, build_default_detectors
from hgate.mask.engine import ReEngine, make_engine
from hgate.mask.interface import Pattern
from hgate.mask.masker import Masker
from hgate.mask.selftest import CANARIES, self_test
from hgate.mask.stream import MaskingStream
from tests.unit.mask.test_mask_detectors import NEGATIVE, POSITIVE

KEY = b"synthetic-test-key-0123456789abc"


def test_engines_find_the_same() -> None:
    pytest.importorskip("hyperscan")
    lines = [line for _, line, _ in POSITIVE] + NEGATIVE + [line for _, line, _ in CANARIES]
    re_masker = Masker(key=KEY, detectors=build_default_detectors(), engine="re")
    hs_masker = Masker(key=KEY, detectors=build_default_detectors(), engine="hyperscan")
    assert hs_masker.engine_name == "hyperscan" and re_masker.engine_name == "re"
    assert [hs_masker.mask(x).text for x in lines] == [re_masker.mask(x).text for x in lines]


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine 'fast'"):
        make_engine([Pattern(regex="a")], "fast")


def test_re_engine_collapses_to_longest_per_start() -> None:
    engine = ReEngine([Pattern(regex=r"[0-9]{2,}")])
    assert engine.scan("a 12345 b") == [(0, 2, 7)]


def test_self_test_passes_with_defaults(masker: Masker) -> None:
    self_test(masker)


def test_self_test_fails_when_a_kind_is_not_masked() -> None:
    broken = Masker(key=KEY, detectors=build_default_detectors({"SSN"}))
    broken.kinds = frozenset({"SSN", "MRN"})  # claims a kind it has no detector for
    with pytest.raises(MaskingError, match="synthetic MRN value"):
        self_test(broken)


def test_factory_narrows_kinds_and_refuses_unknown() -> None:
    detectors = build_default_detectors({"SSN", "IP"})
    kinds = frozenset().union(*(d.kinds for d in detectors))
    assert kinds == {"SSN", "IP"}
    masker = Masker(key=KEY, detectors=detectors)
    assert masker.mask("mac 00:1A:2B:3C:4D:5E").findings == ()  # DEVICE_ID is disabled
    with pytest.raises(ValueError, match="unknown masking kinds: BOGUS"):
        build_default_detectors({"BOGUS"})
    assert "SSN" in ALL_KINDS


def test_feed_display_matches_feed(masker: Masker) -> None:
    data = b"".join(f"line {i} SSN 219-45-678{i % 10}\n".encode() for i in range(200))
    data += b"\x1b[31mcolour\x1b[0m\n" + b"tail without newline"
    via_lines = MaskingStream(masker)
    expected = b"".join(
        x.display for c in range(0, len(data), 97) for x in via_lines.feed(data[c : c + 97])
    )
    expected += b"".join(x.display for x in via_lines.close())
    masker.reset_state()
    fast = MaskingStream(masker)
    got = b"".join(fast.feed_display(data[c : c + 97]) for c in range(0, len(data), 97))
    got += fast.close_display()
    assert got == expected
    assert fast.kinds_seen["SSN"] == 200


_DIGIT_PATTERNS = [
    Pattern(regex=r"\b[12][0-9]{9}\b", tag="npi"),
    Pattern(regex=r"\b[0-9]{9}\b", tag="ssn"),
    Pattern(regex=r"\b[2-9][0-9]{2}[2-9][0-9]{2}[0-9]{4}\b", tag="phone"),
    Pattern(regex=r"\b[2-6][0-9]{12,18}\b", tag="card"),
    Pattern(regex=r"\b[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\b", tag="v4"),
    Pattern(regex=r"\b[0-9]{1,3}\.[0-9]{1,3}\b", tag="v4-som", track_start=True),
]


@pytest.mark.parametrize(
    "text",
    [
        "1234567893 and 123456789, 2125550142; 4111111111111111",
        "x1234567893 1234567893x _1234567893 1234567893_ é1234567893é",
        "12345678931234567893 12345678 1.2.3.4 10.0.0.255.7 99.1",
        "1234567890123456789012 ab-2125550142-cd 2125550142\n4111111111111111\n",
        "1212121212 12 1212121212121212 0000000000 9999999999999",
    ],
)
def test_shared_digit_run_expression_finds_what_re_finds(text: str) -> None:
    """The digit-run patterns share one Hyperscan expression; candidates are unchanged."""
    pytest.importorskip("hyperscan")
    from hgate.mask.engine import HyperscanEngine

    hs_engine = HyperscanEngine(_DIGIT_PATTERNS)
    assert len(hs_engine._run_members) == 4  # npi, ssn, phone and card share one
    assert hs_engine.scan(text) == ReEngine(_DIGIT_PATTERNS).scan(text)


def test_threads_scan_one_engine_at_once() -> None:
    """The session masks from several threads (output pump, control socket, proxy);
    Hyperscan scans without the GIL, so each thread needs its own scratch."""
    import threading

    pytest.importorskip("hyperscan")
    engine = make_engine(
        [p for d in build_default_detectors() for p in getattr(d, "patterns", ())], "hyperscan"
    )
    block = "build ok 203.0.113.42 jane.roe@example.com SSN 219-45-6781\n" * 5000
    expected = engine.scan(block)
    results: list[object] = []

    def scan() -> None:
        try:
            results.extend(engine.scan(block) == expected for _ in range(10))
        except Exception as exc:  # the failure this test is about
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=scan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 30
