"""Which URLs hgate will send a token, a request or evidence to.

HTTPS always; plain HTTP only to this machine (tests, a collector on the runner itself),
where nothing crosses a network. One rule for identity, sinks and approvals alike.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cleartext_problem(url: str) -> str | None:
    """Why `url` is not acceptable (None when it is): https, or http to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return f"{url!r} would send credentials in clear text; use https"
    return None
