"""An agent that prints every secret it was given: none reaches stdout or the transcript."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from tests.fixtures.sshd_server import SshdServer
from tests.integration.creds.conftest import CredsGate
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration

LEAKY_AGENT = """\
leak="{leak}"
key="$HGATE_SSH_DIR/id_ed25519"
printf '%s' "$PGPASSWORD" > "$leak/password"
printf '%s' "$DATABASE_URL" > "$leak/url"
cp "$key" "$leak/key"
echo "password: $PGPASSWORD"
echo "url: $DATABASE_URL"
echo "conninfo: host=$PGHOST port=$PGPORT user=$PGUSER password=$PGPASSWORD dbname=$PGDATABASE"
echo "admin: ${{HGATE_ADMIN_DSN:-absent}} ca: ${{HGATE_SSH_CA_KEY:-absent}}"
cat "$key"
echo "body: $(grep -v -- ----- "$key" | tr -d '\\n')"
echo "b64: $(base64 -w0 < "$key")"
echo "pw-b64: $(printf '%s' "$PGPASSWORD" | base64 -w0)"
psql -X -A -t -c "SELECT 'role ' || current_user"
"""


def test_issued_secrets_never_appear_in_stdout_or_the_transcript(
    creds_gate: CredsGate, agent: Callable[[str], list[str]], sshd_server: SshdServer
) -> None:
    leak = creds_gate.gate.tmp_path / "leak"
    leak.mkdir()
    database = creds_gate.database_grant().replace(
        "connection_limit: 4\n", "connection_limit: 4\n        env: both\n"
    )
    grants = database + creds_gate.ssh_grant(sshd_server)
    run = creds_gate.run(agent(LEAKY_AGENT.format(leak=leak)), grants, sshd=sshd_server)
    assert run.returncode == 0, run.stderr
    password = (leak / "password").read_text()
    url = (leak / "url").read_text()
    key = (leak / "key").read_text()
    body = "".join(line for line in key.splitlines() if not line.startswith("-----"))
    assert len(password) >= 24 and url.startswith("postgresql://hgate_s_") and len(body) > 200
    secrets = {
        "password": password,
        "url": url,
        "key body": body,
        "key base64": base64.b64encode(key.encode()).decode(),
        "password base64": base64.b64encode(password.encode()).decode(),
        "admin password": creds_gate.pg.password,
        "CA key body": "".join(sshd_server.ca_private_key.splitlines()[1:-1]),
    }
    secrets |= {f"key line {i}": line for i, line in enumerate(key.splitlines()[1:-1])}
    stdout = run.stdout.decode(errors="replace")
    transcript = run.transcript.read_text()
    assert_absent(secrets, stdout=stdout, transcript=transcript, stderr=run.stderr)
    assert "[PG_PASSWORD:" in stdout and "[SSH_PRIVATE_KEY:" in stdout
    assert "admin: absent ca: absent" in stdout
    assert "role hgate_s_" in stdout  # the role name is not a secret: it is in the record
    assert creds_gate.gate.verify(run.transcript).returncode == 0
