"""The shipped detectors and the factory the policy layer configures them through.

    build_default_detectors(enabled_kinds, options, extra) -> list[Detector]

Every detector is a CandidateDetector (patterns + validator) so one engine pass serves
them all; `extra` carries the policy's own RegexDetectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hgate.mask.detectors.addresses import AddressDetector
from hgate.mask.detectors.card import CardDetector
from hgate.mask.detectors.dates import DateDetector
from hgate.mask.detectors.dea import DeaDetector
from hgate.mask.detectors.email import EmailDetector
from hgate.mask.detectors.fhir import FhirDetector
from hgate.mask.detectors.hl7 import Hl7Detector
from hgate.mask.detectors.iban import IbanDetector
from hgate.mask.detectors.identifiers import IDENTIFIER_LABELS, IdentifierDetector
from hgate.mask.detectors.keyed import KeyedFieldDetector
from hgate.mask.detectors.mbi import MbiDetector
from hgate.mask.detectors.names import NameDetector
from hgate.mask.detectors.network import NetworkDetector
from hgate.mask.detectors.npi import NpiDetector
from hgate.mask.detectors.phone import PhoneDetector
from hgate.mask.detectors.secrets import SecretDetector
from hgate.mask.detectors.ssn import SsnDetector
from hgate.mask.detectors.tables import KeyBlockDetector, TableDetector
from hgate.mask.detectors.url import UrlDetector
from hgate.mask.detectors.vin import VinDetector
from hgate.mask.detectors.x12 import X12Detector
from hgate.mask.detectors.zip_code import ZipDetector
from hgate.mask.interface import Detector

__all__ = ["ALL_KINDS", "DetectorOptions", "build_default_detectors"]

ALL_KINDS = frozenset(
    {
        "ACCOUNT",
        "ADDRESS",
        "CARD",
        "DATE",
        "DEA",
        "DEVICE_ID",
        "DRIVERS_LICENSE",
        "EMAIL",
        "FAX",
        "IBAN",
        "IP",
        "LICENSE",
        "MBI",
        "MEMBER_ID",
        "MRN",
        "NAME",
        "NPI",
        "PHONE",
        "PLATE",
        "SECRET",
        "SSN",
        "URL",
        "VIN",
        "ZIP",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorOptions:
    """Plain options the policy sets.

    keep_log_timestamps: only dates tied to a person are masked (the baseline); False
        masks every date, log timestamps included.
    mask_all_urls: mask every URL, not only the person-identifying parts of one.
    """

    keep_log_timestamps: bool = True
    mask_all_urls: bool = False


def build_default_detectors(
    enabled_kinds: Iterable[str] | None = None,
    options: DetectorOptions | None = None,
    extra: Sequence[Detector] = (),
) -> list[Detector]:
    """The shipped detectors restricted to `enabled_kinds` (None: all), plus `extra`.

    A detector whose kinds are all disabled is left out; one with some disabled has its
    `kinds` narrowed, and the masker drops spans of kinds a detector does not declare.
    """
    opts = options or DetectorOptions()
    enabled = ALL_KINDS if enabled_kinds is None else frozenset(enabled_kinds)
    unknown = enabled - ALL_KINDS
    if unknown:
        raise ValueError(
            f"unknown masking kinds: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(ALL_KINDS))})"
        )
    shipped: list[Detector] = [
        SsnDetector(),
        NpiDetector(),
        DeaDetector(),
        MbiDetector(),
        CardDetector(),
        VinDetector(),
        IbanDetector(),
        NetworkDetector(),
        EmailDetector(),
        UrlDetector(mask_all=opts.mask_all_urls),
        PhoneDetector(),
        ZipDetector(),
        *(IdentifierDetector(kind) for kind in IDENTIFIER_LABELS),
        DateDetector(keep_log_timestamps=opts.keep_log_timestamps),
        NameDetector(),
        AddressDetector(),
        SecretDetector(),
        KeyBlockDetector(),
        KeyedFieldDetector(),
        TableDetector(),
        Hl7Detector(),
        FhirDetector(),
        X12Detector(),
    ]
    chosen: list[Detector] = []
    for detector in shipped:
        kinds = detector.kinds & enabled
        if kinds:
            detector.kinds = frozenset(kinds)
            chosen.append(detector)
    return [*chosen, *extra]
