"""The adapter SDK: what a business system needs to join the hub, and nobody should write twice.

Envelopes and dict payloads (``messages``, ``payload``), the hub's XSDs compiled once (``catalog``),
OAuth2 client credentials (``auth``), registration, heartbeats, handlers and sending (``unit``),
idempotent receiving on MSGID (``store``), the addressee registry (``registry``), and the check digits
of 宛名番号 and 個人番号 (from the protocol, as the hub checks them).
"""

from platform_hub.protocol.numbers import (
    atena_number,
    check_atena_number,
    check_my_number,
    is_valid_atena_number,
    is_valid_my_number,
)
from platform_hub_sdk.auth import Credentials, TokenMethod, TokenSource
from platform_hub_sdk.catalog import InterfaceCatalog
from platform_hub_sdk.errors import LinkageError
from platform_hub_sdk.messages import Received
from platform_hub_sdk.network import Network
from platform_hub_sdk.payload import Payload
from platform_hub_sdk.registry import Registry
from platform_hub_sdk.store import UnitStore
from platform_hub_sdk.unit import Reply, Unit

__all__ = [
    "Credentials",
    "InterfaceCatalog",
    "LinkageError",
    "Network",
    "Payload",
    "Received",
    "Registry",
    "Reply",
    "TokenMethod",
    "TokenSource",
    "Unit",
    "UnitStore",
    "atena_number",
    "check_atena_number",
    "check_my_number",
    "is_valid_atena_number",
    "is_valid_my_number",
]
