"""Every table of the hub; importing this package registers them all on ``Base.metadata``."""

from platform_hub.models.accounts import Account, AccountRole, ConsoleSession
from platform_hub.models.addressees import (
    AtenaLink,
    KeyCheck,
    Person,
    PersonMerge,
    PersonMergeProposal,
    PersonVersion,
)
from platform_hub.models.base import Base
from platform_hub.models.batches import Batch, BatchChunk, BatchChunkDelivery, BatchResult, BatchStatus
from platform_hub.models.clients import Client, ClientAssertionUse
from platform_hub.models.counters import RegistryCounter
from platform_hub.models.messages import Delivery, DeliveryStatus, Message, MessageStatus
from platform_hub.models.network import NetworkDuplicate, NetworkInquiry, NetworkProvision
from platform_hub.models.operations import Operation, OperationCheckpoint, OperationLink, OperationOutcome
from platform_hub.models.ordinance import OrdinanceRule, OrdinanceVersion, RuleKind
from platform_hub.models.transfers import (
    JUKI_NET_UNIT,
    ChainLink,
    Checkpoint,
    Purge,
    PurgePermit,
    TransferOutcome,
    TransferPattern,
    TransferRecord,
)
from platform_hub.models.units import Binding, FileDelivery, FileEncoding, Unit, UnitInterface, UnitMode
from platform_hub.models.verification import VerificationRun, VerificationState

__all__ = [
    "JUKI_NET_UNIT",
    "Account",
    "AccountRole",
    "AtenaLink",
    "Base",
    "Batch",
    "BatchChunk",
    "BatchChunkDelivery",
    "BatchResult",
    "BatchStatus",
    "Binding",
    "ChainLink",
    "Checkpoint",
    "Client",
    "ClientAssertionUse",
    "ConsoleSession",
    "Delivery",
    "DeliveryStatus",
    "FileDelivery",
    "FileEncoding",
    "KeyCheck",
    "Message",
    "MessageStatus",
    "NetworkDuplicate",
    "NetworkInquiry",
    "NetworkProvision",
    "Operation",
    "OperationCheckpoint",
    "OperationLink",
    "OperationOutcome",
    "OrdinanceRule",
    "OrdinanceVersion",
    "Person",
    "PersonMerge",
    "PersonMergeProposal",
    "PersonVersion",
    "Purge",
    "PurgePermit",
    "RegistryCounter",
    "RuleKind",
    "TransferOutcome",
    "TransferPattern",
    "TransferRecord",
    "Unit",
    "UnitInterface",
    "UnitMode",
    "VerificationRun",
    "VerificationState",
]
