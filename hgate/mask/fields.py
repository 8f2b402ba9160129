"""The vocabulary of PHI field names: which key or column name means which kind.

Used wherever a value is identified by its label rather than its shape: JSON keys,
key=value pairs, `Label: value` prose, and CSV/TSV/psql/Markdown table headers. Names
are compared after normalising (lower case, separators -> `_`), and a known prefix
(`patient_`, `home_`, ...) may precede the field (`patient_first_name`).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "FIELD_KINDS",
    "FIELD_REGEX",
    "FIELD_REGEXES",
    "PERSON_NAME_FIELDS",
    "field_kind",
    "key_start",
    "normalise",
]

FIELD_KINDS: dict[str, str] = {}
_TABLE = {
    "NAME": "first_name firstname fname given_name last_name lastname lname surname "
    "family_name full_name fullname patient_name middle_name maiden_name mother_name "
    "father_name guardian_name contact_name emergency_contact spouse_name physician "
    "attending provider_name nurse_name name",
    "DATE": "dob date_of_birth birth_date birthdate birthday admission_date admit_date "
    "admitted discharge_date discharged death_date date_of_death deceased_date "
    "visit_date service_date date_of_service appointment_date surgery_date",
    "SSN": "ssn social_security social_security_number ss_number",
    "MRN": "mrn medical_record medical_record_number patient_id chart_number record_number",
    "MEMBER_ID": "member_id member_number subscriber_id policy_number group_number "
    "insurance_id beneficiary_id medicaid_id health_plan_id plan_member_id",
    "MBI": "mbi medicare_id medicare_number hicn",
    "ACCOUNT": "account_number account_no acct acct_no acct_num billing_account",
    "LICENSE": "license_number licence_number license_no licence_no certificate_number "
    "cert_number medical_license",
    "DRIVERS_LICENSE": "drivers_license driver_license drivers_licence dl_number dln",
    "PLATE": "license_plate licence_plate plate_number plate",
    "DEVICE_ID": "device_id serial serial_number serial_no udi imei mac_address device_serial",
    "ADDRESS": "address street street_address address1 address2 address_line1 "
    "address_line2 addr home_address mailing_address city county residence",
    "ZIP": "zip zipcode zip_code postal_code postcode",
    "PHONE": "phone phone_number telephone tel mobile cell cell_phone fax fax_number "
    "home_phone work_phone contact_phone",
    "EMAIL": "email e_mail email_address",
    "NPI": "npi npi_number provider_npi",
    "DEA": "dea dea_number",
    "VIN": "vin",
    "URL": "homepage website personal_url",
    "IP": "ip ip_address client_ip",
    "SECRET": "password passwd pwd secret client_secret api_key private_key access_token "
    "auth_token",
}
for _kind, _names in _TABLE.items():
    for _name in _names.split():
        FIELD_KINDS[_name] = _kind

# A bare `name` is masked only when its value looks like a person's name.
PERSON_NAME_FIELDS = frozenset({"name"})
_PREFIXES = ("patient_", "pt_", "home_", "work_", "member_", "primary_", "billing_")
_SEP = re.compile(r"[\s.\-]+")


@lru_cache(maxsize=8192)
def normalise(label: str) -> str:
    return _SEP.sub("_", label.strip().strip("\"'`").lower())


@lru_cache(maxsize=8192)
def field_kind(label: str) -> str | None:
    """The kind a field named `label` holds, or None if it is not a PHI field."""
    name = normalise(label)
    kind = FIELD_KINDS.get(name)
    if kind is None:
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                return FIELD_KINDS.get(name[len(prefix) :])
    return kind


def _alternation(names: list[str]) -> str:
    return "(?:" + "|".join(name.replace("_", r"[_ .-]?") for name in names) + ")"


_NAMES = sorted(FIELD_KINDS, key=len, reverse=True)


# Candidate regex text (Hyperscan- and re-compatible, no left boundary: Hyperscan's
# leftmost-start mode cannot afford one on an alternation this size). Matchers extend
# the hit to the whole key and judge that with `field_kind`.
FIELD_REGEX = _alternation(_NAMES)
# The same, in chunks small enough for one Hyperscan expression each.
FIELD_REGEXES = tuple(_alternation(_NAMES[i : i + 50]) for i in range(0, len(_NAMES), 50))
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def key_start(text: str, start: int) -> int:
    """Where the key that a FIELD_REGEX hit at `start` really begins (`patient_` + `dob`)."""
    while start > 0 and text[start - 1] in _KEY_CHARS:
        start -= 1
    return start
