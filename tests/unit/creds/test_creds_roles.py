"""Role names, the end-time marker `creds gc` reads, and the SCRAM verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hgate.creds.interface import RevocationError
from hgate.creds.postgres_roles import (
    ROLE_PREFIX,
    comment_end,
    drop_role,
    new_role_name,
    role_comment,
    scram_verifier,
)


def test_role_names_are_recognisable_and_random() -> None:
    names = {new_role_name() for _ in range(50)}
    assert len(names) == 50
    assert all(re.fullmatch(ROLE_PREFIX + "[0-9a-f]{12}", n) for n in names)


def test_the_comment_records_the_session_end_in_utc() -> None:
    ends = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    comment = role_comment("20300102T010405Z-abcd", ends)
    assert comment == "hgate session 20300102T010405Z-abcd ends 2030-01-02T01:04:05+00:00"
    assert comment_end(comment) == ends
    assert comment_end("hgate session x ends 2000-01-01T00:00:00") == datetime(
        2000, 1, 1, tzinfo=UTC
    )
    for foreign in (None, "", "created by a human", "hgate session x ends tomorrow"):
        assert comment_end(foreign) is None


def test_the_scram_verifier_is_what_postgres_computes() -> None:
    salt = b"0123456789abcdef"
    verifier = scram_verifier("pencil", salt=salt)
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    assert (
        method == "SCRAM-SHA-256" and iterations_salt == "4096:" + base64.b64encode(salt).decode()
    )
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert keys.split(":")[1] == base64.b64encode(server_key).decode()
    assert "pencil" not in verifier
    assert scram_verifier("pencil") != scram_verifier("pencil")  # a fresh salt each time


@pytest.mark.parametrize("name", ["postgres", "hgate_admin", "hgate_s_", "hgate_s_xyz; DROP"])
def test_only_session_roles_are_ever_dropped(name: str) -> None:
    with pytest.raises(RevocationError, match="not an hgate session role"):
        drop_role("host=127.0.0.1 port=1 user=x", name)
