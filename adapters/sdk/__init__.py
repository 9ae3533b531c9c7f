"""The adapter SDK: what a business system needs to join the hub, and nobody should write twice.

Envelopes and dict payloads (``messages``, ``payload``), the hub's XSDs compiled once (``catalog``),
OAuth2 client credentials (``auth``), registration, heartbeats, handlers and sending (``unit``),
idempotent receiving on MSGID (``store``), and the addressee registry (``registry``).
"""

from adapters.sdk.auth import Credentials, TokenSource
from adapters.sdk.catalog import InterfaceCatalog
from adapters.sdk.errors import LinkageError
from adapters.sdk.messages import Received
from adapters.sdk.payload import Payload
from adapters.sdk.registry import Registry
from adapters.sdk.store import UnitStore
from adapters.sdk.unit import Reply, Unit

__all__ = [
    "Credentials",
    "InterfaceCatalog",
    "LinkageError",
    "Payload",
    "Received",
    "Registry",
    "Reply",
    "TokenSource",
    "Unit",
    "UnitStore",
]
