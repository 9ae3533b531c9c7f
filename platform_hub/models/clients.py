from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, UTCDateTime


class Client(Base):
    """An OAuth2 client: a unit's adapter, an auditor, an integrator or an administrator."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 of a 256-bit random secret: a slow KDF buys nothing against guessing such a secret.
    secret_hash: Mapped[str] = mapped_column(String(64))
    # The secret itself, AES-GCM under the key file's data keys (client_secret_jwt checks an HS256
    # assertion with it): set for secrets made since migration 0011, None before (basic auth only).
    secret_key_id: Mapped[str | None] = mapped_column(String(16))
    secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClientAssertionUse(Base):
    """A client assertion's jti, kept until the assertion expires: it is refused if it comes again
    (RFC 7523 §3 7.). In the database, so every hub replica sees it at once."""

    __tablename__ = "client_assertions"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
