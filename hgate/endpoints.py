"""Which URLs hgate will send a token, a request or evidence to.

HTTPS always; plain HTTP only to this machine (tests, a collector on the runner itself),
where nothing crosses a network. One rule for identity, sinks and approvals alike.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import urllib.request


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


def opener_for(url: str) -> urllib.request.OpenerDirector:
    """urllib's opener for `url`: never follows a redirect (a 3xx surfaces as an
    HTTPError), and to a loopback host never goes through a proxy.

    urllib would resend the Authorization header to wherever `Location` points, any host
    and plain http included, and turn a POST into a bodiless GET whose 200 looks like
    success. Plain http is allowed to loopback only because it stays on this machine;
    `http_proxy` would carry it to another host, which could read and answer it."""
    return _opener(is_loopback(urlsplit(url).hostname or ""))


@functools.cache
def _opener(direct: bool) -> urllib.request.OpenerDirector:
    """Made on first use: urllib.request costs ~15 ms to import."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    if direct:
        return urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(_NoRedirect)
