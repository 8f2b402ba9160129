"""Mediated connections: a PostgreSQL v3 wire-protocol proxy that guards and masks.

    agent ──► startup (SCRAM, throwaway password) ──► frontend: SqlGuard per statement
                                                            │  (blocked: server fails it)
    agent ◄── backend: DataRows / COPY / notices masked ◄───┴── PostgreSQL (session role)

The proxy never imports the session or CLI layers: the session builds a
`ProxyContext` (guard, masking, limits, an event callback) and runs a `ProxyServer`.
"""

from hgate.proxy.catalog import Catalog
from hgate.proxy.context import ProxyContext, ProxySettings, StatementEvent
from hgate.proxy.masking import ResultMasker
from hgate.proxy.messages import ProtocolViolation
from hgate.proxy.server import ProxyServer
from hgate.proxy.startup import AgentLogin, StartupRefused
from hgate.proxy.upstream import SSL_MODES, SslMode, Upstream, UpstreamError, connect

__all__ = [
    "SSL_MODES",
    "AgentLogin",
    "Catalog",
    "ProtocolViolation",
    "ProxyContext",
    "ProxyServer",
    "ProxySettings",
    "ResultMasker",
    "SslMode",
    "StartupRefused",
    "StatementEvent",
    "Upstream",
    "UpstreamError",
    "connect",
]
