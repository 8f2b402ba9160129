"""The HTTP approvals channel against a service that answers too slowly or too much.

Every request ends within the channel's `timeout` in total, and a poll for decisions
within what is left of its `wait`, so a held command is settled at its own time-out
(docs/approvals.md), never held by a service that trickles its answer."""

from __future__ import annotations

import time

import pytest

from hgate.approvals import ApprovalError
from hgate.approvals.http_channel import HttpChannel
from tests.integration.sinks.trickle import MODES, trickling
from tests.unit.approvals.conftest import make_request, person

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", MODES)
def test_publish_ends_within_the_channel_timeout(mode: str) -> None:
    request = make_request([person("alice").approver])
    with trickling(mode, status=201) as server:
        channel = HttpChannel(server.url, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(ApprovalError) as caught:
            channel.publish(request)
        took = time.monotonic() - started
    assert took < 3.0, f"publish took {took:.1f}s with timeout 1s"
    expected = "larger than" if mode == "huge" else "no answer within 1s"
    assert expected in caught.value.message


@pytest.mark.parametrize("mode", ["headers", "chunked"])
def test_a_poll_ends_within_its_wait(mode: str) -> None:
    """The session asks for what arrived within `wait`; a trickling service only delays."""
    request = make_request([person("alice").approver])
    with trickling(mode) as server:
        channel = HttpChannel(server.url)  # the default timeout, 10 s, is longer than wait
        started = time.monotonic()
        found = channel.received(request, wait=1.0)
        took = time.monotonic() - started
    assert list(found) == []
    assert took < 3.0, f"a poll with wait 1s took {took:.1f}s"
    assert "no answer within 1s" in (channel.last_error or "")
