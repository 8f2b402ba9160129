"""Synthetic labelled corpus for the masking benchmarks (all values are fake).

`labelled(n, seed)` yields (lines, [(kind, value), ...]) records: every kind in prose,
key=value, JSON (one-line and pretty), CSV, psql and Markdown table shapes.
`lookalikes(n, seed)` yields ordinary CI output that must pass unchanged.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Iterator
from datetime import datetime

from faker import Faker

from hgate.mask.checksums import dea_valid, iban_valid, luhn_valid, npi_valid, vin_valid
from hgate.mask.detectors import build_default_detectors
from hgate.mask.masker import Masker

Record = tuple[list[str], list[tuple[str, str]]]
_MBI_A = "ACDEFGHJKMNPQRTUVWXY"


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return next(body + d for d in string.digits if luhn_valid(body + d))


def npi(rng: random.Random) -> str:
    while True:
        body = rng.choice("12") + "".join(rng.choice(string.digits) for _ in range(8))
        for d in string.digits:
            if npi_valid(body + d):
                return body + d


def dea(rng: random.Random) -> str:
    while True:
        value = rng.choice("ABFGMPRX") + rng.choice(string.ascii_uppercase)
        value += "".join(rng.choice(string.digits) for _ in range(7))
        if dea_valid(value):
            return value


def mbi(rng: random.Random) -> str:
    an = _MBI_A + string.digits
    c = [rng.choice("123456789"), rng.choice(_MBI_A), rng.choice(an), rng.choice(string.digits)]
    c += [rng.choice(_MBI_A), rng.choice(an), rng.choice(string.digits)]
    c += [
        rng.choice(_MBI_A),
        rng.choice(_MBI_A),
        rng.choice(string.digits),
        rng.choice(string.digits),
    ]
    value = "".join(c)
    return value if rng.random() < 0.5 else f"{value[:4]}-{value[4:7]}-{value[7:]}"


def vin(rng: random.Random) -> str:
    chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    while True:
        value = "".join(rng.choice(chars) for _ in range(17))
        for d in "0123456789X":
            candidate = value[:8] + d + value[9:]
            if vin_valid(candidate):
                return candidate


def iban(rng: random.Random) -> str:
    bban = "".join(rng.choice(string.digits) for _ in range(18))
    for check in range(100):
        value = f"DE{check:02d}{bban}"
        if iban_valid(value):
            return (
                value if rng.random() < 0.5 else " ".join(value[i : i + 4] for i in range(0, 22, 4))
            )
    raise AssertionError("unreachable")


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def card(rng: random.Random) -> str:
    value = _luhn_complete(rng.choice(["4", "51", "55", "37", "6011"]), 16, rng)
    if value.startswith("37"):
        value = _luhn_complete("37", 15, rng)
        return value if rng.random() < 0.5 else f"{value[:4]} {value[4:10]} {value[10:]}"
    return value if rng.random() < 0.4 else " ".join(value[i : i + 4] for i in range(0, 16, 4))


def phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    forms = [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}"]
    return rng.choice([*forms, f"+44 20 {rng.randint(7000, 7999)} {c:04d}"])


def date(rng: random.Random, fake: Faker) -> str:
    d = fake.date_of_birth(minimum_age=1, maximum_age=95)
    fmt = rng.choice(
        ["%m/%d/%Y", "%Y-%m-%d", "%B %d, %Y", "%d %b %Y", "%m/%d/%y", "%d.%m.%Y", "%b %d, %Y"]
    )
    return d.strftime(fmt)


def _ident(rng: random.Random, prefix: str = "") -> str:
    digits = "".join(rng.choice(string.digits) for _ in range(rng.randint(6, 10)))
    return prefix + digits


def generators(fake: Faker, rng: random.Random) -> dict[str, Callable[[], str]]:
    return {
        "SSN": lambda: ssn(rng),
        "NPI": lambda: npi(rng),
        "DEA": lambda: dea(rng),
        "MBI": lambda: mbi(rng),
        "CARD": lambda: card(rng),
        "VIN": lambda: vin(rng),
        "IBAN": lambda: iban(rng),
        "IP": lambda: fake.ipv4_public() if rng.random() < 0.7 else fake.ipv6(),
        "EMAIL": lambda: fake.email(),
        "PHONE": lambda: phone(rng),
        "ZIP": lambda: fake.zipcode(),
        "MRN": lambda: _ident(rng, rng.choice(["", "MR", "A", "H-"])),
        "MEMBER_ID": lambda: (
            _ident(rng, rng.choice(["", "XJ", "W", "M-"]))
            if rng.random() < 0.8
            else f"XK {_ident(rng)[:4]} {_ident(rng)[:4]}"  # written in blocks
        ),
        "ACCOUNT": lambda: _ident(rng),
        "LICENSE": lambda: _ident(rng, rng.choice(["", "MD", "RN-", "C"])),
        "DEVICE_ID": lambda: _ident(rng, rng.choice(["SN", "DEV-", "", "UDI"])),
        "DRIVERS_LICENSE": lambda: rng.choice(string.ascii_uppercase) + _ident(rng),
        "PLATE": lambda: fake.license_plate(),
        "DATE": lambda: date(rng, fake),
        "NAME": lambda: fake.name(),
        "ADDRESS": lambda: fake.street_address(),
        "SECRET": lambda: fake.password(length=16),
    }


PROSE = {
    "SSN": ["Patient SSN {v} verified", "ssn {v} on file", "social security number: {v}"],
    "NPI": ["Referring NPI {v}", "provider NPI: {v} not found", "npi={v}"],
    "DEA": ["Prescriber DEA {v} checked", "DEA number {v}"],
    "MBI": ["Medicare MBI {v} eligible", "MBI: {v}"],
    "CARD": ["charged card {v} ok", "payment card {v} declined"],
    "VIN": ["vehicle {v} registered", "VIN {v}"],
    "IBAN": ["refund to IBAN {v}", "account {v} credited"],
    "IP": ["patient portal login from {v}", "client {v} connected"],
    "EMAIL": ["sent reminder to {v}", "contact: {v}"],
    "PHONE": ["call back at {v}", "patient phone {v}", "fax {v}"],
    "ZIP": ["zip code {v} outside service area", "postal code: {v}"],
    "MRN": ["MRN {v} admitted", "medical record number: {v}", "chart no {v} merged"],
    "MEMBER_ID": ["member id {v} eligible", "subscriber {v} active", "policy number {v}"],
    "ACCOUNT": ["account number {v} billed", "acct {v} past due"],
    "LICENSE": ["license number {v} verified", "certificate no {v} expired"],
    "DEVICE_ID": ["pump serial number {v} paired", "device id {v} offline"],
    "DRIVERS_LICENSE": ["driver's license {v} scanned", "DL# {v}"],
    "PLATE": ["license plate {v} in lot B", "plate number {v}"],
    "DATE": ["DOB {v}", "admitted on {v} via ED", "date of birth: {v}", "discharged {v}"],
    "NAME": ["Patient: {v}", "seen by Dr. {v} today", "{v}, MD signed the note", "pt name: {v}"],
    "ADDRESS": ["lives at {v}", "ship to {v}, apartment door", "address: {v}"],
    "SECRET": ["export DB_PASSWORD={v}", "password: {v}"],
}
KEYS = {
    "SSN": "ssn", "NPI": "npi", "DEA": "dea_number", "MBI": "mbi", "CARD": "card",
    "VIN": "vin", "IBAN": "iban", "IP": "ip_address", "EMAIL": "email", "PHONE": "phone",
    "ZIP": "zip", "MRN": "mrn", "MEMBER_ID": "member_id", "ACCOUNT": "account_number",
    "LICENSE": "license_number", "DEVICE_ID": "device_serial", "DRIVERS_LICENSE": "drivers_license",
    "PLATE": "license_plate", "DATE": "dob", "NAME": "patient_name", "ADDRESS": "address",
    "SECRET": "password",
}  # fmt: skip


def _kv(value: str) -> str:
    return json.dumps(value) if " " in value else value


# Name locales the detectors were not written against (Latin script): the held-out check.
HELD_OUT_LOCALES = ("de_DE", "es_MX", "fr_FR", "it_IT", "nl_NL", "pl_PL", "pt_BR", "vi_VN")


def labelled(
    n: int, seed: int = 1, locale: str = "en_US", only: frozenset[str] | None = None
) -> Iterator[Record]:
    """`n` records per kind (or per kind in `only`), in rotating shapes."""
    fake = Faker(locale)
    fake.seed_instance(seed)
    rng = random.Random(seed)
    gen = generators(fake, rng)
    if only is not None:
        gen = {kind: make for kind, make in gen.items() if kind in only}
    kinds = sorted(gen)
    for i in range(n):
        for kind in kinds:
            value = gen[kind]()
            shape = i % 6
            key = KEYS[kind]
            if shape in (0, 1):
                yield [rng.choice(PROSE[kind]).format(v=value)], [(kind, value)]
            elif shape == 2:
                yield (
                    [f"ts=2024-05-01T10:00:00Z event=update {key}={_kv(value)} ok=1"],
                    [(kind, value)],
                )
            elif shape == 3:
                doc = {"id": i, key: value, "status": "active"}
                if i % 12 == 3:
                    yield json.dumps(doc, indent=2).splitlines(), [(kind, value)]
                else:
                    yield [json.dumps(doc)], [(kind, value)]
            elif shape == 4:
                other = gen[kinds[(kinds.index(kind) + 1) % len(kinds)]]()
                cell = f'"{value}"' if "," in value else value
                ocell = f'"{other}"' if "," in other else other
                yield (
                    [
                        f"id,{key},{KEYS[kinds[(kinds.index(kind) + 1) % len(kinds)]]}",
                        f"{i},{cell},{ocell}",
                        "",
                    ],
                    [(kind, value)],
                )
            else:
                if i % 2:
                    lines = [
                        f" id | {key} | status",
                        "----+------+--------",
                        f" {i} | {value} | active",
                        "(1 row)",
                        "",
                    ]
                else:
                    lines = [
                        f"| id | {key} | status |",
                        "|---|---|---|",
                        f"| {i} | {value} | active |",
                        "",
                    ]
                yield lines, [(kind, value)]


LOOKALIKE_TEMPLATES = [
    "commit {sha}",
    "HEAD is now at {sha7} Merge pull request #{n} from org/feature-{n}",
    "Successfully installed requests-{ver} urllib3-{ver} idna-{ver}",
    "Collecting numpy=={ver}",
    "  Downloading https://files.pythonhosted.org/packages/{hex2}/{hex2}/{hex}/"
    "pkg-{ver}-py3-none-any.whl ({n} kB)",
    "Requirement already satisfied: setuptools>={ver} in /usr/lib/python3/dist-packages ({ver})",
    "{ts} INFO  worker[{n}]: processed batch {n} in {n} ms",
    "{ts} DEBUG http: GET /api/v1/builds/{n} 200 {n}ms",
    "[{ts}] Listening on 0.0.0.0:{port}",
    "Server started at http://127.0.0.1:{port}/",
    "request id {uuid} completed in {dur}",
    "sha256:{sha256}",
    "Digest: sha256:{sha256}",
    "Step {n}/{n} : RUN pip install -r requirements.txt",
    " ---> Using cache {sha12}",
    "tests/unit/test_{word}.py::test_{word}_{word} PASSED  [{pct}%]",
    "==== {n} passed, {n} skipped, {n} warnings in {dur} ====",
    '  File "/usr/lib/python3.11/site-packages/{word}/{word}.py", line {n}, in {word}',
    '    raise ValueError(f"bad {word}: {{value!r}}")',
    "ValueError: invalid literal for int() with base 10: '{word}'",
    "SELECT id, created_at FROM builds WHERE id = {n} AND status = 'ok';",
    "INSERT INTO jobs (id, name, started_at) VALUES ({n}, 'build', now());",
    "gcc -O2 -Wall -c src/{word}.c -o build/{word}.o",
    "npm WARN deprecated {word}@{ver}: this package is no longer supported",
    "added {n} packages, and audited {n} packages in {dur}",
    "Build #{n} finished with status SUCCESS after {dur}",
    "Python {ver} on linux; pytest-{ver}, pluggy-{ver}",
    "Total: {n} files, {n} lines, coverage {pct}.{n2}%",
    "Uploading artifact build-{n}.tar.gz ({n} bytes)",
    "Run actions/checkout@v4 with ref {sha}",
    "docker.io/library/python:{ver}-slim@sha256:{sha256}",
    "Epoch {n}/{n} - loss: 0.{n2}{n2} - accuracy: 0.9{n2} - {n}ms/step",
    "Processing {n} of {n} records ({pct}%) at {ts}",
    'ETag: "{hex}"  Content-Length: {n}',
    "user={word} uid={n} gid={n} pid={n} elapsed={dur}",
    "connected to redis://localhost:{port}/0 after {n} retries",
    "version {ver} released on 2024-0{d1}-1{d1}",
    "{word}.{word}:{n}: warning: unused variable '{word}'",
    "migrating {word}_{word}_table ... OK ({dur})",
    "Timestamp 17{n8} sequence {n} offset {n}",
]
# What system tools print in CI (apt, dpkg, `env`, openssl): reported on their own line
# by mask_quality, and kept out of the speed benchmark's mixed log so its figures stay
# comparable from one change to the next.
TOOL_OUTPUT_TEMPLATES = [
    "Unpacking lib{word}{d1} ({d1}.{d1}.{n2}.{d1}-{d1}) ...",
    "{ts} status unpacked lib{word}:amd64 {d1}.{d1}.{n2}.{d1}-{d1}",
    "Depends: libc6 (>= 2.{n2}), lib{word}{d1} (>= 0.{n2}.{d1}.{d1})",
    "{ts} install zip:amd64 <none> {d1}.0-{n2}",
    "PWD=/home/runner/work/{word}/{word}",
    "--- PASS: Test{word}{d1} (0.0{d1}s)",
    "Passed!  - Failed:     0, Passed:   {n}, Skipped:     0, Total:   {n}, Duration: {d1} s",
    "ERROR 1045 (28000): Access denied for user '{word}'@'localhost' (using password: YES)",
    "          password: ${{{{ secrets.{word}_PASSWORD }}}}",
    "  password          = var.{word}_password",
    '{{"event":"request","status":200,"client":"10.{d1}.0.0/16"}}',
    "        {hex2}:{hex2}:{hex2}:{hex2}:{hex2}:{hex2}:{hex2}:{hex2}:{hex2}:{hex2}:",
]
_WORDS = [
    "cache",
    "build",
    "parser",
    "client",
    "router",
    "models",
    "utils",
    "handler",
    "queue",
    "core",
]


def _duration(rng: random.Random) -> str:
    forms = [f"{rng.randint(1, 999)}ms", f"{rng.random() * 60:.2f}s"]
    return rng.choice([*forms, f"{rng.randint(1, 59)}m{rng.randint(0, 59)}s"])


# A fixed range, so the corpus is the same bytes on every run (not "this decade").
_TS_FROM, _TS_TO = datetime(2020, 1, 1), datetime(2026, 1, 1)


def lookalikes(n: int, seed: int = 2, templates: list[str] | None = None) -> Iterator[str]:
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)

    def fill(template: str) -> str:
        values = {
            "sha": fake.sha1(), "sha7": fake.sha1()[:7], "sha12": fake.sha1()[:12],
            "sha256": fake.sha256(), "hex": fake.md5(), "hex2": fake.md5()[:2],
            "uuid": fake.uuid4(), "n": rng.randint(1, 99999), "n2": rng.randint(10, 99),
            "n8": rng.randint(10**7, 10**8 - 1), "d1": rng.randint(1, 9),
            "port": rng.choice([80, 443, 5432, 6379, 8000, 8080, 9090, rng.randint(1024, 65535)]),
            "ver": f"{rng.randint(0, 30)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}",
            "ts": fake.date_time_between(_TS_FROM, _TS_TO).isoformat(timespec="milliseconds")
            + "Z",
            "dur": _duration(rng),
            "pct": rng.randint(0, 100), "word": rng.choice(_WORDS),
        }  # fmt: skip
        return template.format(**values)

    chosen = LOOKALIKE_TEMPLATES if templates is None else templates
    for i in range(n):
        yield fill(chosen[i % len(chosen)])


def hl7_messages(n: int, seed: int = 5) -> Iterator[Record]:
    """`n` synthetic ADT messages (MSH, PID, NK1, PV1), one segment a line, each PHI field
    planted as `HL7 <field>`: the person fields that have no label but their position."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    for i in range(n):
        family, given, kin = fake.last_name(), fake.first_name(), fake.first_name()
        dob = fake.date_of_birth().strftime("%Y%m%d")
        mrn, account = str(rng.randint(10**6, 10**8)), f"A{rng.randint(10**6, 10**8)}"
        street, city = fake.street_address(), fake.city()
        tel, social = phone(rng), ssn(rng)
        lines = [
            f"MSH|^~\\&|EHR|HOSP|LAB|HOSP|2024050112{i % 60:02d}01||ADT^A01|MSG{i:05d}|P|2.5",
            f"PID|1||{mrn}^^^HOSP^MR||{family}^{given}^Q||{dob}|F|||{street}^^{city}^IL^62704"
            f"||{tel}|||S||{account}^^^HOSP^AN|{social}",
            f"NK1|1|{family}^{kin}|SPO|{street}^^{city}^IL^62704|{tel}",
            "PV1|1|I|W^389^1^HOSP||||1234567893^Grant^Alan^^^Dr",
        ]
        planted = [
            ("HL7 PID-3 MRN", mrn), ("HL7 PID-5 NAME", family), ("HL7 PID-5 NAME", given),
            ("HL7 PID-7 DATE", dob), ("HL7 PID-11 ADDR", street), ("HL7 PID-11 ADDR", city),
            ("HL7 PID-13 PHONE", tel), ("HL7 PID-18 ACCT", account), ("HL7 PID-19 SSN", social),
            ("HL7 NK1-2 NAME", kin),
        ]  # fmt: skip
        yield lines, planted


