"""The HTTP channel against a real local service, and a held command that holds nothing else."""

from __future__ import annotations

import time

import pytest

from tests.integration.approvals.approvals_service import Service, approvals_service
from tests.integration.approvals.conftest import Approvals
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration
__all__ = ["approvals_service"]


def test_http_channel_webhook_service_and_cli(
    approvals: Approvals, approvals_service: Service
) -> None:
    url = approvals_service.url
    channel = (
        f"{{type: http, url: {url}, webhook: {url}/webhook, token_env: APPROVALS_TOKEN, "
        "poll_interval: 200ms}"
    )
    policy = approvals.policy(channel=channel)
    token = approvals_service.store.token
    approvals.extra_env.update(APPROVALS_TOKEN=token, HGATE_APPROVALS_TOKEN=token)
    held = approvals.start(policy)
    request_id = approvals.wait_for_request(held)
    deadline = time.monotonic() + 10
    while not approvals_service.store.webhook and time.monotonic() < deadline:
        time.sleep(0.05)
    (announced,) = approvals_service.store.webhook
    assert f"hgate approve {request_id} --url {url}" in announced["text"]
    assert announced["request"]["id"] == request_id
    listed = approvals.hgate("approvals", "list", "--url", url)
    assert request_id in listed.stdout, listed.stderr
    key = str(approvals.key("bob"))
    result = approvals.hgate("approve", request_id, "--key", key, "--url", url)
    assert result.returncode == 0, result.stderr
    approvals.finish(held)
    assert "deploy-rc=0" in held.output and approvals.marker.exists()
    assert approvals_service.store.outcomes[request_id]["status"] == "approved"
    assert approvals_service.store.authorised == [True, True, True]  # request, decision, outcome
    assert approvals_service.store.webhook_authorisation == [None]
    assert_absent({"token": token}, transcript=held.transcript.read_text(), output=held.output)  # type: ignore[union-attr]
    assert approvals.verify(held.transcript).returncode == 0  # type: ignore[arg-type]


def test_other_commands_and_output_go_on_while_one_is_held(approvals: Approvals) -> None:
    policy = approvals.policy()
    agent_body = (
        "#!/bin/bash\n"
        f"(bash -c 'touch {approvals.marker}'; echo deploy-rc=$?) &\n"
        "sleep 0.5; bash -c 'echo parallel-ran'; wait\n"
    )
    agent = approvals.tmp_path / "parallel.sh"
    agent.write_text(agent_body)
    agent.chmod(0o755)
    held = approvals.start(policy, agent=agent)
    request_id = approvals.wait_for_request(held)
    deadline = time.monotonic() + 10
    while "parallel-ran" not in held.out_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "parallel-ran" in held.out_text(), "a held command held up the others"
    approvals.decide("approve", request_id, "alice")
    approvals.finish(held)
    assert "deploy-rc=0" in held.output
