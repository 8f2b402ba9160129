"""The canary self-test: synthetic values of every enabled kind through the real masker.

Run before the agent starts; a value that comes through unmasked means the masker
is misconfigured (a kind disabled by mistake, a broken engine) and the session must
not start. The error names the kind, never the value (which is synthetic anyway).
"""

from __future__ import annotations

from hgate.errors import MaskingError
from hgate.mask.masker import Masker

__all__ = ["CANARIES", "self_test"]

# (kind, line, value that must not survive); all values are synthetic test data.
CANARIES: tuple[tuple[str, str, str], ...] = (
    ("SSN", "Patient SSN 219-45-6781 on file", "219-45-6781"),
    ("SSN", "ssn: 219456781", "219456781"),
    ("NPI", "attending NPI 1234567893", "1234567893"),
    ("DEA", "prescriber DEA AB1234563", "AB1234563"),
    ("MBI", "Medicare MBI 1EG4-TE5-MK73", "1EG4-TE5-MK73"),
    ("CARD", "card 4111 1111 1111 1111 declined", "4111 1111 1111 1111"),
    ("VIN", "vehicle 1M8GDM9AXKP042788", "1M8GDM9AXKP042788"),
    ("IBAN", "IBAN GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32"),
    ("IP", "client 203.0.113.42 connected", "203.0.113.42"),
    ("EMAIL", "contact jane.roe@example.org", "jane.roe@example.org"),
    ("PHONE", "phone (212) 555-0142", "555-0142"),
    ("FAX", "fax 212-555-0143", "212-555-0143"),
    ("ZIP", "Springfield, IL 62704", "62704"),
    ("MRN", "MRN: A12345678", "A12345678"),
    ("MEMBER_ID", "member id XJ4471190", "XJ4471190"),
    ("MEMBER_ID", "NM1*IL*1*ROE*JANE****MI*XJ4471190~", "XJ4471190"),  # X12 837
    ("ACCOUNT", "acct no 0012345678", "0012345678"),
    ("LICENSE", "license number MD-448812", "MD-448812"),
    ("DEVICE_ID", "serial number SN-99812-A", "SN-99812-A"),
    ("DRIVERS_LICENSE", "driver's license D1234567", "D1234567"),
    ("PLATE", "license plate 7ABC123", "7ABC123"),
    ("DATE", "DOB: 03/14/1962", "03/14/1962"),
    ("NAME", "Patient: Jane Roe", "Jane Roe"),
    ("NAME", "PID|1||4482913^^^HOSP^MR||Roe^Jane^Q||19620314|F", "Roe^Jane"),  # HL7 v2
    ("ADDRESS", "lives at 742 Evergreen Terrace", "742 Evergreen"),
    ("SECRET", "DB_PASSWORD=Tr0ub4dor-3-xyz", "Tr0ub4dor-3-xyz"),
    ("SECRET", "token ghp_0123456789abcdefghijABCDEFGHIJ012345", "ghp_0123456789abcdef"),
    ("URL", '"website": "https://jane-roe.example.net"', "jane-roe.example.net"),
)


def self_test(masker: Masker) -> None:
    """Raise MaskingError if a canary of a kind the masker handles comes through."""
    failed: list[str] = []
    try:
        for kind, line, value in CANARIES:
            if kind in masker.kinds and value in masker.mask(line).text:
                failed.append(kind)
    finally:
        masker.reset_state()
    if failed:
        raise MaskingError(
            f"masking self-test failed: synthetic {', '.join(sorted(set(failed)))} "
            f"value(s) were not masked",
            remedy="check the policy's mask kinds and patterns; the session was not started",
        )