def fhir_patients(n: int, seed: int = 6) -> Iterator[Record]:
    """`n` synthetic FHIR Patients, one-line and pretty-printed in turn: the name parts and
    the identifier value, which no PHI key names, planted as `FHIR <path>`."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    for i in range(n):
        family, given, mrn = fake.last_name(), fake.first_name(), str(rng.randint(10**6, 10**8))
        doc = {
            "resourceType": "Patient",
            "id": f"example-{i}",
            "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": mrn}],
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": rng.choice(["female", "male"]),
        }
        text = json.dumps(doc, indent=2 if i % 2 else None)
        planted = [("FHIR name.family", family), ("FHIR name.given", given)]
        yield text.splitlines(), [*planted, ("FHIR identifier", mrn)]


def x12_claims(n: int, seed: int = 7) -> Iterator[Record]:
    """`n` synthetic 837 subscriber loops, one line each (`~` between segments), with the
    person elements planted as `X12 <segment-element>`."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    for _ in range(n):
        family, given = fake.last_name().upper(), fake.first_name().upper()
        member, dob, social = f"W{rng.randint(10**6, 10**8)}", fake.date_of_birth(), ssn(rng)
        street, city = fake.street_address().upper(), fake.city().upper()
        born = dob.strftime("%Y%m%d")
        line = (
            f"NM1*IL*1*{family}*{given}****MI*{member}~N3*{street}~N4*{city}*IL*62704~"
            f"DMG*D8*{born}*F~REF*SY*{social.replace('-', '')}~"
        )
        planted = [
            ("X12 NM1-03 NAME", family), ("X12 NM1-04 NAME", given), ("X12 NM1-09 ID", member),
            ("X12 N3-01 ADDR", street), ("X12 N4-01 ADDR", city), ("X12 DMG-02 DATE", born),
            ("X12 REF-02 SSN", social.replace("-", "")),
        ]  # fmt: skip
        yield [line], planted


def benchmark_masker(engine: str = "auto") -> Masker:
    """The masker both benchmarks measure: the shipped detectors under a fixed key."""
    return Masker(
        key=b"benchmark-key-0123456789abcdef", detectors=build_default_detectors(), engine=engine
    )
