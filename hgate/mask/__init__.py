"""Masking: the streaming line assembler, the masker and its detectors.

    PTY bytes -> LineAssembler -> RawLine -> Masker (exact values + Detectors) -> MaskedLine

This package never imports the policy, session or CLI layers: the policy layer turns
its YAML into the plain constructor arguments used here.
"""

from hgate.mask.assembler import LineAssembler, RawLine
from hgate.mask.detectors import ALL_KINDS, DetectorOptions, build_default_detectors
from hgate.mask.engine_cache import CompiledCache
from hgate.mask.interface import CandidateDetector, Detector, DetectorError, Pattern, Span
from hgate.mask.masker import DETECTOR_ERROR, Finding, Masker, MaskResult
from hgate.mask.regex_detector import RegexDetector
from hgate.mask.selftest import self_test
from hgate.mask.stream import MaskedBatch, MaskedLine, MaskingStream

__all__ = [
    "ALL_KINDS",
    "DETECTOR_ERROR",
    "CandidateDetector",
    "CompiledCache",
    "Detector",
    "DetectorError",
    "DetectorOptions",
    "Finding",
    "LineAssembler",
    "MaskResult",
    "MaskedBatch",
    "MaskedLine",
    "Masker",
    "MaskingStream",
    "Pattern",
    "RawLine",
    "RegexDetector",
    "Span",
    "build_default_detectors",
    "self_test",
]
