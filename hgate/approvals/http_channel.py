"""Approvals through HTTP: a webhook announces the request, an approvals service holds it.

    hgate   POST {webhook}                          {"text": "...", "request": {...}}
    hgate   POST {url}/requests                     the request (canonical JSON)
    hgate   GET  {url}/requests/{id}/decisions      [decision, ...] (polled)
    hgate   POST {url}/requests/{id}/outcome        the outcome (best effort)
    people  GET  {url}/requests                     [request, ...] pending
    people  GET  {url}/requests/{id}                the request, to sign its hash
    people  POST {url}/requests/{id}/decisions      a signed decision

The webhook's `text` makes it work as a chat incoming-webhook (Slack, Mattermost,
Teams); the service only stores documents, it decides nothing (docs/approvals.md).
HTTPS only, except plain HTTP to a loopback host; no redirects; bounded reads; every
request ends within `timeout` seconds in total (a service that trickles its answer is
an unreachable one), and a poll for decisions within what is left of its `wait`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from hgate.approvals.decision import SignedDecision
from hgate.approvals.interface import (
    ApprovalError,
    ApprovalOutcome,
    Channel,
    Inbox,
    Received,
)
from hgate.approvals.request import ApprovalRequest, check_request_id
from hgate.endpoints import DeadlineExceeded, cleartext_problem, opener_for, within

MAX_BYTES = 1 << 20
DEFAULT_TIMEOUT = 10.0
_MIN_POLL = 0.5  # a poll's floor, so one near a time-out can still be answered


def check_http_url(url: str, what: str) -> str:
    """`url` without a trailing slash, if it is HTTPS (or plain HTTP to loopback)."""
    if cleartext_problem(url) is None:
        return url.rstrip("/")
    raise ApprovalError(f"{what} must be an https:// URL (plain http only for loopback hosts)")


class HttpChannel(Channel, Inbox):
    """Both sides of the HTTP channel; `token` is sent as a bearer token when set."""

    kind = "http"

    def __init__(
        self,
        url: str,
        *,
        webhook: str | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        interval: float = 1.0,
    ) -> None:
        self.url = check_http_url(url, "the approvals url")
        self.webhook = check_http_url(webhook, "the approvals webhook") if webhook else None
        self._token = token
        self.timeout = timeout
        self.interval = interval
        self.last_error: str | None = None

    def describe(self) -> str:
        return f"approvals service {self.url}"

    def publish(self, request: ApprovalRequest) -> None:
        self._call("POST", f"{self.url}/requests", request.to_dict())
        if self.webhook is not None:
            text = (
                f"hgate: approval needed · {request.summary()}\n"
                f"approve: hgate approve {request.id} --url {self.url} --key KEY\n"
                f"deny:    hgate deny {request.id} --url {self.url} --key KEY --reason ..."
            )
            body = {"text": text, "request": request.to_dict()}
            self._call("POST", self.webhook, body, expect_json=False, token=False)

    def received(self, request: ApprovalRequest, *, wait: float) -> Sequence[Received]:
        deadline = time.monotonic() + wait
        while True:
            left = max(deadline - time.monotonic(), _MIN_POLL)
            try:
                found = self._decisions(request.id, timeout=min(self.timeout, left))
                self.last_error = None
            except ApprovalError as exc:  # a flaky service delays; it never approves
                found, self.last_error = [], exc.message
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(min(self.interval, max(0.0, deadline - time.monotonic())))

    def conclude(self, request: ApprovalRequest, outcome: ApprovalOutcome) -> None:
        with contextlib.suppress(ApprovalError):
            self._call("POST", f"{self._item(request.id)}/outcome", outcome.to_dict())

    def pending(self) -> Sequence[ApprovalRequest]:
        data = self._call("GET", f"{self.url}/requests")
        if not isinstance(data, list):
            raise ApprovalError("the approvals service did not return a list of requests")
        return [ApprovalRequest.from_dict(item) for item in data]

    def fetch(self, request_id: str) -> ApprovalRequest:
        request = ApprovalRequest.from_dict(self._call("GET", self._item(request_id)))
        if request.id != request_id:
            raise ApprovalError(f"the approvals service returned request {request.id}")
        return request

    def submit(self, decision: SignedDecision) -> None:
        self._call("POST", f"{self._item(decision.request_id)}/decisions", decision.to_dict())

    def _item(self, request_id: str) -> str:
        return f"{self.url}/requests/{quote(check_request_id(request_id))}"

    def _decisions(self, request_id: str, *, timeout: float) -> list[Received]:
        data = self._call("GET", f"{self._item(request_id)}/decisions", timeout=timeout)
        if not isinstance(data, list):
            raise ApprovalError("the approvals service did not return a list of decisions")
        found: list[Received] = []
        for item in data:
            key = hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()
            try:
                found.append(Received(key=key, decision=SignedDecision.from_dict(item)))
            except ApprovalError as exc:
                found.append(Received(key=key, decision=None, problem=exc.message))
        return found

    def _call(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        expect_json: bool = True,
        token: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """One bounded request, within `timeout` (else the channel's) seconds in total; the
        service's token never goes to the webhook (a third party)."""
        headers = {"Accept": "application/json", "User-Agent": "hgate-approvals"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        if self._token and token:
            headers["Authorization"] = f"Bearer {self._token}"
        import urllib.error
        import urllib.request

        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        where = urlsplit(url).path or "/"
        seconds = self.timeout if timeout is None else timeout
        try:
            with (
                within(seconds) as per_read,
                opener_for(request.full_url).open(request, timeout=per_read) as response,
            ):
                raw = response.read(MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                raise ApprovalError(f"{method} {where}: not found (HTTP 404)") from exc
            raise ApprovalError(f"{method} {where}: HTTP {exc.code}") from exc
        except DeadlineExceeded as exc:
            raise ApprovalError(f"{method} {where}: no answer within {seconds:.3g}s") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApprovalError(f"{method} {where}: cannot reach the service ({reason})") from exc
        if len(raw) > MAX_BYTES:
            raise ApprovalError(f"{method} {where}: response larger than {MAX_BYTES} bytes")
        if not raw.strip() or not expect_json:
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ApprovalError(f"{method} {where}: the response is not JSON") from exc
