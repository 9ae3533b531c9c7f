from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from platform_hub.models import Binding, FileDelivery, FileEncoding, UnitMode

InterfaceId = str
SoapFaults = Literal["contract", "wsi"]
CharacterSet = Literal["mj", "jisx0213"]


class AdapterRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_code: str = Field(pattern=r"^[0-9A-Z]{3}$", description="業務ユニット code, X(3)")
    name: str = Field(min_length=1, max_length=200)
    organ: str = Field(min_length=1, max_length=100, description="機関: 市長, 教育委員会 …")
    base_url: AnyHttpUrl = Field(description="the hub POSTs messages to {base_url}/linkage/messages")
    provides: list[InterfaceId] = Field(default_factory=list, max_length=200)
    subscribes: list[InterfaceId] = Field(default_factory=list, max_length=200)
    purposes: list[str] = Field(
        default_factory=list, max_length=200, description="事務 (purpose codes) this unit serves"
    )
    mode: UnitMode = Field(
        default=UnitMode.PRODUCTION, description="test units send and get only MSGMode 1 messages"
    )
    soap_faults: SoapFaults = Field(
        default="contract",
        description="contract: a SOAP Fault has the HTTP status of its error code; wsi: every Fault is "
        "HTTP 500 (WS-I Basic Profile R1126), for toolkits such as suds that read a fault only then",
    )
    characters: CharacterSet = Field(
        default="mj",
        description="mj: the unit holds the 行政事務標準文字; jisx0213: its system holds JIS X 0213 only, "
        "so the hub falls back each N item it sends the unit (docs/characters.md)",
    )
    rest: list[InterfaceId] = Field(
        default_factory=list,
        max_length=200,
        description="the queries it provides and the notifications it subscribes to that the hub sends it "
        "by the Digital Agency's REST/JSON binding (its API at {base_url}/da/…); the others by SOAP",
    )

    @field_validator("unit_code")
    @classmethod
    def _not_the_hubs(cls, code: str) -> str:
        if code == "000":
            raise ValueError("000 is the hub's own code (its acknowledgements, the registry)")
        return code

    @field_validator("base_url")
    @classmethod
    def _fits(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(url)) > 500:
            raise ValueError("base_url is longer than 500 characters")
        return url


class AdapterUpdate(BaseModel):
    """What may change of a registered unit without registering it anew: how the hub names and
    reaches it. Its code, organ, 事務 and interfaces are what its scopes and the ordinance's decisions
    rest on; those stay as registered."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    base_url: AnyHttpUrl | None = Field(default=None, description="as at the registration")
    mode: UnitMode | None = None
    soap_faults: SoapFaults | None = None
    characters: CharacterSet | None = None

    @field_validator("base_url")
    @classmethod
    def _fits(cls, url: AnyHttpUrl | None) -> AnyHttpUrl | None:
        return None if url is None else AdapterRegistration._fits(url)

    def stored(self) -> dict[str, str]:
        """The columns that change, as the registration stores them."""
        changes = {key: str(value) for key, value in self.model_dump(exclude_none=True).items()}
        if "base_url" in changes:
            changes["base_url"] = changes["base_url"].rstrip("/")
        return changes


class FileLinkage(BaseModel):
    """How a unit exchanges one batch interface as CSV files."""

    model_config = ConfigDict(extra="forbid")

    encoding: FileEncoding = Field(
        default=FileEncoding.UTF_8_SIG,
        description="utf-8 (read with or without a BOM, written without), utf-8-sig (written with a "
        "BOM) or cp932 (Shift_JIS, Windows)",
    )
    delivery: FileDelivery = Field(
        default=FileDelivery.MESSAGE,
        description="for a subscriber: message (POSTed to it chunk by chunk) or file (a CSV file in "
        "its outbox, over HTTP or SFTP)",
    )


class FileLinkageOut(FileLinkage):
    interface_id: str
    relation: str


class InterfaceBinding(BaseModel):
    """How the hub sends a unit one interface."""

    model_config = ConfigDict(extra="forbid")

    binding: Binding = Field(
        description="soap: POSTed to {base_url}/linkage/messages; rest: the unit's REST API at "
        "{base_url}/da/{provider}/v{version}/{interface}, with a token of the hub's to introspect"
    )


class SshKeys(BaseModel):
    """The unit's SSH public keys for the SFTP drop box, in authorized_keys form (one a line)."""

    model_config = ConfigDict(extra="forbid")

    keys: str = Field(max_length=20_000, description="empty: the unit has no drop box")


class AdapterOut(BaseModel):
    unit_code: str
    name: str
    organ: str
    base_url: str
    mode: UnitMode
    soap_faults: str
    characters: str = "mj"
    provides: list[str]
    subscribes: list[str]
    purposes: list[str]
    file_linkage: list[FileLinkageOut] = Field(default_factory=list)
    rest: list[str] = Field(default_factory=list, description="interfaces the hub sends it by REST")
    sftp: bool = Field(default=False, description="the unit has SSH keys for the SFTP drop box")
    enabled: bool
    last_heartbeat_at: datetime | None
    registered_at: datetime


class AdapterCredentials(AdapterOut):
    """The registration answer: the unit's client credentials, shown only this once."""

    client_id: str
    client_secret: str
