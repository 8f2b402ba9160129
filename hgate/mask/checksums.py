"""Check digits of the identifiers that carry one: they turn a shape into a finding.

A shape alone (nine digits, seventeen letters) also fits build numbers and hashes; a
check digit that verifies cuts the false positives by a factor of ten or more.
"""

from __future__ import annotations

__all__ = ["dea_valid", "iban_valid", "luhn_valid", "npi_valid", "vin_valid"]


def luhn_valid(digits: str) -> bool:
    """The Luhn mod-10 check used by payment cards (and, with a prefix, by NPIs)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def npi_valid(npi: str) -> bool:
    """NPI: ten digits starting 1 or 2, Luhn over the card-issuer prefix 80840 + NPI."""
    return len(npi) == 10 and npi.isdigit() and npi[0] in "12" and luhn_valid("80840" + npi)


def dea_valid(dea: str) -> bool:
    """DEA registration: 2 letters + 7 digits; (d1+d3+d5) + 2*(d2+d4+d6) ends in d7."""
    if len(dea) != 9 or not dea[:2].isalpha() or not dea[2:].isdigit():
        return False
    d = [int(c) for c in dea[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


_VIN_VALUES = {
    **{str(n): n for n in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_valid(vin: str) -> bool:
    """North-American VIN: 17 chars without I, O, Q; position 9 is a mod-11 check."""
    if len(vin) != 17:
        return False
    try:
        total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    except KeyError:
        return False
    check = total % 11
    return vin[8] == ("X" if check == 10 else str(check))


def iban_valid(iban: str) -> bool:
    """IBAN: move the first four chars to the end, letters to numbers, mod 97 == 1."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    if not (compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1
