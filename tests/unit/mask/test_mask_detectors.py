"""Per-kind positive and negative cases, under both engines.

Every value here is synthetic (made-up numbers with valid check digits, example names).
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgate.mask.detectors import build_default_detectors
from hgate.mask.detectors.network import _V4
from hgate.mask.masker import Masker
from hgate.mask.stream import MaskingStream
from tests.secrecy import assert_absent

SHAPED_KINDS = {"SSN", "DEA", "MBI", "CARD", "VIN", "IBAN", "IP", "EMAIL", "PHONE", "SECRET"}
_SHARED: list[Masker] = []


@pytest.fixture(scope="module")
def hs_or_re_masker() -> Masker:
    """One default masker (best engine) for property tests; shaped kinds are stateless."""
    if not _SHARED:
        _SHARED.append(
            Masker(key=b"synthetic-test-key-0123456789abc", detectors=build_default_detectors())
        )
    return _SHARED[0]


# (kind, line, value that must be masked)
POSITIVE = [
    ("SSN", "SSN 219-45-6781 on file", "219-45-6781"),
    ("SSN", "social security number: 219456781", "219456781"),
    ("NPI", "referring NPI 1234567893", "1234567893"),
    ("DEA", "DEA AB1234563", "AB1234563"),
    ("MBI", "MBI 1EG4TE5MK73 eligible", "1EG4TE5MK73"),
    ("MBI", "mbi=1EG4-TE5-MK73", "1EG4-TE5-MK73"),
    ("CARD", "card 4111-1111-1111-1111", "4111-1111-1111-1111"),
    ("CARD", "card 4111 1111 1111 1111 0 due", "4111 1111 1111 1111"),  # a short group after
    ("CARD", "amex 378282246310005", "378282246310005"),
    ("VIN", "VIN 1M8GDM9AXKP042788", "1M8GDM9AXKP042788"),
    ("IBAN", "IBAN DE89370400440532013000", "DE89370400440532013000"),
    ("IP", "from 203.0.113.42 port 22", "203.0.113.42"),
    ("IP", "peer 2001:db8:85a3::8a2e:370:7334 up", "2001:db8:85a3::8a2e:370:7334"),
    ("DEVICE_ID", "mac 00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E"),
    ("EMAIL", "mail jane.roe+x@mail.example.org now", "jane.roe+x@mail.example.org"),
    ("EMAIL", "write to j.doe@123.example.io.", "j.doe@123.example.io"),
    ("EMAIL", "cc: ops-7@a-b.c-d.example.co-op", "ops-7@a-b.c-d.example.co"),
    ("EMAIL", "<x@b.museum>", "x@b.museum"),
    ("PHONE", "call (212) 555-0142", "(212) 555-0142"),
    ("PHONE", "phone 2125550142", "2125550142"),
    ("PHONE", "reach +44 20 7946 0958", "+44 20 7946 0958"),
    ("FAX", "fax: 212.555.0143", "212.555.0143"),
    ("ZIP", "zip 62704-1234", "62704-1234"),
    ("ZIP", "Springfield, IL 62704", "62704"),
    ("MRN", "MRN: A12345678", "A12345678"),
    ("MRN", "GET https://ehr.example/patients/48213/chart", "48213"),
    ("MEMBER_ID", "member id W4471190Q", "W4471190Q"),
    ("ACCOUNT", "acct 0012345678 past due", "0012345678"),
    ("LICENSE", "license number MD-448812", "MD-448812"),
    ("MEMBER_ID", "Member ID: XK 1234 5678", "1234 5678"),
    ("MEMBER_ID", "member id XK 1234 5678 active", "XK 1234"),
    ("DEVICE_ID", "pump serial number SN99812A", "SN99812A"),
    ("DRIVERS_LICENSE", "driver's license D1234567", "D1234567"),
    ("PLATE", "license plate 7ABC123", "7ABC123"),
    ("DATE", "DOB: 03/14/1962", "03/14/1962"),
    ("DATE", "admitted on March 14, 1962", "March 14, 1962"),
    ("DATE", "date of birth 14.03.1962", "14.03.1962"),
    ("DATE", "discharged 14 Mar 1962", "14 Mar 1962"),
    ("NAME", "Patient: Jane Roe", "Jane Roe"),
    ("NAME", "seen by Dr. Alan Grant today", "Alan Grant"),
    ("NAME", "signed: Ellen Ripley, MD", "Ellen Ripley"),
    ("ADDRESS", "lives at 742 Evergreen Terrace", "742 Evergreen Terrace"),
    ("ADDRESS", "ship to 1600 Main Street Apt 4B", "1600 Main Street Apt 4B"),
    ("SECRET", "export DB_PASSWORD=s3cr3t-Value!", "s3cr3t-Value!"),
    ("SECRET", "export DB_PASSWORD=$Zb6eKT0Hkw6O_fp", "Zb6eKT0Hkw6O_fp"),
    ("SECRET", "postgres://app:Pa55word@db:5432/x", "Pa55word"),
    ("SECRET", "redis://:Zb6eKT0Hkw6Op@cache:6379/0", "Zb6eKT0Hkw6Op"),  # no user name
    ("SECRET", "token ghp_0123456789abcdefghijABCDEFGHIJ012345", "ghp_0123456789abcdefghij"),
    ("SECRET", "key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    ("SECRET", "Authorization: Bearer abcdefghijklmnop1234567890", "abcdefghijklmnop12345"),
    ("SECRET", "api_key = 'Zx81Kq0vLmN2pR7tYw'", "Zx81Kq0vLmN2pR7tYw"),
    ("SECRET", "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl", "eyJzdWIiOiIxMjM0In0"),
]

# ordinary CI output that must come through unchanged
NEGATIVE = [
    "npm WARN deprecated core@20.11.16: this package is no longer supported",
    "Processed, XX 12345 records",  # `, ST 12345` needs a real state code
    "pip install pkg@1.2.3 --pre",
    "commit 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
    "2024-05-01T12:00:01.123Z INFO worker[42]: processed batch 1187 in 35 ms",
    "Successfully installed requests-2.31.0 urllib3-2.2.1",
    "request id 1b4e28ba-2fa1-11d2-883f-0016d3cca427 done in 1.25s",
    "listening on 0.0.0.0:8080 and 127.0.0.1:5432",
    "Python 3.11.7 on linux; version 1.2.3.4 released",
    "==== 123 passed, 2 skipped in 3.45s ====",
    '  File "/usr/lib/python3.11/site-packages/x/y.py", line 123, in handler',
    "SELECT id, name, created_at FROM builds WHERE id = 42;",
    "Timestamp 1714567890 sequence 12 offset 9",
    "max_tokens=512 temperature=0.2",
    "name: Build Docker Image",
    "- name: Run tests",
    "password: ${DB_PASSWORD}",
    "Patient portal build 1234 deployed",
    "Patient: An Error occurred in step 3",
    "digest sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "git@github.com:org/repo.git",
    "elapsed 00:01:23 (12:00:01)",
]


@pytest.mark.parametrize(("kind", "line", "value"), POSITIVE)
def test_value_of_each_kind_is_masked(masker: Masker, kind: str, line: str, value: str) -> None:
    result = masker.mask(line)
    assert value not in result.text, "planted value leaked"
    assert kind in {f.kind for f in result.findings}


@pytest.mark.parametrize("line", NEGATIVE)
def test_lookalikes_pass_unchanged(masker: Masker, line: str) -> None:
    assert masker.mask(line).text == line


@pytest.mark.parametrize(
    "line",
    [
        "SSN 000-12-3456 invalid area",
        "SSN 666-12-3456",
        "order 219456781 shipped",  # bare nine digits, no label
        "NPI 1234567890",  # Luhn fails
        "card 4111 1111 1111 1112",  # Luhn fails
        "DEA AB1234567",  # check digit fails
        "IBAN DE00370400440532013000",  # mod 97 fails
        "zip 1234 only four",
        "MRN lookup took 35 ms",
        "DOB unknown",
    ],
)
def test_invalid_values_are_left_alone(masker: Masker, line: str) -> None:
    assert masker.mask(line).findings == ()


def test_strict_dates_mask_log_timestamps(engine: str) -> None:
    from hgate.mask.detectors import DetectorOptions, build_default_detectors

    strict = Masker(
        key=b"synthetic-test-key-0123456789abc",
        detectors=build_default_detectors({"DATE"}, DetectorOptions(keep_log_timestamps=False)),
        engine=engine,
    )
    assert "2024-05-01" not in strict.mask("2024-05-01T12:00:01Z started").text


def test_mask_all_urls_option(engine: str) -> None:
    from hgate.mask.detectors import DetectorOptions, build_default_detectors

    masker = Masker(
        key=b"synthetic-test-key-0123456789abc",
        detectors=build_default_detectors({"URL"}, DetectorOptions(mask_all_urls=True)),
        engine=engine,
    )
    assert masker.mask("see https://example.org/a?b=1.").text.startswith("see [URL:")


_SURROUND = st.text(alphabet=" \t,;:()[]{}<>\"'=|/-_.!?#*abcXYZ019", max_size=20)
_SEP = st.sampled_from([" ", "\t", ", ", "; ", " (", '"', "=", ": ", "|"])


@settings(max_examples=60, deadline=None)
@given(
    case=st.sampled_from([p for p in POSITIVE if p[0] in SHAPED_KINDS]),
    before=_SURROUND,
    after=_SURROUND,
    left=_SEP,
    right=_SEP,
)
def test_shaped_value_stays_masked_whatever_surrounds_it(
    hs_or_re_masker: Masker,
    case: tuple[str, str, str],
    before: str,
    after: str,
    left: str,
    right: str,
) -> None:
    _, line, value = case
    text = before + left + line + right + after
    once = hs_or_re_masker.mask(text).text
    assert value not in once, "planted value leaked"
    assert hs_or_re_masker.mask(once).text == once


@pytest.mark.parametrize(
    ("line", "name_words", "kept"),
    [
        ("pt name: Sra. Paola Gómez", ["Paola", "Gómez"], "Sra."),
        ("seen by Dr. Prof. Ilse Anaya today", ["Ilse", "Anaya"], "Prof."),
        ("Patient: pani Ewelina Kosałka", ["Ewelina", "Kosałka"], "pani"),
        ("Patient: Dott.ssa Serena Interiano", ["Serena", "Interiano"], "Dott.ssa"),
        ("seen by Dr. Élodie Giraud today", ["Élodie", "Giraud"], "Dr."),
        ("Stijn van de Leemput, MD signed the note", ["Stijn", "Leemput"], "MD"),
        ("Silvano Pedro Lozano Sáenz, MD signed", ["Silvano", "Sáenz"], "MD"),
        ("Please ask Jane Roe, MD", ["Jane", "Roe"], "Please ask"),
        ("Patient: An Đức Đặng", ["Đức", "Đặng"], "Patient:"),  # `An` is a stop word too
        ("An Mai Bảo Đặng, MD signed", ["Mai", "Bảo", "Đặng"], "MD"),
    ],
)
def test_names_behind_honorifics_and_particles_are_masked(
    masker: Masker, line: str, name_words: list[str], kept: str
) -> None:
    """Synthetic names in the shapes other locales write them; the title stays visible."""
    text = masker.mask(line).text
    assert_absent({f"name word {i}": w for i, w in enumerate(name_words)}, output=text)
    assert kept in text


@pytest.mark.parametrize("line", ["Patient: Pan Wei", "Patient: Anh Nguyen"])
def test_honorific_lookalike_family_names_are_masked(masker: Masker, line: str) -> None:
    """`Pan` and `Anh` are names too: only the lower-case honorifics are skipped."""
    text = masker.mask(line).text
    assert_absent({"family name": line.split()[1]}, output=text)
    assert text.startswith("Patient: [NAME:")


_OCTETS = st.sampled_from(["0", "00", "007", "012", "1", "9", "10", "99", "100", "126", "127"])
_MORE_OCTETS = st.one_of(_OCTETS, st.sampled_from(["128", "129", "199", "200", "255", "256"]))


@given(st.lists(_MORE_OCTETS, min_size=4, max_size=4))
def test_ipv4_candidates_are_every_quad_but_loopback_and_unspecified(octets: list[str]) -> None:
    """The scan leaves out only what the validator refuses anyway (127/8 and 0.0.0.0)."""
    quad = ".".join(octets)
    plain = re.fullmatch(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}", quad, re.ASCII) is not None
    expected = plain and not quad.startswith("127.") and quad != "0.0.0.0"
    assert (re.fullmatch(_V4, quad, re.ASCII) is not None) == expected


# What real tools print in CI, reproduced (package names and versions, a synthetic key
# dump): seen masked by `hgate mask` over apt, dpkg, pip, `env`, `ip` and openssl output.
TOOL_OUTPUT = [
    "Unpacking alsa-topology-conf (1.2.5.1-2) ...",
    "2025-06-24 14:37:47 status unpacked alsa-topology-conf:all 1.2.5.1-2",
    "2025-06-24 14:37:47 install alsa-topology-conf:all <none> 1.2.5.1-2",
    "ii  alsa-topology-conf        1.2.5.1-2        all          ALSA topology files",
    "Depends: libc6 (>= 2.36), libpam0g (>= 0.99.7.1), libssl3 (>= 3.0.19)",
    "Install: libx:amd64 (2.1-4, automatic), alsa-topology-conf:amd64 (1.2.5.1-2, automatic)",
    "Get:1 http://deb.debian.org/debian bookworm/main amd64 libfoo amd64 1.2.3.4+dfsg1-2",
    "2026-05-09 07:29:23 install zip:amd64 <none> 3.0-13",
    "2026-05-09 07:29:25 status installed zip:amd64 3.0-13",
    "PWD=/work/app",
    "OLDPWD=/home/runner",
    'Author-email: "Example Maintainers and Contributors"',
    "                    3b:26:30:7c:e0:e1:b8:a7:fb:1a:b1:ca:7c:3e:76:8c:e0:e5:",
    "            a5:e1:c6:b0:ba:40:d7:65:ca:06:f7",
    "    link/ether brd ff:ff:ff:ff:ff:ff",
    "--- PASS: TestParseConfigWithDefaults (0.00s)",
    "PASS: tests/test_roundtrip_unicode",
    "Passed!  - Failed:     0, Passed:   128, Skipped:     0, Total:   128, Duration: 2 s",
    "ERROR 1045 (28000): Access denied for user 'ci'@'localhost' (using password: YES)",
    "Serial: not available",
    '{"event":"request","status":200,"client":"10.0.0.0/8"}',
    "allow 192.168.0.0/16;",
    "          password: ${{ secrets.DB_PASSWORD }}",
    "  password          = var.db_password",
    'export DB_PASSWORD="$(cat /run/secrets/db)"',
]


@pytest.mark.parametrize("line", TOOL_OUTPUT)
def test_tool_output_passes_unchanged(masker: Masker, line: str) -> None:
    assert masker.mask(line).text == line


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("allow 10.0.0.1-10.0.0.9 only", "10.0.0.9"),  # a range: both ends are addresses
        ("allow 10.0.0.1-10.0.0.9 only", "10.0.0.1"),
        ("connect from (203.0.113.42) port 22", "203.0.113.42"),
        ("allow 203.0.113.42/32 only", "203.0.113.42"),
        ("inet 172.16.0.2/24 brd 172.16.0.255", "172.16.0.2"),
        ('password = "var.s3cr3t-Value"', "s3cr3t-Value"),
        ("zip:62704", "62704"),
        ("PWD=Zx81Kq0vLmN2pR7tYw", "Zx81Kq0vLmN2pR7tYw"),
        ("PASS=Zx81Kq0vLmN2pR7tYw", "Zx81Kq0vLmN2pR7tYw"),
        ("Authorization: Zx81Kq0vLmN2pR7tYwQ", "Zx81Kq0vLmN2pR7tYwQ"),
        ("link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff", "02:42:ac:11:00:02"),
    ],
)
def test_values_beside_tool_output_shapes_stay_masked(
    masker: Masker, line: str, value: str
) -> None:
    """The exceptions above are narrow: the same shapes in an address context mask."""
    assert_absent({"planted value": value}, output=masker.mask(line).text)


# HL7 v2 as an interface engine's test log prints it; every value synthetic.
_PID = (
    "PID|1||4482913^^^HOSP^MR||Roe^Jane^Q||19620314|F|||742 Evergreen Terrace^^Springfield^IL"
    "^62704||(217)555-0142|||S||88123456^^^HOSP^AN|219-45-6781"
)


@pytest.mark.parametrize(
    ("line", "values", "kinds"),
    [
        (
            _PID,
            ["4482913", "Roe", "Jane", "19620314", "Evergreen", "Springfield", "88123456"],
            {"MRN", "NAME", "DATE", "ADDRESS", "PHONE", "ACCOUNT", "SSN"},
        ),
        ("NK1|1|Roe^John|SPO|742 Evergreen Terrace^^Springfield", ["John", "Evergreen"], {"NAME"}),
        ("PV1|1|I|W^389^1||||1234567893^Grant^Alan^^^Dr", ["Grant", "Alan"], {"NAME"}),
        ("MRG|4482900^^^HOSP^MR", ["4482900"], {"MRN"}),
        (  # in a JSON log line, the segments joined by `\r` escapes
            '{"msg": "MSH|^~\\\\&|EPIC|HOSP\\rPID|1||4482913^^^HOSP^MR||Roe^Jane\\rPV1|1|I"}',
            ["4482913", "Roe", "Jane"],
            {"MRN", "NAME"},
        ),
    ],
)
def test_hl7_segments_mask_their_person_fields(
    masker: Masker, line: str, values: list[str], kinds: set[str]
) -> None:
    result = masker.mask(line)
    assert_absent({f"field value {i}": v for i, v in enumerate(values)}, output=result.text)
    assert kinds <= {f.kind for f in result.findings}


@pytest.mark.parametrize(
    "line",
    [
        "MSH|^~\\&|EPIC|HOSP|LAB|HOSP|20240501120001||ADT^A01|MSG00001|P|2.5",
        "PID|PPID|USER|COMMAND",  # a pipe-separated header, not a segment (no set id)
        'PID|1||""|||||F',  # empty and null fields stay
        "EVN|A01|20240501120001",
    ],
)
def test_hl7_structure_is_kept(masker: Masker, line: str) -> None:
    assert masker.mask(line).text == line


# A FHIR Patient (synthetic) as an integration test prints it: one line, then pretty.
_FHIR_PATIENT = {
    "resourceType": "Patient",
    "identifier": [
        {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203"}]},
            "system": "urn:oid:1.2.36.146.595.217.0.1",
            "value": "4482913",
        }
    ],
    "name": [{"use": "official", "family": "Roe", "given": ["Jane", "Quinn"]}],
    "gender": "female",
}
_FHIR_VALUES = {"mrn": "4482913", "family": "Roe", "given": "Jane", "middle": "Quinn"}


@pytest.mark.parametrize("indent", [None, 2])
def test_fhir_names_and_identifiers_are_masked(masker: Masker, indent: int | None) -> None:
    stream = MaskingStream(masker)
    text = json.dumps(_FHIR_PATIENT, indent=indent) + "\n"
    lines = stream.feed(text.encode()) + stream.close()
    output = "\n".join(line.text for line in lines)
    assert_absent(_FHIR_VALUES, output=output)
    assert {"NAME", "MRN"} <= {f.kind for line in lines for f in line.findings}
    assert '"official"' in output and "urn:oid:1.2.36.146.595.217.0.1" in output


def test_family_outside_a_fhir_stream_is_left_alone(masker: Masker) -> None:
    """Without a resourceType, `family` is a font's or an address family's."""
    for line in ['{"font": {"family": "Arial"}}', '"identifier": ["build-42"]']:
        assert masker.mask(line).text == line


# X12 837 segments (synthetic), as a claims pipeline logs them: one line, `~` between.
_X12 = (
    "NM1*IL*1*ROE*JANE*Q***MI*W4471190~N3*742 EVERGREEN TERRACE~N4*SPRINGFIELD*IL*62704~"
    "DMG*D8*19620314*F~REF*SY*219456781~PER*IC*BILLING*TE*2175550142~CLM*PCN4482913*150~"
)


def test_x12_person_elements_are_masked(masker: Masker) -> None:
    result = masker.mask(_X12)
    planted = ["ROE", "JANE", "W4471190", "EVERGREEN", "SPRINGFIELD", "19620314", "219456781"]
    assert_absent({f"element {i}": v for i, v in enumerate(planted)}, output=result.text)
    assert_absent({"phone": "2175550142", "control number": "PCN4482913"}, output=result.text)
    assert result.text.startswith("NM1*IL*1*[NAME:") and "*IL*[ZIP:" in result.text


@pytest.mark.parametrize(
    "line",
    [
        "NM1*85*2*SPRINGFIELD CLINIC*****PI*12345~",  # an organisation's name, a payer id
        "ISA*00*          *00*          *ZZ*SUBMITTER*ZZ*RECEIVER*240501*1200*^*00501*1*0*P*:~",
        "REF*D9*CLAIM-7781~",  # a claim number: not a person's id
        "see the N3*line docs",  # not a segment: neither at the start nor after `~`
    ],
)
def test_x12_structure_is_kept(masker: Masker, line: str) -> None:
    assert masker.mask(line).text == line
