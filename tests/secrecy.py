"""Assertions about secrets that never print the secret, even when they fail.

pytest's assertion rewriting shows both operands of a failing `assert x not in y`, so a
test that checks for a leak would itself leak into the CI log. These helpers are not
rewritten (they are not test modules) and name only what leaked and where.
"""

from __future__ import annotations

from collections.abc import Mapping


def assert_absent(secrets: Mapping[str, str | bytes], **places: str | bytes) -> None:
    """Fail if any named secret occurs in any named place; the message names both, no value."""
    found = []
    for secret_name, value in secrets.items():
        for place_name, text in places.items():
            needle: str | bytes = value
            if isinstance(text, bytes) and isinstance(value, str):
                needle = value.encode()
            elif isinstance(text, str) and isinstance(value, bytes):
                needle = value.decode(errors="replace")
            if needle in text:  # type: ignore[operator]
                found.append(f"{secret_name} in {place_name}")
    if found:
        raise AssertionError("leaked: " + ", ".join(found))
