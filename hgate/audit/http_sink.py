"""An HTTP collector: each segment POSTed as JSON with a bearer token (docs/sinks.md).

The collector contract makes retries safe: posting a segment it already holds, byte for
byte, is a no-op (200); a different segment under the same number is refused (409),
which the shipper treats as final. Connection errors, timeouts, 408, 425, 429 and every
5xx are retried with back-off by the shipper, and so is an exchange that does not end
within `timeout` seconds in total (a collector that trickles its answer) or whose answer
exceeds `MAX_ANSWER` bytes. A redirect is never followed: urllib would turn the POST into
a bodiless GET carrying the bearer token (to any host, even over plain http) and take its
200 for "stored". Only the standard library is used.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hgate.audit.segments import Segment, SegmentRejected, SegmentStore
from hgate.endpoints import DeadlineExceeded, cleartext_problem, opener_for, within
from hgate.errors import SinkError

if TYPE_CHECKING:
    import urllib.error
    import urllib.request

__all__ = ["HttpSegmentStore", "check_collector_url"]

_RETRYABLE = frozenset({408, 425, 429})  # and every 5xx
_MAX_ERROR_TEXT = 200
MAX_ANSWER = 64 * 1024  # the contract's answers are a few bytes; more is not a collector


def check_collector_url(url: str) -> str | None:
    """Why `url` cannot take a bearer token (None if it can): https, or http to loopback."""
    return cleartext_problem(url)


def _retryable(status: int) -> bool:
    return status in _RETRYABLE or 500 <= status <= 599


class HttpSegmentStore(SegmentStore):
    """POSTs `{session_id, segment, first_seq, last_seq, prev, chain_head, final, lines}`."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._token = token
        self._timeout = timeout

    @property
    def location(self) -> str:
        return self._url

    def prepare(self, session_id: str) -> None:
        problem = check_collector_url(self._url)
        if problem is not None:
            raise SinkError(f"HTTP transcript sink: {problem}")
        if not self._token:
            raise SinkError(f"HTTP transcript sink {self._url} has an empty bearer token")

    def put(self, segment: Segment) -> None:
        import http.client  # lazily: start-up stays fast without an HTTP sink
        import urllib.error
        import urllib.request

        body = json.dumps(segment.to_json(), ensure_ascii=False, separators=(",", ":"))
        request = urllib.request.Request(
            self._url,
            data=body.encode("utf-8"),
            method="POST",
            headers={
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json",
                "User-Agent": "hgate",
            },
        )
        where = self._url  # the shipper adds the segment number and the attempts
        try:
            with within(self._timeout) as timeout:
                status, detail, size = _post(request, timeout)
        except DeadlineExceeded as exc:
            raise SinkError(f"collector {where} did not answer within {self._timeout:g}s") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)  # refused, reset, cut answer
            raise SinkError(f"cannot reach collector {where}: {reason}") from exc
        if size > MAX_ANSWER:
            raise SinkError(f"collector {where} answered more than {MAX_ANSWER} bytes")
        if detail is not None:
            message = f"collector {where} answered {status}: {detail}"
            if _retryable(status):
                raise SinkError(message)
            raise SegmentRejected(message)
        if status not in (200, 201):
            raise SinkError(f"collector {where} answered {status}, expected 200 or 201")


def _post(request: urllib.request.Request, timeout: float) -> tuple[int, str | None, int]:
    """(status, the error text of a 3xx-5xx or None, the answer's size up to MAX_ANSWER + 1);
    the answer is read to its end, as an answer cut short is not a stored segment."""
    import urllib.error

    try:
        with opener_for(request.full_url).open(request, timeout=timeout) as response:
            return response.status, None, len(response.read(MAX_ANSWER + 1))
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, _error_text(exc), 0


def _error_text(exc: urllib.error.HTTPError) -> str:
    """The collector's `error` member, shortened; never echoes the request."""
    try:
        raw = exc.read(4096)
        payload: Any = json.loads(raw)
        text = payload.get("error") if isinstance(payload, dict) else None
    except (OSError, ValueError):
        text = None
    return str(text or exc.reason)[:_MAX_ERROR_TEXT]
