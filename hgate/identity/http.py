"""Bounded HTTP GETs for discovery documents, JWKS and CI token endpoints.

Identity material is only as trustworthy as the channel it came over, so every fetch is
HTTPS (plain HTTP only to a loopback host, for tests and local issuers, and then never
through a proxy), never follows a redirect, reads at most `MAX_BYTES`, and gives up
after one overall deadline. Socket and HTTP errors become IdentityError here, at the
boundary, with no response text in them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from hgate.endpoints import DeadlineExceeded, cleartext_problem, opener_for, within
from hgate.errors import IdentityError

DEFAULT_TIMEOUT = 5.0
MAX_BYTES = 1 << 20
_CHUNK = 16 * 1024


def check_url(url: str, what: str) -> None:
    """Refuse anything but HTTPS, except plain HTTP to a loopback address."""
    if cleartext_problem(url) is not None:
        raise IdentityError(f"{what} must be an https:// URL (plain http only for loopback hosts)")


def fetch_json(
    url: str,
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """GET `url` and parse JSON, within `timeout` seconds overall."""
    import urllib.error
    import urllib.request

    check_url(url, what)
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    try:
        # within: the deadline also covers the status line and headers, which a server can
        # trickle as well (each read inside the per-read time-out)
        with (
            within(timeout) as per_read,
            opener_for(url).open(request, timeout=per_read) as response,
        ):
            body = _read_bounded(response, deadline, what)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise IdentityError(f"{what}: the server answered HTTP {exc.code}") from None
    except DeadlineExceeded as exc:
        raise IdentityError(f"{what}: no answer within {timeout:g}s") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise IdentityError(f"{what}: no answer within {timeout:g}s") from exc
        text = getattr(reason, "strerror", None) or type(reason).__name__
        raise IdentityError(f"{what}: cannot connect ({text})") from exc
    except TimeoutError as exc:
        raise IdentityError(f"{what}: no answer within {timeout:g}s") from exc
    except OSError as exc:
        raise IdentityError(
            f"{what}: connection failed ({exc.strerror or type(exc).__name__})"
        ) from exc
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IdentityError(f"{what}: the response is not JSON") from exc


def _read_bounded(response: Any, deadline: float, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        # read1: what one read() of the socket brings, so a server that drips a byte at a
        # time is checked against the deadline between bytes, not once per 16 KiB
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BYTES:
            raise IdentityError(f"{what}: the response is larger than {MAX_BYTES} bytes")
        chunks.append(chunk)
