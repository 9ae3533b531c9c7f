"""Every table of the hub; importing this package registers them all on ``Base.metadata``."""

from platform_hub.models.addressees import (
    AtenaLink,
    KeyCheck,
    Person,
    PersonMerge,
    PersonVersion,
)
from platform_hub.models.base import Base
from platform_hub.models.batches import Batch, BatchChunk, BatchChunkDelivery, BatchResult
from platform_hub.models.clients import Client
from platform_hub.models.counters import RegistryCounter
from platform_hub.models.messages import Delivery, DeliveryStatus, Message
from platform_hub.models.operations import Operation, OperationCheckpoint, OperationLink
from platform_hub.models.ordinance import OrdinanceRule, OrdinanceVersion
from platform_hub.models.transfers import (
    ChainLink,
    Checkpoint,
    Purge,
    PurgePermit,
    TransferRecord,
)
from platform_hub.models.units import Unit, UnitInterface

__all__ = [
    "AtenaLink",
    "Base",
    "Batch",
    "BatchChunk",
    "BatchChunkDelivery",
    "BatchResult",
    "ChainLink",
    "Checkpoint",
    "Client",
    "Delivery",
    "DeliveryStatus",
    "KeyCheck",
    "Message",
    "Operation",
    "OperationCheckpoint",
    "OperationLink",
    "OrdinanceRule",
    "OrdinanceVersion",
    "Person",
    "PersonMerge",
    "PersonVersion",
    "Purge",
    "PurgePermit",
    "RegistryCounter",
    "TransferRecord",
    "Unit",
    "UnitInterface",
]
