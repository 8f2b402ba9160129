"""A verified identity that stays valid for the whole job: re-requested, never stale.

A CI token lives minutes; a job may run longer, and later steps (credentials) need a
valid token again. The provider keeps a verified token only while it is valid for at
least `margin` more seconds, then fetches and verifies a new one. A source that cannot
mint (a variable) then yields the same, expired token, and verification refuses it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from hgate.identity.oidc import VerifiedIdentity
from hgate.identity.sources import RawToken, TokenSource

DEFAULT_MARGIN = 30.0

Verifier = Callable[[RawToken], VerifiedIdentity]


class TokenProvider:
    """Fetch-and-verify on demand; the cache never outlives the token's `exp`."""

    def __init__(
        self,
        source: TokenSource,
        verify: Verifier,
        *,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._verify = verify
        self._margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._current: tuple[VerifiedIdentity, RawToken] | None = None
        self.fetches = 0
        self.secrets: list[tuple[str, str]] = []  # every secret seen, for the mask set

    @property
    def description(self) -> str:
        return self._source.description

    def current(self) -> tuple[VerifiedIdentity, RawToken]:
        """A verified identity valid for at least `margin` more seconds (or just fetched)."""
        with self._lock:
            if self._current is not None:
                identity, _ = self._current
                if self._clock() + self._margin < identity.expires_at:
                    return self._current
                self._current = None
            raw = self._source.fetch()
            self.fetches += 1
            self.secrets.extend(s for s in raw.secrets if s not in self.secrets)
            self._current = (self._verify(raw), raw)
            return self._current
