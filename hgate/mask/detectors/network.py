"""IP addresses (v4 and v6) and MAC addresses (device identifiers).

Loopback, unspecified and broadcast addresses identify no one and stay; a dotted quad
that is part of a version string (`v1.2.3.4`, `==1.2.3.4`, `1.2.3.4.5`, `1.2.3.4+dfsg`,
a Debian package's `(>= 0.99.7.1)` or `pkg:all 1.2.5.1-2`) is not an address. Six hex
pairs inside a longer colon-separated run (a key or certificate dump) are not a MAC.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from hgate.mask.context import DEBIAN_ARCHITECTURE
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["NetworkDetector"]

_HEX_COLON = frozenset("0123456789abcdefABCDEF:")
_V6_RUN = re.compile(r"[0-9A-Fa-f:]+(?:\.[0-9]{1,3}){0,3}")
_V4_KEEP = frozenset({"0.0.0.0", "255.255.255.255"})
_VERSION_BEFORE = ("v", "V", "=", "@", ".", "-", "/", "~", "^")
_VERSION_WORDS = ("version ", "python ", "release ", "build ")
_VERSION_AFTER = ("+", "~")  # `1.2.3.4+dfsg1`, `1.2.3.4~rc1`: an address never runs on so
# A Debian version's place: a dependency's `(>= `, after `pkg:arch ` or dpkg's `<none> `
# (apt, dpkg.log), or in a `dpkg -l` row; `(1.2.5.1-2)` is one too (apt's `Unpacking`).
_PACKAGE_VERSION_BEFORE = re.compile(
    r"(?:\((?:[<>]=|<<|>>|=) ?"
    rf"|:{DEBIAN_ARCHITECTURE} |<none> )\Z"
)
_REVISION = re.compile(r"-[0-9A-Za-z.+~]*[),]")
_DPKG_ROW = re.compile(r"[uirph][ncufhWti][ R] +\S+ +\Z")  # `ii  pkg  <quad>-2  amd64`
_DPKG_ROW_AFTER = re.compile(rf"(?:-[0-9A-Za-z.+~]+)? +{DEBIAN_ARCHITECTURE}\b")
_MAC_KEEP = frozenset({"ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "ff-ff-ff-ff-ff-ff"})
# A dotted quad, less the two every CI log is full of (`127.x.x.x`, `0.0.0.0`), which the
# validator would refuse anyway: leaving them out of the scan saves a Python call each.
# (A later quad overlapping a refused one starts after a `.`, which the validator also
# refuses, so the findings are the same.)
_OCTET = r"[0-9]{1,3}"
_NONZERO = r"(?:[1-9][0-9]{0,2}|0[0-9]{1,2})"  # an octet other than a lone 0
_V4 = (
    r"\b(?:"
    rf"(?:[1-9]|[1-9][0-9]|1[013-9][0-9]|12[0-689]|[02-9][0-9]{{2}}|0[0-9]{{1,2}})"
    rf"\.{_OCTET}\.{_OCTET}\.{_OCTET}"  # not 127, not a lone 0
    rf"|0\.(?:{_NONZERO}\.{_OCTET}\.{_OCTET}|0\.{_NONZERO}\.{_OCTET}|0\.0\.{_NONZERO})"
    r")\b"
)


_PREFIX = re.compile(r"/([0-9]{1,2})(?![0-9.])")


def _network(text: str, end: int, value: str) -> bool:
    """`10.0.0.0/8`: a network (no host bits set), which is no one's address; a host
    with its prefix (`inet 172.16.0.2/24`) and a single host (`/32`) are still masked."""
    prefix = _PREFIX.match(text, end)
    if prefix is None or not 1 <= int(prefix.group(1)) <= 30:
        return False  # a /31 or /32 is one or two hosts
    try:
        ipaddress.IPv4Network(f"{value}/{prefix.group(1)}")
    except ValueError:  # host bits set
        return False
    return True


class NetworkDetector(CandidateDetector):
    name = "network"
    kinds = frozenset({"IP", "DEVICE_ID"})
    patterns = (
        Pattern(regex=_V4, tag="v4", track_start=True),
        # three colons: no clock time; the validator takes the whole address
        Pattern(
            regex=r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:", tag="v6", track_start=True
        ),
        Pattern(regex=r"\b[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\b", tag="mac"),
        Pattern(regex=r"\b[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}\b", tag="mac"),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        value = text[start:end]
        if tag == "v4":
            if self._ipv4(text, start, end, value):
                yield Span(start=start, end=end, kind="IP", confidence=0.9, detector=self.name)
        elif tag == "v6":
            while start > 0 and text[start - 1] in _HEX_COLON:
                start -= 1
            whole = _V6_RUN.match(text, start)
            end = whole.end() if whole else end
            if self._ipv6(text, start, end, text[start:end]):
                yield Span(start=start, end=end, kind="IP", confidence=0.9, detector=self.name)
        elif self._mac(text, start, end, value):
            yield Span(start=start, end=end, kind="DEVICE_ID", confidence=0.8, detector=self.name)

    @staticmethod
    def _ipv4(text: str, start: int, end: int, value: str) -> bool:
        if value in _V4_KEEP or value.startswith("127."):
            return False
        if any((len(o) > 1 and o[0] == "0") or int(o) > 255 for o in value.split(".")):
            return False
        before = text[start - 1 : start]
        if before == "-" and text[start - 2 : start - 1].isdigit():
            before = ""  # `10.0.0.1-10.0.0.9`: a range, not `pkg-1.2.3.4`
        if before in _VERSION_BEFORE or (
            text[end : end + 1] == "." and text[end + 1 : end + 2].isdigit()
        ):
            return False
        if text[end : end + 1] in _VERSION_AFTER and text[end + 1 : end + 2].isalnum():
            return False
        head = text[max(0, start - 24) : start]
        if _PACKAGE_VERSION_BEFORE.search(head) or (
            _DPKG_ROW.fullmatch(text, 0, start) and _DPKG_ROW_AFTER.match(text, end)
        ):
            return False
        if before == "(" and _REVISION.match(text, end):
            return False
        if _network(text, end, value):
            return False
        return not text[max(0, start - 8) : start].lower().endswith(_VERSION_WORDS)

    @staticmethod
    def _mac(text: str, start: int, end: int, value: str) -> bool:
        separator = value[2]
        if text[start - 1 : start] == separator or text[end : end + 1] == separator:
            return False  # one stretch of a longer hex dump (`openssl x509 -text`)
        if value.lower() in _MAC_KEEP:
            return False
        return any(c.isalpha() for c in value) or len(set(value)) > 3

    @staticmethod
    def _ipv6(text: str, start: int, end: int, value: str) -> bool:
        if text[start - 1 : start].isalnum() or text[end : end + 1].isalnum():
            return False
        try:
            address = ipaddress.IPv6Address(value)
        except ValueError:
            return False
        if address.is_loopback or address.is_unspecified:
            return False
        groups = [g for g in value.split(":") if g]
        return len(groups) >= 3 or any(len(g) >= 3 for g in groups)
